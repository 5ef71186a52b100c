"""The one error hierarchy; cli.py maps each class to an exit code."""

from __future__ import annotations

from dataclasses import dataclass


def json_kind(value: object) -> str:
    """What a decoded JSON value is, for a message: "a list", "a number", "null"."""
    kinds = {dict: "an object", list: "a list", str: "a text", int: "a number", float: "a number", bool: "true/false"}
    return kinds.get(type(value), "null")


class ManifestSpecError(Exception):
    """Base of every error this tool raises on purpose; the message says what to do."""

    exit_code = 1


class UsageError(ManifestSpecError):
    """The command line itself is wrong."""

    exit_code = 2


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


class SpecError(ManifestSpecError):
    """A spec file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InvalidReferenceError(ManifestSpecError):
    """An image reference does not follow the distribution reference grammar."""


class RegistryError(ManifestSpecError):
    """The registry refused or failed a request; the message names the reference."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def not_found(self) -> bool:
        """The thing asked for does not exist (not: no permission, not: a server fault)."""
        return self.status == 404 and self.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


class VerificationError(ManifestSpecError):
    """Content does not match what the spec or the registry promised (digest, platform, type)."""
