"""Start a real CNCF distribution registry (``docker-registry``) for tests.

The registry runs as a child process on a free loopback port with its storage in a
temporary directory. Extra configuration (``auth.htpasswd``, ``http.tls``, ...) is
deep-merged over the defaults. Nothing here is mocked.
"""

from __future__ import annotations

import atexit
import copy
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Iterator, Mapping

from support.served import ServedProcess

DEFAULT_BINARY = "/usr/bin/docker-registry"
NOT_FOUND_HINT = (
    "docker-registry not found: run `make test` (it installs it) "
    "or `sudo apt-get install docker-registry`"
)
STARTUP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 3


class RegistryNotFoundError(RuntimeError):
    """The ``docker-registry`` binary is not installed."""


class RegistryStartError(RuntimeError):
    """The registry process exited or did not answer in time."""


def find_registry_binary() -> str:
    """Return the path of ``docker-registry`` or raise :class:`RegistryNotFoundError`."""
    if os.path.isfile(DEFAULT_BINARY) and os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    found = shutil.which("docker-registry")
    if found:
        return found
    raise RegistryNotFoundError(NOT_FOUND_HINT)


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new dict: ``extra`` merged into ``base``; nested dicts merge, other values replace."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_REPO_COUNTER = itertools.count(1)


def unique_repo_name(test_name: str, prefix: str = "t") -> str:
    """A valid, lower-case repository name unique in this process: ``t/<name>-<n>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:60].strip("-")
    return f"{prefix}/{slug or 'test'}-{next(_REPO_COUNTER)}"


def clean_environment() -> dict[str, str]:
    """``os.environ`` without ``REGISTRY_*`` variables (they override the config file)."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("REGISTRY_")}


class Registry(ServedProcess):
    """A real ``docker-registry`` on a free loopback port.

    ``Registry(extra_config)`` only prepares; :meth:`start` (or ``with``) starts it.
    ``host`` is ``127.0.0.1:PORT``; ``url`` is ``http://`` (``https://`` when
    ``http.tls`` is configured) + ``host``. :meth:`stop` sends SIGTERM, waits, and
    removes the storage directory.
    """

    def __init__(
        self,
        extra_config: Mapping[str, Any] | None = None,
        *,
        binary: str | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.extra_config: dict[str, Any] = copy.deepcopy(dict(extra_config or {}))
        self.binary: str | None = binary
        self.startup_timeout = startup_timeout
        self.root: Path | None = None
        self.config: dict[str, Any] = {}
        self.config_path: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.host: str = ""
        self.url: str = ""
        self._stderr: IO[bytes] | None = None
        self._stderr_path: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Registry:
        if self.process is not None:
            return self
        binary = self.binary or find_registry_binary()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise RegistryNotFoundError(f"{NOT_FOUND_HINT} (looked for {binary})")
        self.root = Path(tempfile.mkdtemp(prefix="manifest-spec-registry-"))
        last_error: RegistryStartError | None = None
        try:
            for _ in range(_PORT_ATTEMPTS):
                try:
                    self._start_once(binary)
                    atexit.register(self.stop)
                    return self
                except RegistryStartError as exc:
                    last_error = exc
                    self.terminate_process()
                    if "address already in use" not in str(exc).lower():
                        break
        except BaseException:
            self.stop()
            raise
        self.stop()
        assert last_error is not None
        raise last_error

    def _start_once(self, binary: str) -> None:
        assert self.root is not None
        port = free_port()
        base: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "storage")},
                "maintenance": {"uploadpurging": {"enabled": False}},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        }
        self.config = deep_merge(base, self.extra_config)
        self.host = str(self.config["http"]["addr"])
        scheme = "https" if self.config["http"].get("tls") else "http"
        self.url = f"{scheme}://{self.host}"
        self.config_path = self.root / "config.json"
        self.config_path.write_text(json.dumps(self.config, indent=2), encoding="utf-8")
        self._stderr_path = self.root / "stderr.log"
        self._stderr_path.write_bytes(b"")  # a fresh log for each port tried; a restart appends to it
        self._spawn(binary)

    def _spawn(self, binary: str) -> None:
        """Run the binary on the written config (its port, storage and secret) and wait until it answers."""
        assert self.config_path is not None and self.root is not None and self._stderr_path is not None
        self._stderr = open(self._stderr_path, "ab")
        self.process = subprocess.Popen(
            [binary, "serve", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            env=clean_environment(),
            cwd=str(self.root),
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RegistryStartError(
                    f"docker-registry exited with status {code} on {self.host}: "
                    f"{self.stderr_text().strip()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise RegistryStartError(
                    f"docker-registry did not answer GET /v2/ on {self.host} within "
                    f"{self.startup_timeout:.0f} s: {self.stderr_text().strip()}"
                )
            time.sleep(0.02)

    def _probe_context(self) -> ssl.SSLContext:
        """TLS for the readiness probe: any certificate will do, only an answer counts."""
        return ssl._create_unverified_context()

    def _answers(self) -> bool:
        """True once ``GET /v2/`` gets any HTTP status."""
        hostname, _, port = self.host.rpartition(":")
        conn: http.client.HTTPConnection
        if self.url.startswith("https://"):
            conn = http.client.HTTPSConnection(hostname, int(port), timeout=1.0, context=self._probe_context())
        else:
            conn = http.client.HTTPConnection(hostname, int(port), timeout=1.0)
        try:
            conn.request("GET", "/v2/")
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def restart(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Stop the process and start it again on the same port, storage and config (see `halt`, `resume`)."""
        self.halt(how)
        self.resume()

    def halt(self, how: signal.Signals = signal.SIGTERM) -> None:
        """Stop the process but keep its storage, port and config, for `resume`: SIGTERM (distribution 2.8
        closes its listener and, with no `http.draintimeout`, exits at once) or SIGKILL (nothing finished).
        Connections then get refused; requests it was serving are cut off."""
        assert self.process is not None, "start the registry first"
        self.process.send_signal(how)
        self.process.wait()
        self.terminate_process()  # reaped already: closes its stderr file

    def resume(self) -> None:
        """Start the halted registry again on its port, storage and config (its secret included): what it
        stored survives, clients keep their URLs (an upload session's state is in the storage too)."""
        assert self.process is None and self.config_path is not None, "halt a started registry first"
        for attempt in range(_PORT_ATTEMPTS * 20):  # the port is free again once the old listener is gone
            try:
                self._spawn(self.binary or find_registry_binary())
                return
            except RegistryStartError as exc:
                self.terminate_process()
                if "address already in use" not in str(exc).lower() or attempt == _PORT_ATTEMPTS * 20 - 1:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM the registry, wait for it, remove its storage. Idempotent."""
        self.terminate_process()
        atexit.unregister(self.stop)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Registry {self.url or '(not started)'} {state}>"


def started_registry(extra_config: Mapping[str, Any] | Registry | None = None) -> Iterator[Registry]:
    """Generator for fixtures (``yield from started_registry(...)``): a started :class:`Registry` with
    `extra_config` (or the given one, e.g. an ``MTLSRegistry``), stopped afterwards. A missing binary
    fails the test with the install hint, never skips it."""
    try:
        registry = (extra_config if isinstance(extra_config, Registry) else Registry(extra_config)).start()
    except RegistryNotFoundError as exc:
        import pytest  # only here: tools/benchmark.py imports this module without pytest in the way

        pytest.fail(str(exc), pytrace=False)
    try:
        yield registry
    finally:
        registry.stop()


def htpasswd_config(directory: Path, user: str, password: str, realm: str = "manifest-spec-test") -> dict[str, Any]:
    """Extra config for a registry behind Basic auth (htpasswd) with one account. The file is written
    here, before the start: distribution makes up a random user when the file is missing."""
    import bcrypt

    path = directory / "htpasswd"
    path.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}\n", encoding="utf-8")
    return {"auth": {"htpasswd": {"realm": realm, "path": str(path)}}}
