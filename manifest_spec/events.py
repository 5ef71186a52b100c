"""What long work reports while it runs: plain values a reporter may render (the core never prints).

The push engine sends these to a `Listener`; `progress.py` draws them on a terminal. A listener
must be cheap and thread-safe: it is called from the engine's worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union


@dataclass(frozen=True)
class MembersResolved:
    """`done` of `total` spec members are read and verified (`spec` is the spec file's name)."""

    spec: str
    done: int
    total: int


@dataclass(frozen=True)
class BlobCopied:
    """Bytes of one blob streamed so far; `total` is None when the size is not known."""

    digest: str
    done: int
    total: int | None


@dataclass(frozen=True)
class TagWritten:
    """One tag of a spec's index was written (or found unchanged)."""

    spec: str
    tag: str
    status: str


@dataclass(frozen=True)
class Warned:
    """Something the run goes on without, worth a line: a member left out (--ignore-missing)."""

    spec: str
    message: str


Event = Union[MembersResolved, BlobCopied, TagWritten, Warned]
Listener = Callable[[Event], None]
