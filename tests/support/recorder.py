"""A recording HTTP proxy in front of the real registry: which requests did a command send?

    with RecordingProxy(registry.host) as proxy:
        ... point the spec at proxy.host instead of registry.host ...
    assert proxy.writes() == []

Every request is forwarded unchanged (body included) and its method and path recorded. The
registry answers with absolute ``Location`` URLs naming its own host:port; those are rewritten
to the proxy's so uploads come back through it. The proxy listens on 127.0.0.1 only, stops at
the end of the ``with`` block, and stops itself after ``lifetime`` seconds in any case.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Optional

from support.loopback import Loopback

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "content-length", "host"}


class RecordingProxy:
    """Threaded forwarding proxy; `host` replaces the registry's host:port in image references."""

    def __init__(self, upstream: str, *, lifetime: float = 120.0) -> None:
        self.upstream = upstream  # "127.0.0.1:PORT" of the real registry
        self.lifetime = lifetime
        self.host = ""
        self._seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._loop: Optional[Loopback] = None
        self._timer: Optional[threading.Timer] = None

    # -- what was seen -------------------------------------------------------------------------
    @property
    def seen(self) -> list[tuple[str, str]]:
        """(method, path without query) of every request, in arrival order."""
        with self._lock:
            return list(self._seen)

    def writes(self) -> list[tuple[str, str]]:
        """The requests that could change the registry: PUT, POST, PATCH, DELETE."""
        return [(m, p) for m, p in self.seen if m in WRITE_METHODS]

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def forward(self) -> None:
                with proxy._lock:
                    proxy._seen.append((self.command, self.path.split("?")[0]))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    status, answer_headers, data = answer.status, answer.getheaders(), answer.read()
                finally:
                    conn.close()
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() == "location":
                        value = value.replace(f"//{proxy.upstream}/", f"//{proxy.host}/")
                    if name.lower() not in _HOP_BY_HOP | {"date", "server"}:
                        self.send_header(name, value)
                length_header = {k.lower(): v for k, v in answer_headers}.get("content-length")
                # A HEAD answer announces the length of the body a GET would have had.
                self.send_header("Content-Length", length_header if self.command == "HEAD" and length_header else str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

        self._loop = Loopback(Handler, "recording-proxy")
        self.host = self._loop.host
        # Bounded: a test that forgets to stop it (or hangs) does not leave it serving forever.
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        self._timer = None
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
