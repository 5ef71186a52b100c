"""Requests in flight: at most `jobs` at a time per registry host, each distinct read sent once.

The engine's logic (resolve a member, place a child, move tags) is plain sequential code that
runs in its own thread and waits on futures; the requests themselves run in one bounded pool
per host. A logic thread never holds a request slot while it waits, so nothing can deadlock,
and whatever is independent is in flight together.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Hashable, Optional, TypeVar

from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import ClientPool, RegistryClient

T = TypeVar("T")


class Scheduler:
    """Per-host bounded request pools over one ClientPool; memoised reads shared by every spec."""

    def __init__(self, pool: ClientPool, jobs: int) -> None:
        self.pool = pool
        self.jobs = max(1, jobs)
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._memo: dict[Hashable, Future[object]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def client(self, reference: Reference) -> RegistryClient:
        return self.pool(reference)

    def submit(self, reference: Reference, call: Callable[[RegistryClient], T], key: Optional[Hashable] = None) -> Future[T]:
        """Run `call(client)` in the reference's host pool; with a `key`, once per run (the same
        read for two members or two specs is one request, its answer shared)."""
        host = reference.api_host
        with self._lock:
            if self._closed:  # a late callback (a first push's mounts after a failed run): nothing more goes out
                refused: Future[T] = Future()
                refused.cancel()
                return refused
            if key is not None and key in self._memo:
                return self._memo[key]  # type: ignore[return-value]
            executor = self._executors.get(host)
            if executor is None:
                executor = self._executors[host] = ThreadPoolExecutor(self.jobs, thread_name_prefix=f"req-{host}")
            client = self.pool(reference)
            future = executor.submit(call, client)
            if key is not None:
                self._memo[key] = future  # type: ignore[assignment]
            return future

    def close(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
