"""How the carry's reads are sent: a `Submit` runs one request later and returns its future.

The push engine's `Scheduler.submit` is one (bounded per host, shared by every spec of a run);
`Requests` is one for callers without the engine. Reads are issued in rounds — everything
whose inputs are known goes out at once — and only then waited for.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Protocol, TypeVar

from manifest_spec.reference import Reference
from manifest_spec.registry import RegistryClient

T = TypeVar("T")
MAX_WORKERS = 8  # requests in flight without the engine: the client's connection pool size


class Submit(Protocol):
    """Run one request, later, with the client for `where`."""

    def __call__(self, where: Reference, call: Callable[[RegistryClient], T], /) -> Future[T]: ...


class Requests:
    """A Submit for callers without the engine: a pool of MAX_WORKERS over `client_for`."""

    def __init__(self, client_for: Callable[[Reference], RegistryClient]) -> None:
        self.client_for = client_for
        self.pool = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="referrers")

    def __call__(self, where: Reference, call: Callable[[RegistryClient], T], /) -> Future[T]:
        return self.pool.submit(call, self.client_for(where))

    def __enter__(self) -> Requests:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True)


def later(submit: Submit, where: Reference, read: Callable[..., T], *args: Any) -> Future[T]:
    """`read(client, *args)` through `submit`."""
    return submit(where, lambda client: read(client, *args))
