"""The installed artefacts: the wheel in a fresh virtualenv, `python -m`, the pre-commit hook."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    probe = "import manifest_spec.specfile.spec as s, pathlib; print(pathlib.Path(s.__file__).parent); print(s.load_schema()['title'])"
    result = run([python, "-c", probe], cwd=wheel_venv)
    assert result.returncode == 0, result.stderr
    location, title = result.stdout.split("\n")[:2]
    assert str(ROOT) not in location
    assert title == "manifest-spec spec"


def test_wheel_carries_the_full_license_and_the_changelog(wheel_venv: Path) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    # The Apache-2.0 text exactly as the ASF publishes it (the checksum license scanners know it by).
    assert hashlib.md5(license_text).hexdigest() == "3b83ef96387f14655fc854ddc3c6bd57"
    (wheel,) = (wheel_venv / "dist").glob("manifest_spec-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (packaged,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(packaged) == license_text
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text or "License: Apache-2.0" in text
    assert "# Changelog" in text  # the long description carries README and CHANGELOG


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


# --- the README's install and pre-commit lines, run as written against a local clone -----------

CHART = "apiVersion: v2\nname: app\ndescription: A Helm chart\ntype: application\nversion: 0.1.0\nappVersion: \"1.4.2\"\n"
VALUES = "image:\n  repository: registry.example.com/team/app\n  tag: 1.4.2\nreplicaCount: 2\n"
TEMPLATE = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n"
MISSPELT = BAD.replace("architecure", "architecture").replace("manifests:", "manifest:")


def readme_blocks(marker: str, count: int) -> list[str]:
    """The `count` fenced blocks that follow `<!-- marker: ... -->` in the README, as written."""
    text = (ROOT / "README.md").read_text("utf-8").split(f"<!-- {marker}:", 1)[1]
    return [part.split("\n", 1)[1] for part in text.split("```")[1 : 2 * count : 2]]


def git_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # pre-commit, pipx
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of this repository (its committed state), as a user would have it."""
    work = tmp_path_factory.mktemp("clone")
    cloned = run(["git", "clone", "-q", str(ROOT), "manifest-spec"], cwd=work)
    assert cloned.returncode == 0, cloned.stderr
    return work / "manifest-spec"


def test_readme_install_lines_work_as_written(clone: Path, tmp_path: Path) -> None:
    (block,) = readme_blocks("install", 1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert any(line.startswith("pipx install") for line in lines) and any("git+file://" in line for line in lines)
    work = clone.parent
    env = {**git_env(tmp_path), "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man")}
    commands = []
    for number, line in enumerate(lines):
        # Each pip line in a virtualenv of its own, activated (PATH), so that each line installs.
        environment = tmp_path / f"env{number}"
        venv.create(environment, with_pip=True)
        path = os.pathsep.join([str(environment / "bin"), env["PATH"]])
        result = run(["bash", "-euo", "pipefail", "-c", line], cwd=work, env={**env, "PATH": path, "VIRTUAL_ENV": str(environment)})
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        commands.append(tmp_path / "bin" / "manifest-spec" if line.startswith("pipx") else environment / "bin" / "manifest-spec")
    (tmp_path / "bad.yaml").write_text(BAD)
    for command in commands:
        checked = run([str(command), "validate", "bad.yaml"], cwd=tmp_path)
        assert checked.returncode == 1 and "bad.yaml:4:27: manifests[0].platform.architecure" in checked.stdout, checked
    head = run(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    frozen = run([str(commands[-1].with_name("pip")), "freeze"], cwd=tmp_path).stdout
    assert f"manifest-spec @ git+file://{clone}@{head}" in frozen  # pip's git form, pinned to the commit


def test_readme_ci_install_line_works_with_its_two_variables(clone: Path, tmp_path: Path) -> None:
    """The line of the README's text and CI examples, with the variables they tell the reader to set."""
    readme = (ROOT / "README.md").read_text("utf-8")
    others = [line for line in readme.splitlines() if "pip install" in line and "./manifest-spec" not in line
              and "git+file://" not in line]
    line = 'pip install "git+$MANIFEST_SPEC_GIT@$MANIFEST_SPEC_REV"'
    assert len(others) == 5 and all(line in other for other in others), others  # the text, GitHub twice, GitLab twice
    venv.create(tmp_path / "env", with_pip=True)
    head = run(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    env = {**os.environ, "PATH": f"{tmp_path / 'env' / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "MANIFEST_SPEC_GIT": clone.as_uri(), "MANIFEST_SPEC_REV": head}
    result = run(["bash", "-c", line], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    checked = run([str(tmp_path / "env" / "bin" / "manifest-spec"), "validate", "-"], cwd=tmp_path, input=GOOD)
    assert checked.returncode == 0 and checked.stdout == "<stdin>: ok\n", checked


def test_readme_pre_commit_config_works_as_written(clone: Path, tmp_path: Path) -> None:
    config, commands = readme_blocks("pre-commit", 2)
    assert "rev: HEAD" in config and "/path/to/manifest-spec" in config
    repo = tmp_path / "repo"
    for name, text in {"specs/app.yaml": GOOD, "specs/Chart.yaml": CHART, "specs/values.yaml": VALUES,
                       "specs/templates/deployment.yaml": TEMPLATE}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    # The one thing a reader fills in: where their clone (or its URL) is.
    (repo / ".pre-commit-config.yaml").write_text(config.replace("/path/to/manifest-spec", str(clone)))
    env = git_env(tmp_path)
    assert run(["git", "init", "-q"], cwd=repo, env=env).returncode == 0
    assert run(["git", "add", "."], cwd=repo, env=env).returncode == 0
    results = [run(["bash", "-c", line], cwd=repo, env=env) for line in commands.splitlines() if line.strip()]
    assert len(results) == 3 and [r.returncode for r in results] == [0, 0, 0], "\n".join(r.stdout + r.stderr for r in results)
    assert (repo / ".git" / "hooks" / "pre-commit").exists()
    head = run(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    assert f"rev: {head}" in (repo / ".pre-commit-config.yaml").read_text()  # autoupdate pinned the commit
    assert "Passed" in results[-1].stdout  # the chart, its values and its templates were skipped, not failed

    (repo / "specs" / "typo.yaml").write_text(MISSPELT)  # `manifest:` is a spec with a typo, not a non-spec
    assert run(["git", "add", "."], cwd=repo, env=env).returncode == 0
    failed = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env)
    assert failed.returncode == 1
    assert "specs/typo.yaml:2:1: manifest: unknown key 'manifest' (did you mean 'manifests'?)" in failed.stdout
    assert "Chart.yaml" not in failed.stdout.replace("specs/Chart.yaml: skipped", "")


def test_readme_layout_settings_point_the_hook_elsewhere(clone: Path, tmp_path: Path) -> None:
    (layout,) = readme_blocks("pre-commit layout", 1)
    repo = tmp_path / "repo"
    for name, text in {"deploy/images/app.yaml": BAD, "deploy/images/charts/other.yaml": BAD, "specs/bad.yaml": BAD}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    head = run(["git", "rev-parse", "HEAD"], cwd=clone).stdout.strip()
    (repo / ".pre-commit-config.yaml").write_text(f"repos:\n  - repo: {clone}\n    rev: {head}\n    hooks:\n{layout}")
    env = git_env(tmp_path)
    assert run(["git", "init", "-q"], cwd=repo, env=env).returncode == 0
    assert run(["git", "add", "."], cwd=repo, env=env).returncode == 0
    result = run(["pre-commit", "run", "--all-files"], cwd=repo, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deploy/images/app.yaml:4:27:" in result.stdout
    assert "charts/other.yaml" not in result.stdout and "specs/bad.yaml" not in result.stdout


def test_pre_commit_hook_skips_yaml_that_is_not_a_spec(tmp_path: Path) -> None:
    """The hook as in this tree (try-repo), on a Helm chart kept under specs/."""
    repo = tmp_path / "repo"
    for name, text in {"specs/Chart.yaml": CHART, "specs/values.yaml": VALUES, "specs/templates/deployment.yaml": TEMPLATE,
                       "specs/app.yaml": GOOD}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    env = git_env(tmp_path)
    assert run(["git", "init", "-q"], cwd=repo, env=env).returncode == 0
    assert run(["git", "add", "."], cwd=repo, env=env).returncode == 0
    hook = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "manifest-spec-validate", "--all-files", "--verbose"]
    result = run(hook, cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
    for name in ("specs/Chart.yaml", "specs/values.yaml", "specs/templates/deployment.yaml"):
        assert f"{name}: skipped (no top-level manifests:, so not a manifest spec)" in result.stdout
    assert "specs/app.yaml: ok" in result.stdout
