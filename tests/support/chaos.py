"""Randomized fault schedules (issue 17), in the spirit of Jepsen: one integer seed gives a scenario
and, for every request the client sends, a decision (pass, delay, reset, truncate, drip, 5xx/429
with or without Retry-After, a transient 404, a 307 to another host name, a wrong digest header),
and at times a restart of the registry itself when the proxy sees the run's N-th request (`Restart`).
After the run the real registry is read directly (not through the proxy) and the promises checked.

A plain seeded generator, not hypothesis: a decision is a hash of (seed, method, path with upload
ids blanked, occurrence), so the same seed gives the same faults whatever order concurrent
requests arrive in, and a run replays from its seed alone (`tools/chaos.py --seed N`). Hypothesis
would draw decisions in arrival order, which concurrency makes differ between runs, so its
shrinking would chase a moving target; shrinking here is a loop that drops one fault kind at a
time and keeps what still fails (`shrink`).

Imitated vendor behaviour, each documented: transient 404 after a write (distribution/distribution#2794,
eventual consistency on S3), 429 with Retry-After (Docker Hub rate limits, docs.docker.com
"Docker Hub usage and limits"), 307 to blob storage on another host (distribution's
`redirect` storage middleware; GCR/ECR serve blobs from another host), resets and 503s from load
balancers (AWS ELB 503 "Service Unavailable" on surge queue overflow).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import re
import signal
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from support.faults import FaultProxy, Reply, _Rule, drip, error, late, truncate
from support.registry import Registry

KINDS = ("delay", "reset", "truncate", "drip", "503", "503-retry-after", "429-retry-after", "500", "404", "307", "digest", "401",
         "lying-202", "cut-answer")
ANSWERED_HERE = ("503", "500", "404", "307", "429-retry-after", "401", "lying-202")  # the registry never sees these requests
_UPLOAD_ID = re.compile(r"/blobs/uploads/[^/?]+")
_decided = threading.local()  # the fault decided for the request this proxy thread is handling


def request_key(method: str, path: str, blank: str, body: bytes = b"") -> tuple[str, str]:
    """A request's identity, the same whatever order concurrent requests arrive in: its path without the
    upload session's id or the run's own name part, with the query fields that name content (a mount's
    digest and source, a commit's digest) and not the registry's session state. A PATCH's URL names only
    the session, so the PATCHes of two uploads into one repository at once are told apart by what they
    carry: the first 12 hex digits of their body's sha256."""
    bare, _, query = path.partition("?")
    named = sorted(field for field in query.split("&") if field.split("=")[0] in ("mount", "from", "digest"))
    carried = f"#{hashlib.sha256(body).hexdigest()[:12]}" if method == "PATCH" else ""
    return method, (_UPLOAD_ID.sub("/blobs/uploads/ID", bare) + ("?" + "&".join(named) if named else "")).replace(blank, "") + carried


def decide(seed: int, key: tuple[str, str], occurrence: int, rate: float, kinds: tuple[str, ...],
           hot: tuple[str, ...] = ()) -> Optional[str]:
    """The fault (or None) for this request: a pure function of the seed and the request's identity.
    `hot`: the faults this kind of request is the likely victim of (hot_kinds): its rate is doubled
    and half of its faults are those, so a campaign reaches the rare schedules that matter."""
    digest = hashlib.sha256(f"{seed}|{key[0]}|{key[1]}|{occurrence}".encode()).digest()
    number = int.from_bytes(digest[:8], "big") / 2**64
    hot = tuple(k for k in hot if k in kinds)
    rate = min(1.0, rate * 2) if hot else rate
    if number >= rate or not kinds:
        return None
    pick = number / rate
    if hot and pick < 0.5:
        return hot[int(pick * 2 * len(hot)) % len(hot)]
    return kinds[int(pick * len(kinds)) % len(kinds)]


def hot_kinds(method: str, path: str) -> tuple[str, ...]:
    """Issue 17's defects, by the request they struck: a 404 on a just-seen tag list or cosign/referrers
    tag, a mount answered 202 with the blob's URL, a manifest PUT whose 201 is cut short or lies."""
    if method == "GET" and ("/tags/list" in path or "/manifests/sha256-" in path):
        return ("404",)
    if method == "POST" and "mount=" in path:
        return ("lying-202",)
    if method == "PUT" and "/manifests/" in path:
        return ("cut-answer", "digest")
    return ()


def _blob_url(path: str) -> str:
    """For a mount POST (`/v2/<name>/blobs/uploads/?mount=<digest>&from=...`), the blob URL it names."""
    found = re.match(r"^(/v2/.+/blobs/)uploads/\?mount=([^&]+)", path)
    return f"{found.group(1)}{found.group(2)}" if found else ""


def _not_found(path: str) -> Reply:
    code = "NAME_UNKNOWN" if "/tags/list" in path else "BLOB_UNKNOWN" if "/blobs/" in path else "MANIFEST_UNKNOWN"
    return error(404, code, "unknown (a replica that has not seen it yet)")(Reply(502, (), b""))


@dataclass
class Restart:
    """A restart of the registry behind a chaos proxy when it sees its `at`-th request of the run:
    the process is stopped with `how` (SIGTERM or SIGKILL) there and then, and started again on the
    same port, storage and config `down` seconds later, while the client keeps running. Requests in
    between get connection refused, which the proxy passes on as a reset."""

    registry: Registry
    at: int
    how: str  # "SIGTERM" or "SIGKILL"
    down: float
    counted: int = 0
    done: bool = False
    pids: tuple[int, int] = (0, 0)  # the registry's process before and after
    _thread: Optional[threading.Thread] = None
    _error: Optional[BaseException] = None

    def begin(self) -> None:
        assert self.registry.process is not None
        before = self.registry.process.pid
        self.registry.halt(getattr(signal, self.how))
        self._thread = threading.Thread(target=self._resume, args=(before,), name="registry-restart", daemon=True)
        self._thread.start()

    def _resume(self, before: int) -> None:
        time.sleep(self.down)
        try:
            self.registry.resume()
            assert self.registry.process is not None
            self.pids = (before, self.registry.process.pid)
        except BaseException as exc:  # re-raised by wait(): the harness failed, not the client
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error


@dataclass
class ChaosProxy(FaultProxy):
    """The fault proxy with a seeded decision for every request instead of hand-made rules."""

    seed: int = 0
    rate: float = 0.15
    kinds: tuple[str, ...] = KINDS
    challenge: str = 'Basic realm="chaos"'  # what a "401" fault asks for
    blank: str = "\0"  # the run's part of repository names, left out of decisions (same seed, same faults)
    label: str = "target"  # which proxy of a schedule (target, other, tokens): part of a fault's name
    excluded: frozenset[str] = frozenset()  # kinds decided but not injected (the request passes)
    suppressed: frozenset[tuple[str, str, str, int]] = frozenset()  # single faults not injected (shrinking)
    injected: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, str, int, str]] = field(default_factory=list)  # (label, method, path, occurrence, kind)
    occurrences: Counter[tuple[str, str]] = field(default_factory=Counter)
    restart: Optional[Restart] = None  # the registry behind this proxy restarted once during the run (arm_restart)

    def reset_schedule(self, seed: int, blank: str, rate: float, excluded: frozenset[str],
                       suppressed: frozenset[tuple[str, str, str, int]]) -> None:
        """A long-lived proxy (in front of a token server a registry's config names) takes a new schedule."""
        with self._lock:
            self.seed, self.blank, self.rate, self.excluded, self.suppressed = seed, blank, rate, excluded, suppressed
            self.occurrences.clear()
            self.injected.clear()
            self.log.clear()
            self.seen.clear()

    def decide_next(self, method: str, path: str, body: bytes = b"") -> Optional[str]:
        """Count this request's occurrence and decide its fault, atomically (same seed, same faults)."""
        with self._lock:
            key = request_key(method, path, self.blank, body)
            self.occurrences[key] += 1
            kind = decide(self.seed, key, self.occurrences[key], self.rate, self.kinds, hot_kinds(method, path))
            # Excluded or suppressed after deciding, so every other request keeps its decision (shrinking is monotone).
            if kind is None or kind in self.excluded or (self.label, *key, self.occurrences[key]) in self.suppressed:
                return None
            self.injected[kind] += 1
            self.log.append((self.label, *key, self.occurrences[key], kind))
            return kind

    def arm_restart(self, restart: Restart) -> None:
        """From now on count requests; the `restart.at`-th one restarts the registry behind the proxy."""
        with self._lock:
            self.restart = restart

    def disarm_restart(self) -> int:
        """No more restarts; wait until the registry is up again. Returns how many happened (0 or 1)."""
        with self._lock:
            restart, self.restart = self.restart, None
        if restart is None:
            return 0
        restart.wait()
        if restart.done:
            self.injected["restart"] += 1
            self.log.append((self.label, "RESTART", restart.how, restart.at, "restart"))
        return int(restart.done)

    def _count_for_restart(self) -> Optional[Restart]:
        """The restart this request sets off, if it is the chosen one (and shrinking did not leave it out)."""
        with self._lock:
            restart = self.restart
            if restart is None or restart.done:
                return None
            restart.counted += 1
            if restart.counted != restart.at or (self.label, "RESTART", restart.how, restart.at) in self.suppressed:
                return None
            restart.done = True
            return restart

    def _rule_for(self, method: str, path: str) -> Optional[_Rule]:
        with self._lock:
            self.seen.append((method, path.split("?")[0]))
        kind = getattr(_decided, "kind", None)
        if kind is None:
            return None
        return _Rule(method, re.compile("."), self._fault(kind, path), None, kind not in ANSWERED_HERE)

    def start(self) -> ChaosProxy:
        """As FaultProxy, with every request's fault decided first; "reset" resets the connection (TCP RST)."""
        super().start()
        assert self._loop is not None
        base = self._loop.server.RequestHandlerClass
        proxy = self

        class Deciding(base):  # type: ignore[misc, valid-type]
            def forward(self) -> None:
                body = b""
                if self.command == "PATCH":  # read first, to key the decision by it; forwarded from a copy
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                    self.rfile, rest = io.BytesIO(body), self.rfile
                _decided.kind = proxy.decide_next(self.command, self.path, body)
                try:
                    self._decided_forward()
                finally:
                    if self.command == "PATCH":
                        self.rfile = rest  # the connection's next request is read from the socket again

            def _decided_forward(self) -> None:
                restart = proxy._count_for_restart()
                if restart is not None:
                    restart.begin()  # the registry is down from here: this request is refused too
                if _decided.kind != "reset":
                    try:
                        return base.forward(self)  # type: ignore[no-any-return]
                    except (OSError, http.client.HTTPException):
                        pass  # the registry is down or died mid-answer (a restart): the client sees a reset
                else:
                    with proxy._lock:
                        proxy.seen.append((self.command, self.path.split("?")[0]))
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass  # the client is gone already

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

        self._loop.server.RequestHandlerClass = Deciding
        return self

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def _fault(self, kind: str, path: str) -> Any:
        port = self.host.rsplit(":", 1)[1]
        faults: dict[str, Any] = {
            "delay": late(0.3),
            "truncate": truncate(7),
            # An answer (a 201 to a PUT included) that announces a body and breaks off after 5 bytes of it.
            "cut-answer": lambda r: truncate(5)(replace(r, body=b'{"note": "the rest never arrives"}' if not r.body else r.body)),
            "drip": drip(0.02),
            "503": error(503, "UNAVAILABLE", "service unavailable"),
            "503-retry-after": lambda r: error(503, "UNAVAILABLE", "busy")(r).with_header("Retry-After", "1"),
            "429-retry-after": lambda r: error(429, "TOOMANYREQUESTS", "slow down")(r).with_header("Retry-After", "1"),
            "500": error(500, "UNKNOWN", "internal error"),
            "404": lambda r: _not_found(path),
            # A write answered 202 with a Location that is no upload session: the blob's own URL, as the
            # mount answer of issue 17's first defect (a registry that mounted but said 202 with 201's Location).
            "lying-202": lambda r: Reply(202, (("Location", _blob_url(path)),), b"") if _blob_url(path) else _not_found(path),
            "307": lambda r: Reply(307, (("Location", f"http://localhost:{port}{path}"),), b""),
            # A fresh challenge, as a registry does when its token or session expired mid-run.
            "401": lambda r: error(401, "UNAUTHORIZED", "authentication required")(r).with_header("WWW-Authenticate", self.challenge),
            "digest": lambda r: r.with_header("Docker-Content-Digest", "sha256:" + "0" * 64) if r.header("Docker-Content-Digest") else r,
        }
        return faults[kind]
