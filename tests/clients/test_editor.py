"""The schema in a real editor: `manifest-spec schema` written to a file, a modeline pointing at it,
and the real yaml-language-server (npm) flagging a typo on its line and nothing in a valid spec."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from support.lsp import LanguageServer

from manifest_spec.cli.main import main

# The modeline the README shows, for a schema written by `manifest-spec schema > manifest-spec.schema.json`.
MODELINE = "# yaml-language-server: $schema=manifest-spec.schema.json\n"
VALID = MODELINE + """image: registry.example.com/team/app:1.4.2
tags: ["1.4", "latest"]
manifests:
  - image: registry.example.com/team/app:1.4.2-amd64
    platform: {os: linux, architecture: amd64}
  - image: registry.example.com/team/app:1.4.2-arm64
    platform:
      os: linux
      architecure: arm64
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("editor")
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    (root / "manifest-spec.schema.json").write_text(result.stdout, "utf-8")
    return root


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[LanguageServer]:
    try:
        ls = LanguageServer(workspace)
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    yield ls
    ls.close()
    assert not [line for line in ls.stderr if "LOOPBACK-ONLY" in line], "the language server tried to leave the machine"


def test_typo_gets_a_diagnostic_on_its_line(workspace: Path, server: LanguageServer) -> None:
    path = workspace / "typo.yaml"
    path.write_text(VALID, "utf-8")
    diagnostics = server.diagnostics(path)
    by_message = {d["message"]: d["range"]["start"] for d in diagnostics}
    # 0-based: line 9 is the file's 10th line, where `manifest-spec validate` points too.
    assert by_message.get("Property architecure is not allowed.") == {"line": 9, "character": 6}, diagnostics
    cli = CliRunner().invoke(main, ["validate", str(path)])
    assert f"{path}:10:7: manifests[1].platform.architecure: unknown key" in cli.stdout
    # The only other complaint is the consequence: the platform now lacks `architecture`.
    assert set(by_message) <= {"Property architecure is not allowed.", 'Missing property "architecture".'}, diagnostics


def test_valid_spec_gets_no_diagnostic(workspace: Path, server: LanguageServer) -> None:
    path = workspace / "valid.yaml"
    path.write_text(VALID.replace("architecure", "architecture"), "utf-8")
    assert server.diagnostics(path) == []
