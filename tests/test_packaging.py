"""The installed artefacts: the wheel in a fresh virtualenv, `python -m`, the pre-commit hook."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD = "image: registry.example.com/a/b:1\nmanifests:\n  - image: registry.example.com/a/b:1-amd64\n    platform: {os: linux, architecture: amd64}\n"
BAD = "image: registry.example.com/a/b:1\nmanifests:\n  - image: registry.example.com/a/b:1-amd64\n    platform: {os: linux, architecure: amd64}\n"


def run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built wheel installed into a fresh virtualenv, far from the source tree."""
    work = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)], cwd=work)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("manifest_spec-*.whl")
    venv.create(work / "env", with_pip=True)
    installed = run([str(work / "env" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=work)
    assert installed.returncode == 0, installed.stderr
    return work


def test_wheel_validates_outside_the_source_tree(wheel_venv: Path) -> None:
    (wheel_venv / "good.yaml").write_text(GOOD)
    (wheel_venv / "bad.yaml").write_text(BAD)
    command = str(wheel_venv / "env" / "bin" / "manifest-spec")
    good = run([command, "validate", "good.yaml"], cwd=wheel_venv)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run([command, "validate", "bad.yaml"], cwd=wheel_venv)
    assert bad.returncode == 1
    assert "bad.yaml:4:27: manifests[0].platform.architecure: unknown key 'architecure' (did you mean 'architecture'?)" in bad.stdout


def test_wheel_ships_the_schema_as_package_data(wheel_venv: Path) -> None:
    python = str(wheel_venv / "env" / "bin" / "python")
    probe = "import manifest_spec.spec as s, pathlib; print(pathlib.Path(s.__file__).parent); print(s.load_schema()['title'])"
    result = run([python, "-c", probe], cwd=wheel_venv)
    assert result.returncode == 0, result.stderr
    location, title = result.stdout.split("\n")[:2]
    assert str(ROOT) not in location
    assert title == "manifest-spec spec"


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "manifest_spec", "--version"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "manifest-spec" in result.stdout


def test_pre_commit_hook(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "specs").mkdir()
    (repo / "specs" / "good.yaml").write_text(GOOD)
    (repo / "specs" / "bad.yaml").write_text(BAD)
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    assert run(["git", "init", "-q"], cwd=repo, env=env).returncode == 0
    assert run(["git", "add", "."], cwd=repo, env=env).returncode == 0
    pre_commit = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "manifest-spec-validate"]
    good = run(pre_commit + ["--files", "specs/good.yaml"], cwd=repo, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout
    bad = run(pre_commit + ["--files", "specs/good.yaml", "specs/bad.yaml"], cwd=repo, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "specs/bad.yaml:4:27:" in bad.stdout
    assert "Failed" in bad.stdout
