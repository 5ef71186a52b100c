"""What to carry along with members from elsewhere (`--no-referrers`, `--referrers-type`): apart from
the carry itself, so a push whose members all live in its target repository never imports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CarrySettings:
    """`--no-referrers` (enabled=False) and `--referrers-type` (types; empty: all)."""

    enabled: bool = True
    types: frozenset[str] = frozenset()
