"""Progress on a terminal for long pushes, drawn from the engine's events with tqdm.

tqdm is imported here only, and only when something will be drawn: validate, and pushes whose
stderr is not a terminal, never load it.
"""

from __future__ import annotations

import os
import threading
from typing import IO, Any, Optional

from manifest_spec.cli.output import diagnostic
from manifest_spec.events import BlobCopied, Event, MembersResolved, TagWritten, Warned


def listener_for(stream: IO[str], *, quiet: bool = False, output_format: str = "text") -> Optional[Bars]:
    """A listener drawing progress on `stream`, or None where nothing should be drawn: `stream` is
    not a terminal (CI logs, pipes), --quiet, or --output json (a program reads the result)."""
    if quiet or output_format == "json" or not _is_terminal(stream):
        return None
    # https://no-color.org: any non-empty NO_COLOR means no colour at all.
    return Bars(stream, colour=not os.environ.get("NO_COLOR"))


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class Bars:
    """One bar per spec's members (n/N) and per blob being copied (size, rate, ETA); a line per tag.

    Called from worker threads: one lock keeps tqdm's redraws whole. A bar closes when its work
    is complete; `close()` ends the others (after an error, so the next line starts clean) and
    silences the listener: a failed run does not wait for requests still in flight, whose events
    would otherwise draw after the error line.
    """

    def __init__(self, stream: IO[str], *, colour: bool) -> None:
        self.stream = stream
        self.colour = "green" if colour else None
        self.lock = threading.Lock()
        self.bars: dict[tuple[str, str], Any] = {}
        self.closed = False

    def __call__(self, event: Event) -> None:
        with self.lock:
            if self.closed:
                return
            if isinstance(event, MembersResolved):
                self._advance(("members", event.spec), event.done, event.total, f"{event.spec}: members resolved", unit="")
            elif isinstance(event, BlobCopied):
                self._advance(("blob", event.digest), event.done, event.total, f"copying {event.digest[7:19]}", unit="B")
            elif isinstance(event, TagWritten):
                from tqdm import tqdm

                tqdm.write(f"{event.spec}: tag {event.tag} {event.status}", file=self.stream)

    def _advance(self, key: tuple[str, str], done: int, total: Optional[int], label: str, unit: str) -> None:
        bar = self.bars.get(key)
        if bar is None:
            from tqdm import tqdm

            bar = self.bars[key] = tqdm(
                total=total, desc=label, file=self.stream, colour=self.colour, leave=True, dynamic_ncols=True,
                # Blobs in bytes with k/M/G (powers of 1000, as registries and `docker pull` count);
                # members as a plain count.
                unit=unit or " members", unit_scale=bool(unit), unit_divisor=1000,
                bar_format=None if unit else "{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}",
            )
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()
            del self.bars[key]

    def close(self) -> None:
        """End every bar still open (a push that failed half-way) and draw nothing more."""
        with self.lock:
            self.closed = True
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


class PushListener:
    """The listener of `push`: each `Warned` a `warning:` line on stderr, always; the rest drawn by
    `bars` when there are any (listener_for). `close()` ends the bars."""

    def __init__(self, bars: Optional[Bars]) -> None:
        self.bars = bars

    def __call__(self, event: Event) -> None:
        if isinstance(event, Warned):
            diagnostic(f"warning: {event.message}")
        elif self.bars is not None:
            self.bars(event)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.close()  # bars left by a failure end before the error line
