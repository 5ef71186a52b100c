"""TLS and plain HTTP on one port in front of a plain-HTTP server on 127.0.0.1, told apart by the
first byte (0x16 opens a TLS handshake). For the docker CLI's `manifest` commands: on a registry
it counts as insecure (127.0.0.0/8 by default) `create` reads over https and will not fall back
to http (docker/cli#1631, #2347), while `push` picks the http endpoint. Bytes are relayed unchanged."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path


class TLSFront:
    def __init__(self, upstream: str, certificate: Path, key: Path) -> None:
        self.upstream = upstream  # "127.0.0.1:PORT" of the plain server
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certificate), str(key))
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, name="tls-front", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            first = conn.recv(1, socket.MSG_PEEK)
            secure = self.context.wrap_socket(conn, server_side=True) if first == b"\x16" else conn
        except (ssl.SSLError, OSError):
            conn.close()
            return
        host, _, port = self.upstream.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=30)
            # Small writes both ways: without this, Nagle and delayed ACKs hold each answer ~40 ms.
            for sock in (secure, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            secure.close()
            return
        # One thread per direction: a TLS socket may hold decrypted bytes select() does not see.
        back = threading.Thread(target=_copy, args=(upstream, secure), daemon=True)
        back.start()
        _copy(secure, upstream)
        back.join(timeout=30)
        secure.close()
        upstream.close()

    def __enter__(self) -> TLSFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass
