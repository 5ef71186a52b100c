"""An HTTP handler served on 127.0.0.1 from a daemon thread: the test servers' common part."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Optional


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops the connects of a client sending 30 requests at once;
    # each dropped SYN then costs a 1 s retransmission.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a reset, a closed pipe) is no server error: no traceback on stderr
        for it (the docker CLI and buildah drop keep-alive connections so in every benchmark run)."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Loopback:
    """Serving from construction until stop(); `host` is "127.0.0.1:PORT" (a free port)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Served:
    """For a test server class: `serve()` in start(), and stop() / `with` end it."""

    host: str
    _loop: Optional[Loopback]

    def serve(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._loop = Loopback(handler, name)
        self.host = self._loop.host

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.stop()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
