"""An overall deadline for each HTTP request, not just for each read.

A socket timeout restarts with every byte, so a peer sending one byte a second never trips it.
Here every request a connection sends is given a deadline (the timeout, plus the timeout again
for each MiB of body sent or received); one watchdog thread shuts the socket down when it
passes, which ends any blocked read or write at once. The request then fails (or is retried)
like any broken connection, and `Attempts.expired` says why.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MIB = 1024 * 1024


@dataclass
class Attempts:
    """What happened to one logical request: how often urllib3 retried it, whether a deadline ended it."""

    timeout: float
    retries: int = 0
    expired: bool = False

    @property
    def tries(self) -> int:
        return 1 + self.retries  # a 401 answered with credentials is the same try, not another


_local = threading.local()

# A logical operation (one request with its retries, a read repeated because its body broke off, an
# upload started over, a token fetched for it) starts no new try later than this many timeouts
# after it began; each try ends within the timeout (plus the timeout per MiB moved). So one
# operation takes at most (WINDOW + 1) x timeout, plus one try answered after a token: README, Deadlines.
WINDOW = 2.0


@contextmanager
def operation(timeout: float) -> Iterator[None]:
    """Open a retry window on this thread; nested (a token fetch inside a request) it is the outer's."""
    if getattr(_local, "window_end", None) is not None:
        yield
        return
    _local.window_end = time.monotonic() + WINDOW * timeout
    try:
        yield
    finally:
        _local.window_end = None


def worst_case(timeout: float, rounds: int, mib: float = 0.0) -> float:
    """The README's bound on a whole push: `rounds` batches of requests sent one after another (each
    batch's requests in parallel), each operation within (WINDOW + 2) x timeout (its window, its last
    try, and one more try answered after a token), plus the timeout per MiB moved."""
    return rounds * (WINDOW + 2) * timeout + mib * timeout


def may_try_again(wait: float) -> bool:
    """Whether another try, after waiting `wait` seconds, still starts within this operation's window."""
    end = getattr(_local, "window_end", None)
    return end is None or time.monotonic() + wait < end


@contextmanager
def attempt(timeout: float) -> Iterator[Attempts]:
    """Count the tries of one request on this thread; nested (a token fetched inside a request's
    401 hook) the outer request's count is back when the inner one ends."""
    previous = current()
    _local.attempts = Attempts(timeout)
    try:
        with operation(timeout):
            yield _local.attempts
    finally:
        _local.attempts = previous


def current() -> Optional[Attempts]:
    """The request this thread is sending."""
    return getattr(_local, "attempts", None)


def note_retry() -> None:
    """urllib3 is about to send the current request again."""
    attempts = current()
    if attempts is not None:
        attempts.retries += 1


class _Watchdog:
    """One thread for every deadline: a heap of (when, sequence number, connection)."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Any]] = []
        self.wake = threading.Condition()
        self.counter = itertools.count()
        self.thread: Optional[threading.Thread] = None

    def arm(self, conn: Any, seconds: float) -> None:
        with self.wake:
            conn.deadline_at = time.monotonic() + seconds
            conn.deadline_seq = next(self.counter)
            heapq.heappush(self.heap, (conn.deadline_at, conn.deadline_seq, conn))
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="manifest-spec-deadlines", daemon=True)
                self.thread.start()
            # Wake the watchdog only when this deadline is now the nearest one: with the same timeout
            # for every request that is rare, so 32 requests in flight do not wake it 32 times.
            if self.heap[0][1] == conn.deadline_seq:
                self.wake.notify()

    def extend(self, conn: Any, seconds: float) -> None:
        """Push a deadline further (a big body that keeps moving); the heap entry is re-checked on expiry."""
        with self.wake:
            if getattr(conn, "deadline_seq", None) is not None:
                conn.deadline_at += seconds

    @staticmethod
    def disarm(conn: Any) -> None:
        conn.deadline_seq = None

    def run(self) -> None:
        while True:
            with self.wake:
                while not self.heap:
                    self.wake.wait()
                when, seq, conn = self.heap[0]
                now = time.monotonic()
                if when > now:
                    self.wake.wait(when - now)
                    continue
                heapq.heappop(self.heap)
                if getattr(conn, "deadline_seq", None) != seq:
                    continue  # answered in time, or sent again since (and armed anew)
                if conn.deadline_at > now:  # extended meanwhile
                    heapq.heappush(self.heap, (conn.deadline_at, seq, conn))
                    continue
                conn.deadline_seq = None
                # http.client hands a `Connection: close` socket over to the response (conn.sock
                # becomes None): the socket noted when the request went out is the one to shut.
                attempts = getattr(conn, "deadline_attempts", None)
                sock = getattr(conn, "sock", None) or getattr(conn, "deadline_sock", None)
            if sock is None or sock.fileno() < 0:
                continue  # already closed (a reset try dropped it): nothing waits on it, nothing expired
            if attempts is not None:
                attempts.expired = True  # before the shutdown: the woken reader reads it at once
            try:
                # socket.socket's shutdown, not SSLSocket's: wake the blocked reader, leave TLS state alone.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile: nothing is waiting on it


WATCHDOG = _Watchdog()


class _Deadlined:
    """Mixed into urllib3's connections: each request sent arms the deadline, on this thread's Attempts."""

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        attempts = current()
        if attempts is not None:
            size = len(body) if isinstance(body, (bytes, str)) else 0
            self.deadline_attempts = attempts
            WATCHDOG.arm(self, attempts.timeout * (1 + size / MIB))
        super().request(method, url, body=body, headers=headers, **kwargs)  # type: ignore[misc]
        self.deadline_sock = getattr(self, "sock", None)


class DeadlinedHTTPConnection(_Deadlined, HTTPConnection):
    pass


class DeadlinedHTTPSConnection(_Deadlined, HTTPSConnection):
    pass


class _Released:
    """Mixed into urllib3's pools: a connection back in the pool has answered; its deadline ends."""

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            WATCHDOG.disarm(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class DeadlinedHTTPPool(_Released, HTTPConnectionPool):
    ConnectionCls = DeadlinedHTTPConnection


class DeadlinedHTTPSPool(_Released, HTTPSConnectionPool):
    ConnectionCls = DeadlinedHTTPSConnection


POOL_CLASSES = {"http": DeadlinedHTTPPool, "https": DeadlinedHTTPSPool}


def extend_for_body(response: Any, received: int) -> None:
    """A streamed body that keeps coming earns its time: the timeout again per MiB received."""
    attempts, conn = getattr(response, "attempts", None), getattr(getattr(response, "raw", None), "connection", None)
    if attempts is not None and conn is not None and received:
        WATCHDOG.extend(conn, attempts.timeout * received / MIB)


def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic()), for a log line."""
    return (time.monotonic() - started) * 1000
