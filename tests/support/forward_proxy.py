"""A forward proxy on 127.0.0.1, as HTTP_PROXY / HTTPS_PROXY name one: absolute-URI requests for
http targets, CONNECT tunnels for https targets (RFC 9110 §9.3.6), both to loopback only.

    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        ...
    assert proxy.seen == [("CONNECT", "127.0.0.1:5000")]

`password` set: every request must carry `Proxy-Authorization: Basic user:password`, else 407.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Optional
from urllib.parse import urlsplit

from support.loopback import Loopback, Served

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade", "transfer-encoding", "content-length"}


class ForwardProxy(Served):
    def __init__(self, user: str = "", password: str = "") -> None:
        self.credentials = f"{user}:{password}" if password else ""
        self.seen: list[tuple[str, str]] = []  # (method, request target) of every request, in order
        self.lock = threading.Lock()
        self.host = ""
        self._loop: Optional[Loopback] = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> ForwardProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def allowed(self) -> bool:
                with proxy.lock:
                    proxy.seen.append((self.command, self.path))
                wanted = "Basic " + base64.b64encode(proxy.credentials.encode()).decode() if proxy.credentials else ""
                if wanted and self.headers.get("Proxy-Authorization") != wanted:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                return True

            def do_CONNECT(self) -> None:
                host, _, port = self.path.rpartition(":")
                if not self.allowed():
                    return
                assert host in ("127.0.0.1", "localhost"), host  # loopback only
                upstream = socket.create_connection((host, int(port)), timeout=30)
                self.send_response(200, "Connection established")
                self.end_headers()
                _pipe(self.connection, upstream)
                self.close_connection = True

            def forward(self) -> None:
                if not self.allowed():
                    return
                target = urlsplit(self.path)
                assert target.scheme == "http" and target.hostname in ("127.0.0.1", "localhost"), self.path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection(target.netloc, timeout=30)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    conn.request(self.command, path, body=body, headers=headers)
                    answer = conn.getresponse()
                    status, answer_headers, data = answer.status, answer.getheaders(), answer.read()
                finally:
                    conn.close()
                self.send_response(status)
                for name, value in answer_headers:
                    if name.lower() not in _HOP_BY_HOP | {"date", "server"}:
                        self.send_header(name, value)
                length_header = dict((k.lower(), v) for k, v in answer_headers).get("content-length")
                self.send_header("Content-Length", length_header if self.command == "HEAD" and length_header else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

        self.serve(Handler, "forward-proxy")
        return self

    def __enter__(self) -> ForwardProxy:
        return self.start()


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
