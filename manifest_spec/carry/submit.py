"""How the carry's reads are sent: a `Submit` runs one request later and returns its future.

The push engine's `Scheduler.submit` is one (bounded per host, shared by every spec of a run).
The carry's reads are issued in rounds — everything whose inputs are known goes out at once —
and only then waited for.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Callable, Protocol, TypeVar

from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import RegistryClient

T = TypeVar("T")


class Submit(Protocol):
    """Run one request, later, with the client for `where`."""

    def __call__(self, where: Reference, call: Callable[[RegistryClient], T], /) -> Future[T]: ...


def later(submit: Submit, where: Reference, read: Callable[..., T], *args: Any) -> Future[T]:
    """`read(client, *args)` through `submit`."""
    return submit(where, lambda client: read(client, *args))
