"""Signatures, attestations and SBOMs: discovery, planning and reading what travels with members."""
