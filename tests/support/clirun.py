"""Run the CLI in-process (click's CliRunner) and check what it did to the real registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import requests
import yaml
from click.testing import CliRunner, Result
from support.images import ACCEPT_ALL, get_manifest

from manifest_spec.cli.main import main


def run_cli(*args: str, input: Optional[str] = None, env: Optional[dict[str, str]] = None) -> Result:
    """`manifest-spec --plain-http ARGS...`; stdout and stderr are kept apart (click >= 8.2)."""
    return CliRunner().invoke(main, ["--plain-http", *args], input=input, env=env)


def write_spec(tmp_path: Path, spec: Any, name: str = "spec.yaml") -> Path:
    """Write a spec given as YAML text or as data (dumped with PyYAML, key order kept)."""
    path = tmp_path / name
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def push_spec(tmp_path: Path, spec: Any, *flags: str, push_flags: tuple[str, ...] = ()) -> Result:
    """`push [PUSH_FLAGS] from-spec SPEC [FLAGS]` for a spec written to tmp_path."""
    return run_cli("push", *push_flags, "from-spec", str(write_spec(tmp_path, spec)), *flags)


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exception is None


def assert_clean_failure(result: Result, *fragments: str) -> str:
    """Exit 1 with exactly one `error: ...` line on stderr, no traceback, no "a bug" catch-all."""
    assert result.exit_code == 1, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert isinstance(result.exception, SystemExit), f"raised {result.exception!r}"
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "unexpected" not in lines[0], f"the catch-all for bugs answered: {lines[0]}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def digest_line(result: Result) -> tuple[str, int]:
    """The digest and size of manifest-tool's `Digest: sha256:<hex> <size>` line (all of stdout)."""
    text = result.stdout
    assert text.startswith("Digest: sha256:") and text.endswith("\n") and text.count("\n") == 1, repr(text)
    _, digest, size = text.split()
    assert len(digest) == len("sha256:") + 64 and size.isdigit(), repr(text)
    return digest, int(size)


def tag_digest(base_url: str, repo: str, ref: str) -> Optional[str]:
    """The digest the registry serves for repo:ref, None when it does not exist (404)."""
    response = requests.head(f"{base_url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT_ALL}, timeout=10)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.status_code
    return get_manifest(base_url, repo, ref)[2]


def served_document(base_url: str, repo: str, ref: str) -> dict[str, Any]:
    """The manifest the registry serves, decoded with its key order."""
    data, _, _ = get_manifest(base_url, repo, ref)
    document: dict[str, Any] = json.loads(data)
    return document


def entry_platforms(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry.get("platform") for entry in document["manifests"]]
