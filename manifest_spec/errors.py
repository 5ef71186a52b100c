"""The one error hierarchy: every error this tool raises on purpose, each naming its exit code.

The core raises these; cli/common.handle_errors is the one place that turns them into a line on
stderr and `exit_code`. Scripts catch `ManifestSpecError` (see the README's Python API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def json_kind(value: object) -> str:
    """What a decoded JSON value is, for a message: "a list", "a number", "null"."""
    kinds = {dict: "an object", list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}
    return kinds.get(type(value), "null")


class ManifestSpecError(Exception):
    """Base of every error this tool raises on purpose; the message says what to do."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One mistake in a spec file, located at a line and column (1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        at = f":{self.line}:{self.column}" if self.line else ""
        return f"{self.file}{at}: {where}{self.message}"


class UsageError(ManifestSpecError):
    """The command line's arguments do not say what to do (from-args: no images, a malformed
    --platforms); the CLI shows it as click shows its own usage errors."""

    exit_code = 2


# ---------------------------------------------------------------------------------- spec files


class SpecError(ManifestSpecError):
    """A spec file is invalid; carries every problem found, not just the first."""

    exit_code = 1

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InvalidReferenceError(ManifestSpecError):
    """An image reference does not follow the distribution reference grammar."""

    exit_code = 1


class ConflictError(ManifestSpecError):
    """Two specs of one run would write the same tag."""

    exit_code = 1


class LockError(ManifestSpecError):
    """A lock file is missing, unreadable, or disagrees with its spec."""

    exit_code = 1


# ---------------------------------------------------------------------------------- registries


class RegistryError(ManifestSpecError):
    """The registry refused or failed a request; the message names the reference."""

    exit_code = 1

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def not_found(self) -> bool:
        """The thing asked for does not exist (not: no permission, not: a server fault)."""
        return self.status == 404 and self.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


class TransientError(RegistryError):
    """A request that urllib3 does not repeat (POST, PATCH) broke or got a 5xx/429: it may be repeated."""


class BrokenBodyError(TransientError):
    """The connection broke while a body was being read; the request itself may be repeated."""


class VerificationError(ManifestSpecError):
    """Content does not match what the spec or the registry promised (digest, platform, type)."""

    exit_code = 1


class CredentialsError(ManifestSpecError):
    """A credential store could not be read, or a credential helper failed."""

    exit_code = 1


class TLSConfigError(ManifestSpecError):
    """The environment names a CA file that is not there."""

    exit_code = 1


# ---------------------------------------------------------------------------------- several specs


class BatchError(ManifestSpecError):
    """Some specs of several failed; one line per failure, each naming its spec file. The exit
    code is theirs when they agree, else 1."""

    def __init__(self, failures: Sequence[tuple[str, ManifestSpecError]]) -> None:
        self.failures = list(failures)
        codes = {e.exit_code for _, e in self.failures}
        self.exit_code = codes.pop() if len(codes) == 1 else 1
        super().__init__("\n".join(f"{path}: {error}" for path, error in self.failures))
