"""Start go-containerregistry's registry (``pkg/registry`` with the referrers API on) for tests.

The second, independent registry implementation next to CNCF distribution: an in-memory
server built by ``make go-tools`` into ``.cache/go/bin/ggcr-registry`` (our own Go ``main`` in
``tests/support/ggcr_registry/``). It binds a free loopback port itself and prints
``listening on HOST:PORT`` once it accepts connections, so there is no port race and no polling.
A missing binary fails with an install hint; nothing is skipped.

How it differs from distribution 2.8.2 (read in ggcr 0.14's ``pkg/registry`` source and seen
against it): a chunk PATCH is answered 204 (the spec says 202); a mount is never done (202 and a
new session); the referrers API answers an OCI index with no Content-Type, takes ``artifactType``
from ``config.mediaType``, ignores the ``artifactType`` filter and sends no
``OCI-Filters-Applied``; a PUT with a ``subject`` gets no ``OCI-Subject``; DELETE of an upload
session is 400; blobs live in one store for all repositories; an index PUT with a missing child
is 404 (distribution: 400 ``MANIFEST_BLOB_UNKNOWN``).
"""

from __future__ import annotations

import atexit
import os
import re
import selectors
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Iterator

import pytest
from support.served import ServedProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / ".cache" / "go" / "bin" / "ggcr-registry"
NOT_FOUND_HINT = (
    "ggcr-registry not found: run `make go-tools` (`make test` runs it; it installs golang-go and "
    "golang-github-google-go-containerregistry-dev and builds the registry offline)"
)
STARTUP_TIMEOUT = 10.0
_LISTENING = re.compile(rb"^listening on (127\.0\.0\.1:\d+)\s*$")


class GgcrNotFoundError(RuntimeError):
    """``.cache/go/bin/ggcr-registry`` is not built."""


class GgcrStartError(RuntimeError):
    """The registry exited or did not say where it listens in time."""


class GgcrRegistry(ServedProcess):
    """go-containerregistry's registry on a free loopback port; same surface as ``Registry``.

    ``host`` is ``127.0.0.1:PORT``, ``url`` is ``http://`` + ``host``. Its storage is memory:
    :meth:`stop` (SIGTERM) forgets everything.
    """

    kind = "ggcr"

    def __init__(self, *, binary: str | os.PathLike[str] | None = None, log_requests: bool = False,
                 startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.binary = Path(binary) if binary is not None else DEFAULT_BINARY
        self.log_requests = log_requests
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.url = ""
        self._stderr: IO[bytes] | None = None
        self._stderr_path: Path | None = None

    def start(self) -> GgcrRegistry:
        if self.process is not None:
            return self
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise GgcrNotFoundError(f"{NOT_FOUND_HINT} (looked for {self.binary})")
        fd, name = tempfile.mkstemp(prefix="manifest-spec-ggcr-", suffix=".log")
        os.close(fd)
        self._stderr_path = Path(name)
        self._stderr = open(self._stderr_path, "wb")
        args = [str(self.binary), "-addr", "127.0.0.1:0"] + (["-log"] if self.log_requests else [])
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr)
        try:
            self.host = self._read_address()
        except BaseException:
            self.stop()
            raise
        self.url = f"http://{self.host}"
        atexit.register(self.stop)
        return self

    def _read_address(self) -> str:
        """The ``listening on`` line, read with a deadline (the binary prints it once bound)."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.05):
                    line = self.process.stdout.readline()
                    match = _LISTENING.match(line)
                    if match:
                        return match.group(1).decode("ascii")
                    if not line:
                        break
                if self.process.poll() is not None:
                    break
        code = self.process.poll()
        state = f"exited with status {code}" if code is not None else "did not say where it listens"
        raise GgcrStartError(f"ggcr-registry {state} within {self.startup_timeout:.0f} s: "
                             f"{self.stderr_text().strip()}")

    def stop(self) -> None:
        """SIGTERM the registry and wait for it. Idempotent."""
        self.terminate_process()
        if self._stderr_path is not None:
            self._stderr_path.unlink(missing_ok=True)
            self._stderr_path = None
        atexit.unregister(self.stop)

    def __enter__(self) -> GgcrRegistry:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<GgcrRegistry {self.url or '(not started)'} {state}>"


def started_ggcr_registry() -> Iterator[GgcrRegistry]:
    """Generator for fixtures: a started :class:`GgcrRegistry`; a missing binary fails the test."""
    try:
        registry = GgcrRegistry().start()
    except GgcrNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield registry
    finally:
        registry.stop()

