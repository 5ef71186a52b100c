"""Documented registry behaviour imitated by a proxy in front of a real registry.

Each behaviour is a handler wrapper over a started :class:`FaultProxy` (it stacks, as
``reset_connections`` does) and cites where the behaviour is documented. An
:class:`UploadLedger` watches the upload sessions the client opens through the proxy, so a test
can say that none was left open.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence
from urllib.parse import urlsplit

from support.faults import FaultProxy, Reply

if TYPE_CHECKING:
    from support.tokenserver import TokenServer

MiB = 1024 * 1024
GHCR_PATCH_LIMIT = 4 * MiB
_SESSION = re.compile(r"/v2/.+/blobs/uploads/[^/?]+")


def _handler_base(proxy: FaultProxy) -> type:
    assert proxy._loop is not None, "start the proxy first"
    return proxy._loop.server.RequestHandlerClass  # type: ignore[no-any-return]


def refuse_large_patches(proxy: FaultProxy, limit: int = GHCR_PATCH_LIMIT) -> list[int]:
    """GHCR: a PATCH whose body is over 4 MiB is refused, never forwarded. Source: the answer quoted in
    oras-project/rust-oci-client#35 and wasmCloud/wash#268 — 416 REQUESTED_RANGE_NOT_SATISFIABLE "the
    request body is too large and exceeds the maximum permissible limit of 4.00MiB". Returns the sizes
    of the PATCHes refused."""
    refused: list[int] = []
    base = _handler_base(proxy)
    body = json.dumps({"errors": [{"code": "REQUESTED_RANGE_NOT_SATISFIABLE", "message":
                       "the request body is too large and exceeds the maximum permissible limit of 4.00MiB"}]}).encode()

    class Limited(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.command != "PATCH" or length <= limit:
                return base.forward(self)  # type: ignore[no-any-return]
            self.rfile.read(length)
            refused.append(length)
            self.send(Reply(416, (("Content-Type", "application/json"),), body))

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Limited  # type: ignore[union-attr]
    return refused


def record_patch_sizes(proxy: FaultProxy) -> list[int]:
    """The body size of every PATCH the proxy forwards, in order (stacks like the other wrappers)."""
    sizes: list[int] = []
    base = _handler_base(proxy)

    class Recording(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            if self.command == "PATCH":
                sizes.append(int(self.headers.get("Content-Length") or 0))
            return base.forward(self)  # type: ignore[no-any-return]

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Recording  # type: ignore[union-attr]
    return sizes


@dataclass
class UploadLedger:
    """Upload sessions seen through a proxy: opened by a 202 Location, closed by a 2xx PUT or a DELETE."""

    opened: set[str] = field(default_factory=set)
    closed: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)  # every DELETE path, whatever it named
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def left_open(self) -> set[str]:
        with self._lock:
            return self.opened - self.closed


def watch_uploads(proxy: FaultProxy) -> UploadLedger:
    """Wrap the proxy's handler so every upload session it carries is accounted for."""
    ledger = UploadLedger()
    base = _handler_base(proxy)

    class Watching(base):  # type: ignore[misc, valid-type]
        def send(self, reply: Reply) -> None:
            path = urlsplit(self.path).path
            with ledger._lock:
                if self.command in ("POST", "PATCH") and reply.status == 202 and reply.header("Location"):
                    ledger.opened.add(urlsplit(reply.header("Location") or "").path)
                if self.command == "PUT" and 200 <= reply.status < 300 and _SESSION.fullmatch(path):
                    ledger.closed.add(path)
                if self.command == "DELETE":
                    ledger.deleted.append(path)
                    ledger.closed.add(path)
            base.send(self, reply)

    proxy._loop.server.RequestHandlerClass = Watching  # type: ignore[union-attr]
    return ledger


def honour_one_scope(tokens: "TokenServer", keep: str = "push") -> None:
    """Token services that grant only one of the `scope`s of a request, so a mount token (push on the
    target, pull on the source) lacks one and the mount is refused 401 insufficient_scope. Harbor 1.1
    handled only one scope (goharbor/harbor#2411, "just one is handled by token service ... the mount
    operation can not be handled properly"): imitated with keep="push", the target's. GitLab's
    /jwt/auth kept only the second, the source's pull (estesp/manifest-tool#53): keep="pull". docker
    falls back to uploading the blob (moby/moby#20387)."""
    original = tokens._answer

    def answer(user: Optional[str], scopes: frozenset[str], fields: Sequence[str]) -> tuple[dict[str, Any], str]:
        if len(scopes) > 1:
            pushes = frozenset(s for s in scopes if s.endswith("push"))
            scopes = pushes if keep == "push" else scopes - pushes
        return original(user, scopes, fields)

    tokens._answer = answer  # type: ignore[method-assign]
