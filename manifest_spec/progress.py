"""Progress on a terminal for long pushes, drawn from the engine's events (stub: see issue 10)."""

from __future__ import annotations

from typing import IO, Optional

from manifest_spec.events import Listener


def listener_for(stream: IO[str], *, quiet: bool = False, output_format: str = "text") -> Optional[Listener]:
    """A listener drawing progress on `stream`, or None where nothing should be drawn."""
    return None
