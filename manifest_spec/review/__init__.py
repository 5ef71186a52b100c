"""Reviewing pushes without writing: plan, lock, describe, to-spec."""
