"""Where flag and environment credentials may go, and what an error line may show."""

from __future__ import annotations

import base64
from pathlib import Path

from click.testing import CliRunner
from support.clirun import run_cli, write_spec
from support.faults import FaultProxy, Reply
from support.registry import Registry
from support.specs import repo_spec
from support.tokenserver import record_authorization

from manifest_spec.cli.main import main
from manifest_spec.cli.output import redact

PASSWORD = "pr-harvest-s3cret"


def basic_challenge(reply: Reply) -> Reply:
    """A host that asks every visitor for a password (what a spec's author could point it at)."""
    return Reply(401, (("WWW-Authenticate", 'Basic realm="give me your password"'), ("Content-Type", "text/plain")), b"no")


def run_with_password(*args: str) -> object:
    return CliRunner().invoke(main, ["--plain-http", "--username", "ci", "--password-stdin", *args], input=PASSWORD + "\n")


def test_auth_registry_keeps_flag_credentials_away_from_the_host_a_spec_names(registry: Registry) -> None:
    with FaultProxy(registry.host) as harvester:
        harvester.inject("GET", ".", basic_challenge, forward=False)
        harvester.inject("HEAD", ".", basic_challenge, forward=False)
        seen = record_authorization(harvester)
        guarded = run_with_password("--auth-registry", registry.host, "inspect", f"{harvester.host}/team/app:1")
        assert guarded.exit_code == 1  # refused, anonymously
        assert "anonymously" in guarded.stderr
        assert seen and not any(authorization for _, _, authorization in seen)

        seen.clear()
        default = run_with_password("inspect", f"{harvester.host}/team/app:1")
        assert default.exit_code == 1
        basic = "Basic " + base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
        assert basic in [authorization for _, _, authorization in seen]  # the default: the target's host gets them


def test_username_without_a_password_is_a_usage_error(registry: Registry) -> None:
    result = CliRunner().invoke(main, ["--plain-http", "--username", "ci", "inspect", f"{registry.host}/a/b:1"], env={"MANIFEST_SPEC_PASSWORD": None})
    assert result.exit_code == 2
    assert "needs a password" in result.stderr


def test_plan_over_specs_on_two_registries_will_not_share_flag_credentials(registry: Registry, tmp_path: Path) -> None:
    one = write_spec(tmp_path, repo_spec(registry.host, "a/b", "1", [("amd64", None)]), "one.yaml")
    two = write_spec(tmp_path, repo_spec("127.0.0.2:5000", "a/b", "1", [("amd64", None)]), "two.yaml")
    result = run_with_password("plan", str(one), str(two))
    assert result.exit_code == 2
    assert "--auth-registry" in result.stderr


def test_error_lines_never_carry_credential_shaped_text() -> None:
    assert redact("Invalid header value b'Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig'") == "Invalid header value b'Bearer ***'"
    assert redact("GET https://ci:hunter2@registry.example.com/v2/") == "GET https://***@registry.example.com/v2/"
    assert redact("POST /token?refresh_token=abc123&service=x") == "POST /token?refresh_token=***&service=x"
    assert redact("Authorization: Basic Y2k6aHVudGVyMg==") == "Authorization: Basic ***"
    plain = "manifests[0] registry.example.com/team/app:1: the spec says linux/arm64 but the image is linux/amd64"
    assert redact(plain) == plain


def test_validate_is_untouched_by_credentials_flags(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, repo_spec("r.example.com", "a/b", "1", [("x", None)]))
    assert run_cli("validate", str(spec)).exit_code == 0


def test_a_credential_helper_that_cannot_run_is_one_clear_error(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    from manifest_spec.registry.credentials import CredentialsError, run_helper

    helper = tmp_path / "docker-credential-broken"
    helper.write_text("#!/bin/sh\necho never\n")
    helper.chmod(0o644)  # not executable
    monkeypatch.setenv("PATH", str(tmp_path))  # type: ignore[attr-defined]
    with pytest.raises(CredentialsError, match="docker-credential-broken cannot be run for registry.example.com"):
        run_helper("broken", "registry.example.com")


def test_a_lock_that_cannot_be_written_is_one_clear_error(registry: Registry, tmp_path: Path) -> None:
    from support.images import push_image

    push_image(registry.url, "t/lockdir", "amd64")
    spec = write_spec(tmp_path, repo_spec(registry.host, "t/lockdir", "1", [("amd64", None)]), "app.yaml")
    (tmp_path / "app.lock").mkdir()  # a directory where the lock should go
    result = run_cli("lock", str(spec))
    assert result.exit_code == 1
    assert "app.lock: cannot write the lock" in result.stderr and "a bug" not in result.stderr
    assert not (tmp_path / "app.lock.tmp").exists()
