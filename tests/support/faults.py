"""A fault-injecting HTTP proxy in front of the real registry.

The real registry never serves a wrong digest, a schema 1 manifest or a truncated body on
demand; this proxy forwards every request to it unchanged and lets a test alter chosen
answers. Each fault is a function ``Reply -> Reply`` applied to the registry's real answer::

    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", r"/manifests/sha256:", corrupt_body())
        ... talk to proxy.host instead of registry.host ...

The ``Host`` header is forwarded as sent, so the registry's absolute ``Location`` headers point
back at the proxy and uploads go through it too. Responses are sent HTTP/1.0 style (the
connection closes after each one), which lets a fault end a body early or leave out its length.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Callable, Optional

from support.loopback import Loopback, Served

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "content-length"}
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"


@dataclass(frozen=True)
class Reply:
    """An answer on its way back to the client; faults return a changed copy."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    declared_length: Optional[int] = None  # Content-Length to announce; None: len(body)
    close_delimited: bool = False  # announce no length at all: the body ends when the connection closes
    drip: float = 0.0  # seconds between single bytes of the body (0: all at once)

    def header(self, name: str) -> Optional[str]:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def with_header(self, name: str, value: Optional[str]) -> Reply:
        """Set (or with None remove) one header."""
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=kept + (((name, value),) if value is not None else ()))


Fault = Callable[[Reply], Reply]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- faults ------------------------------------------------------------------------------------


def corrupt_body() -> Fault:
    """Flip one byte in the middle; the length and the registry's digest header stay as they were."""

    def fault(reply: Reply) -> Reply:
        body = bytearray(reply.body)
        middle = len(body) // 2
        body[middle] = ord(" ") if body[middle] != ord(" ") else ord("\t")
        return replace(reply, body=bytes(body))

    return fault


def set_header(name: str, value: Optional[str]) -> Fault:
    """Replace a header (e.g. a wrong Docker-Content-Digest), or remove it with None."""
    return lambda reply: reply.with_header(name, value)


def serve(body: bytes, content_type: str, *, status: int = 200, digest_header: bool = True) -> Fault:
    """Answer with other content, headers made consistent with it (as a registry would send it)."""

    def fault(reply: Reply) -> Reply:
        changed = replace(reply, status=status, body=body).with_header("Content-Type", content_type)
        return changed.with_header("Docker-Content-Digest", _digest(body) if digest_header else None)

    return fault


def error(status: int, code: str, message: str, detail: object = None) -> Fault:
    """Answer with an OCI distribution error body: {"errors": [{"code", "message", "detail"}]}."""
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()
    return serve(body, "application/json; charset=utf-8", status=status, digest_header=False)


def truncate(keep: int) -> Fault:
    """Announce the full Content-Length but send only the first `keep` bytes, then close."""
    return lambda reply: replace(reply, body=reply.body[:keep], declared_length=len(reply.body))


def redirect(status: int, location: str) -> Fault:
    """Answer with a redirect (301, 302, 303, 307, 308) to `location` and an empty body."""
    return lambda reply: Reply(status, (("Location", location),), b"")


def drip(seconds_per_byte: float) -> Fault:
    """Send the body one byte at a time: a socket timeout restarts with every byte, a deadline does not."""
    return lambda reply: replace(reply, drip=seconds_per_byte)


def late(seconds: float) -> Fault:
    """An answer held back `seconds`: a registry slow on one request (all on loopback)."""

    def fault(reply: Reply) -> Reply:
        time.sleep(seconds)
        return reply

    return fault


def without_length() -> Fault:
    """Send the body with no Content-Length, delimited by closing the connection."""
    return lambda reply: replace(reply, close_delimited=True)


def upload_session_instead(registry_url: str, proxy_host: str, repository: str) -> Fault:
    """What a registry without cross-repository mounts does (use with forward=False on the mount
    POST): open a real upload session in `repository` and answer 202 with its Location."""

    def fault(reply: Reply) -> Reply:
        import requests

        answer = requests.post(f"{registry_url}/v2/{repository}/blobs/uploads/", headers={"Host": proxy_host}, timeout=10)
        assert answer.status_code == 202, answer.status_code
        kept = tuple((k, v) for k, v in answer.headers.items() if k.lower() in ("location", "docker-upload-uuid", "range"))
        return Reply(202, kept, b"")

    return fault


def schema1_manifest(name: str, tag: str) -> bytes:
    """A (fake-signed) Docker schema 1 manifest, the shape registries served before 2016."""
    return json.dumps(
        {
            "schemaVersion": 1,
            "name": name,
            "tag": tag,
            "architecture": "amd64",
            "fsLayers": [{"blobSum": _digest(b"layer")}],
            "history": [{"v1Compatibility": json.dumps({"id": "0" * 64, "architecture": "amd64", "os": "linux"})}],
            "signatures": [],
        },
        indent=3,
    ).encode()


# -- the proxy ---------------------------------------------------------------------------------


def merged_headers(items: object) -> dict[str, str]:
    """Request headers to forward, a header sent on several lines joined into one (RFC 9110 §5.3):
    Go clients (buildah, crane, docker) send each Accept media type on a line of its own, and a
    plain dict would keep only the last (the registry then answers in that one type, or refuses)."""
    headers: dict[str, str] = {}
    for name, value in items:  # type: ignore[attr-defined]
        if name.lower() not in _HOP_BY_HOP:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@dataclass(frozen=True)
class Timing:
    method: str
    path: str  # without the query
    start: float  # time.monotonic() when the request arrived ...
    end: float  # ... and when its answer was sent


def sequential_depth(timings: list[Timing]) -> int:
    """The longest chain of requests each sent after the previous one was answered: the round
    trips a client had to wait for one after another, whatever ran beside them."""
    ordered = sorted(timings, key=lambda t: t.start)
    depth: list[int] = []
    for i, timing in enumerate(ordered):
        before = [depth[j] for j in range(i) if ordered[j].end <= timing.start]
        depth.append(1 + max(before, default=0))
    return max(depth, default=0)


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    fault: Fault
    times: Optional[int]
    forward: bool
    hits: int = 0


@dataclass
class FaultProxy(Served):
    """A threaded proxy on 127.0.0.1; `host` replaces the registry's host in references."""

    upstream: str  # "127.0.0.1:PORT" of the real registry
    rules: list[_Rule] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request
    seen_with_query: list[tuple[str, str]] = field(default_factory=list)  # the same, the query kept
    delay: float = 0.0  # seconds added to every request: a registry across the internet, not on loopback
    keep_alive: bool = False  # HTTP/1.1 connections kept open, as a real registry does (set before start)
    timings: list[Timing] = field(default_factory=list)  # when each request arrived and was answered
    host: str = ""
    _loop: Optional[Loopback] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(
        self, method: str, path_pattern: str, fault: Fault, *, times: Optional[int] = None, forward: bool = True
    ) -> _Rule:
        """Apply `fault` to answers of `method` requests whose path (with query) matches; first rule wins.

        With forward=False the registry never sees the request (a refused write must not happen):
        the fault gets an empty 502 reply to rewrite.
        """
        rule = _Rule(method.upper(), re.compile(path_pattern), fault, times, forward)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def forget(self) -> None:
        """Drop what was seen and timed so far (the rules stay)."""
        with self._lock:
            self.seen.clear()
            self.seen_with_query.clear()
            self.timings.clear()

    def depth(self) -> int:
        with self._lock:
            return sequential_depth(list(self.timings))

    def requests(self, method: str) -> list[str]:
        """Paths of the requests seen with this method, in order."""
        with self._lock:
            return [path for m, path in self.seen if m == method.upper()]

    def _rule_for(self, method: str, path: str) -> Optional[_Rule]:
        with self._lock:
            self.seen.append((method, path.split("?")[0]))
            self.seen_with_query.append((method, path))
            for rule in self.rules:
                if rule.method == method and rule.pattern.search(path) and (rule.times is None or rule.hits < rule.times):
                    rule.hits += 1
                    return rule
        return None

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            # Headers and body go out in separate sends: without this, Nagle holds the body back
            # until the client's delayed ACK, ~40 ms on every answer with a body.
            disable_nagle_algorithm = True

            def forward(self) -> None:
                started = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = merged_headers(self.headers.items())
                if body:
                    headers["Content-Length"] = str(len(body))
                rule = proxy._rule_for(self.command, self.path)
                if proxy.delay:
                    time.sleep(proxy.delay)
                if rule is not None and not rule.forward:
                    reply = Reply(502, (), b"")
                else:
                    conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                    try:
                        conn.request(self.command, self.path, body=body or None, headers=headers)
                        answer = conn.getresponse()
                        reply = Reply(answer.status, tuple(answer.getheaders()), answer.read())
                    finally:
                        conn.close()
                self.send(rule.fault(reply) if rule is not None else reply)
                with proxy._lock:
                    proxy.timings.append(Timing(self.command, self.path.split("?")[0], started, time.monotonic()))

            def send(self, reply: Reply) -> None:
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        if name.lower() not in _HOP_BY_HOP | {"date", "server"}:
                            self.send_header(name, value)
                    if self.command == "HEAD":
                        upstream_length = reply.header("Content-Length")
                        if upstream_length is not None:
                            self.send_header("Content-Length", upstream_length)
                    elif not reply.close_delimited:
                        length = reply.declared_length if reply.declared_length is not None else len(reply.body)
                        self.send_header("Content-Length", str(length))
                    keep = proxy.keep_alive and not reply.close_delimited and reply.declared_length is None
                    if not keep:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD" and reply.drip:
                        for i in range(len(reply.body)):
                            self.wfile.write(reply.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    elif self.command != "HEAD":
                        self.wfile.write(reply.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    keep = False  # the client gave up reading (e.g. over a size limit): that is its right
                self.close_connection = not keep

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

        Handler.protocol_version = "HTTP/1.1" if self.keep_alive else "HTTP/1.0"
        self.serve(Handler, "fault-proxy")
        return self

    def __enter__(self) -> FaultProxy:
        return self.start()


def reset_connections(proxy: FaultProxy, method: str, pattern: str, times: int) -> list[float]:
    """Make the proxy reset (TCP RST, no answer) the next `times` matching requests; returns when.

    Stacks: each call wraps the proxy's current handler class."""
    when: list[float] = []
    lock = threading.Lock()
    assert proxy._loop is not None, "start the proxy first"
    base = proxy._loop.server.RequestHandlerClass

    class Resetting(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            with lock:
                hit = self.command == method and re.search(pattern, self.path) is not None and len(when) < times
                if hit:
                    when.append(time.monotonic())
            if not hit:
                return base.forward(self)  # type: ignore[no-any-return]
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()  # the fd closes (with RST) when the handler's files do

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Resetting
    return when


class SilentServer:
    """Accepts connections on 127.0.0.1, reads what is sent, and never answers: a hung registry."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never written to

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.listener.close()
        for conn in self.accepted:
            conn.close()
