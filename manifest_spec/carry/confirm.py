"""A 404 for something this run has just seen is a passing fault until it is confirmed.

Registries behind load balancers and caches answer a transient 404 now and then (a replica that
has not seen a write yet, a cache miss that reports "unknown"). Where the run has just seen the
thing — a repository it read manifests from, a tag its tag list showed — one 404 is not an
absence: it is read again, and if it stays missing that is an error, never "nothing to carry".
Where the run writes over what it reads (the target's referrers index and cosign tags), an
absence is believed only when a second, independent read agrees (the tag list does not show it).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, TypeVar

from manifest_spec.errors import RegistryError
from manifest_spec.registry import deadline

log = logging.getLogger(__name__)
T = TypeVar("T")

# Pauses before each read again: 4 reads over 1.75 s in all (see README, Deadlines).
PAUSES = (0.25, 0.5, 1.0)


def again_while_missing(read: Callable[[], Optional[T]], what: str, timeout: float,
                        pauses: tuple[float, ...] = PAUSES) -> tuple[Optional[T], int]:
    """`read()` until it finds something, pausing between reads, all within one retry window of
    `timeout` (registry/deadline.py); (what it found or None, reads made)."""
    with deadline.operation(timeout):
        found = read()
        reads = 1
        for pause in pauses:
            if found is not None or not deadline.may_try_again(pause):
                break
            log.debug("%s: not found although just seen; reading again in %.2f s", what, pause)
            time.sleep(pause)
            found = read()
            reads += 1
    return found, reads


def missing_after_seen(what: str, host: str, reads: int, seen: str) -> RegistryError:
    """The error for a thing that stayed missing although the run had just seen it."""
    return RegistryError(
        f"{what}: {host} answered 404 (not found) {reads} times in a row, but {seen}; expected it to be there "
        "(a registry fault or a concurrent delete); try again",
        status=404,
    )
