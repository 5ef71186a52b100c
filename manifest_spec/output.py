"""Reporters: the only module that writes results to stdout (and diagnostics to stderr)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional, TextIO

from manifest_spec.errors import Problem


def _write_json(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def diagnostic(message: str) -> None:
    """One line for a person on stderr (warnings, progress, errors)."""
    sys.stderr.write(message + "\n")


def report_validation(results: list[tuple[str, list[Problem]]], fmt: str) -> None:
    """`validate`: one line per problem (FILE:LINE:COL: path: message), or one JSON object."""
    if fmt == "json":
        _write_json(
            {
                "valid": not any(problems for _, problems in results),
                "files": [
                    {
                        "file": name,
                        "valid": not problems,
                        "errors": [
                            {"line": p.line, "column": p.column, "path": p.path, "message": p.message}
                            for p in problems
                        ],
                    }
                    for name, problems in results
                ],
            },
            sys.stdout,
        )
        return
    for name, problems in results:
        if problems:
            for problem in problems:
                sys.stdout.write(f"{problem}\n")
        else:
            sys.stdout.write(f"{name}: ok\n")
    bad = [problems for _, problems in results if problems]
    if bad:
        count = sum(len(p) for p in bad)
        diagnostic(f"{len(bad)} of {len(results)} spec file(s) invalid, {count} problem(s)")


def report_error(message: str, fmt: Optional[str] = None) -> None:
    """A failed command: one line on stderr, plus a JSON object on stdout for --output json."""
    if fmt == "json":
        _write_json({"error": message}, sys.stdout)
    diagnostic(f"error: {message}")
