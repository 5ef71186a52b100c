"""One exchange, one verdict: work that several threads wait for is done once, and its end is theirs
(and when_all: a step run once several futures are done, from their callbacks, no thread waiting).

Concurrent requests to a registry all get the same first 401 and all want the same token. Without
this each would, in turn, repeat the whole exchange (with its retries) after the previous one
failed: with a token server that never answers, a push of four members took 89 s at `--timeout 2`.
Here the first caller runs the work; callers for the same key meanwhile wait for it and get its
result or its error at once. A failure is the verdict for the rest of the run: a later caller for
the key gets the same error without trying again (the work already spent its retries).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable, Generic, Hashable, Sequence, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Per key: at most one run of the work at a time; its waiters share its end; failures are kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, Future[T]] = {}
        self._failed: dict[Hashable, BaseException] = {}
        self.runs = 0  # how many times work was actually run (for tests and --debug)

    def failure(self, key: Hashable) -> BaseException | None:
        with self._lock:
            return self._failed.get(key)

    def fail(self, key: Hashable, error: BaseException) -> None:
        """Record a verdict found elsewhere (the realm itself did not answer for another key)."""
        with self._lock:
            self._failed.setdefault(key, error)

    def run(self, key: Hashable, work: Callable[[], T]) -> T:
        with self._lock:
            failed = self._failed.get(key)
            if failed is not None:
                raise failed
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
                self.runs += 1
        if not leader:
            return flight.result()  # the leader's value, or its error raised here
        try:
            value = work()
        except BaseException as e:
            with self._lock:
                self._failed[key] = e
                del self._flights[key]
            flight.set_exception(e)
            raise
        with self._lock:
            del self._flights[key]
        flight.set_result(value)
        return value


def when_all(steps: Sequence[Future[Any]], then: Callable[[], None]) -> None:
    """Call `then` once every one of `steps` is done (at once when there are none), from the last one's callback."""
    if not steps:
        then()
        return
    left = [len(steps)]
    lock = threading.Lock()

    def one_done(_: object) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            then()

    for step in steps:
        step.add_done_callback(one_done)
