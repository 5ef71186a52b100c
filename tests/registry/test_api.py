"""manifest_spec.api used from a release script, as the README shows: load, validate, plan,
lock and push against the real registry, with typed results and the CLI's errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.clirun import tag_digest, write_spec
from support.images import push_image
from support.registry import Registry
from support.specs import AMD64, ARM64, repo_spec

from manifest_spec import api
from manifest_spec.errors import ManifestSpecError, SpecError


@pytest.fixture
def spec_file(registry: Registry, repo_name: str, tmp_path: Path) -> str:
    push_image(registry.url, repo_name, "amd64")
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    spec = repo_spec(registry.host, repo_name, "1.0", [("amd64", AMD64), ("arm64", ARM64)], tags=["latest"])
    return str(write_spec(tmp_path, spec, "app.yaml"))


def settings() -> api.Settings:
    return api.Settings(client=api.ClientOptions(plain_http=True))


def test_a_release_script_plans_locks_and_pushes(registry: Registry, repo_name: str, spec_file: str) -> None:
    [spec] = api.load([spec_file], settings())
    assert spec.image.tag == "1.0" and [m.image.tag for m in spec.members] == ["amd64", "arm64"]

    [plan] = api.plan([spec], settings())
    assert plan.changes and [(t.tag, t.action) for t in plan.tags] == [("1.0", "create"), ("latest", "create")]

    [written] = api.lock([spec], settings())
    assert written.lock == spec_file.replace(".yaml", ".lock") and Path(written.lock).is_file()
    [check] = api.check_locks([spec], settings())
    assert check.drift == []

    [outcome] = api.push([spec], settings())
    assert outcome.error is None and outcome.value is not None
    assert [(t.tag, t.status) for t in outcome.value.tag_results] == [("1.0", "created"), ("latest", "created")]
    digest = outcome.value.prepared.index.digest
    assert digest == written.index.digest  # the lock reviewed what was pushed
    assert tag_digest(registry.url, repo_name, "1.0") == tag_digest(registry.url, repo_name, "latest") == digest

    [again] = api.push([spec], settings())
    assert again.value is not None and {t.status for t in again.value.tag_results} == {"unchanged"}


def test_validate_returns_every_problem_and_load_raises_the_cli_error(tmp_path: Path) -> None:
    bad = write_spec(tmp_path, "image: r.example/a:1\nmanifests:\n  - image: r.example/a:amd\n    platform: {os: linux, architecure: amd64}\n")
    [result] = api.validate([str(bad)])
    assert result.file == str(bad) and len(result.problems) >= 1
    assert any("architecure" in str(p) for p in result.problems)
    with pytest.raises(SpecError) as raised:
        api.load([str(bad)])
    assert raised.value.exit_code == 1 and isinstance(raised.value, ManifestSpecError)


def test_a_missing_member_raises_before_anything_is_written(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    spec = repo_spec(registry.host, repo_name, "1.0", [("amd64", AMD64), ("gone", ARM64)])
    specs = api.load([str(write_spec(tmp_path, spec))], settings())
    with pytest.raises(ManifestSpecError) as raised:
        api.push(specs, settings())
    assert "gone" in str(raised.value) and raised.value.exit_code == 1
    assert tag_digest(registry.url, repo_name, "1.0") is None


def test_importing_the_api_stays_offline_and_lean() -> None:
    code = "import sys, manifest_spec.api; print('requests' in sys.modules, 'urllib3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_one_string_instead_of_a_list_of_paths_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a list of spec paths"):
        api.load("app.yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a list of spec paths"):
        api.validate("app.yaml")  # type: ignore[arg-type]
