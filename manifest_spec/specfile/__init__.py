"""Spec files: YAML with positions, the spec, schema validation. Never talks to a registry."""
