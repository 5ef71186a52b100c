"""What every registry process a test starts shares: its captured stderr and how it is stopped."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import IO

STOP_TIMEOUT = 10.0


class ServedProcess:
    """A child server process with its stderr in a file; ``Registry`` and ``GgcrRegistry`` use it."""

    process: subprocess.Popen[bytes] | None = None
    _stderr: IO[bytes] | None = None
    _stderr_path: Path | None = None

    def stderr_text(self) -> str:
        """What the process wrote to its captured stderr so far."""
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate_process(self) -> None:
        """SIGTERM the process (SIGKILL after STOP_TIMEOUT), wait for it, close its pipes. Idempotent."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
