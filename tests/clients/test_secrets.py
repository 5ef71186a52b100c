"""No secret ever reaches the output: push and inspect run as real processes with --debug.

Against an htpasswd registry and a token-auth registry, with the password given on stdin, with
--password, and as an identity token in a docker config, successful and refused runs alike:
stdout and stderr must not contain the password (plain, base64 of user:pass, URL-encoded), any
token the token server issued (or its signature), the identity token, or an Authorization header.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import quote

import pytest
import requests
from support.clirun import write_spec
from support.images import push_image
from support.registry import Registry
from support.specs import spec
from support.tokenserver import TokenServer, grants

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "grace", "Gr4ce:s3cret/with+symbols=="
ALICE, ALICE_PW = "alice", "alice:T0ken-pw"
REFRESH = "identity-token-0123456789abcdef"


def run(tmp_path: Path, *args: str, input: Optional[str] = None, docker_config: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    """`python -m manifest_spec --debug --plain-http ARGS` in a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANIFEST_SPEC_", "DOCKER_", "REGISTRY_AUTH", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    if docker_config:
        env["DOCKER_CONFIG"] = str(docker_config)
    return subprocess.run(
        [sys.executable, "-m", "manifest_spec", "--debug", "--plain-http", *args],
        input=input or "", capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=env, check=False,
    )


def assert_no_secrets(result: subprocess.CompletedProcess[str], secrets: list[str]) -> None:
    output = result.stdout + result.stderr
    assert "DEBUG manifest_spec" in result.stderr, "the run did not log at debug level: nothing was checked"
    for secret in secrets:
        assert secret and secret not in output, f"a secret ({secret[:4]}…) is in the output"
    assert "Authorization" not in output and "Basic " not in output and "Bearer " not in output


def password_forms(user: str, password: str) -> list[str]:
    pair = f"{user}:{password}".encode()
    return [password, quote(password, safe=""), base64.b64encode(pair).decode(), base64.b64encode(pair).decode().rstrip("=")]


def spec_path(tmp_path: Path, host: str, source_repo: str, target: str, name: str) -> str:
    the_spec = spec(f"{host}/{target}", (f"{host}/{source_repo}:amd64", "amd64"))
    return str(write_spec(tmp_path, the_spec, name=name))


# -- htpasswd ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return USER, PASSWORD


@pytest.fixture(scope="module")
def basic_registry(basic_registry: Registry) -> Registry:
    """conftest's, with secret/src:amd64 pushed into it."""
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    push_image(basic_registry.url, "secret/src", "amd64", session=session)
    return basic_registry


@pytest.mark.parametrize("how", ["stdin", "flag"])
def test_htpasswd_push_and_inspect_with_debug_print_no_secret(basic_registry: Registry, tmp_path: Path, how: str) -> None:
    flags = ["--username", USER, "--password-stdin"] if how == "stdin" else ["--username", USER, "--password", PASSWORD]
    stdin = PASSWORD if how == "stdin" else None
    host = basic_registry.host
    pushed = run(tmp_path, *flags, "push", "from-spec", spec_path(tmp_path, host, "secret/src", f"secret/app-{how}:v1", "p.yaml"), input=stdin)
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith("Digest: sha256:")
    assert "/blobs/uploads/" in pushed.stderr  # the debug log covered the upload requests too
    inspected = run(tmp_path, *flags, "inspect", f"{host}/secret/app-{how}:v1", input=stdin)
    assert inspected.returncode == 0, inspected.stderr
    for result in (pushed, inspected):
        assert_no_secrets(result, password_forms(USER, PASSWORD))


def test_htpasswd_refused_run_with_debug_prints_no_secret(basic_registry: Registry, tmp_path: Path) -> None:
    wrong = "Wr0ng:guess-42"
    refused = run(tmp_path, "--username", USER, "--password", wrong, "inspect", f"{basic_registry.host}/secret/src:amd64")
    assert refused.returncode == 1 and "error:" in refused.stderr
    assert_no_secrets(refused, password_forms(USER, wrong))


# -- token auth --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    policy = grants({ALICE: [("*", "pull,push")]})
    with TokenServer(tmp_path_factory.mktemp("tokens"), users={ALICE: ALICE_PW}, refresh_tokens={REFRESH: ALICE}, policy=policy) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(tokens: TokenServer, token_registry: Registry) -> Registry:
    """conftest's, with secret/src:amd64 pushed into it."""
    push_image(token_registry.url, "secret/src", "amd64", session=tokens.bearer_session([("secret/src", "pull,push")]))
    return token_registry


def token_secrets(tokens: TokenServer, issued_before: int) -> list[str]:
    fresh = tokens.issued[issued_before:]
    assert fresh, "no token was issued: nothing was checked"
    return [part for token in fresh for part in (token, token.rsplit(".", 1)[1])]


@pytest.mark.parametrize("how", ["stdin", "flag"])
def test_token_push_and_inspect_with_debug_print_no_secret(tokens: TokenServer, token_registry: Registry, tmp_path: Path, how: str) -> None:
    flags = ["--username", ALICE, "--password-stdin"] if how == "stdin" else ["--username", ALICE, "--password", ALICE_PW]
    stdin = ALICE_PW if how == "stdin" else None
    host = token_registry.host
    before = len(tokens.issued)
    pushed = run(tmp_path, *flags, "push", "from-spec", spec_path(tmp_path, host, "secret/src", f"secret/app-{how}:v1", "p.yaml"), input=stdin)
    assert pushed.returncode == 0, pushed.stderr
    inspected = run(tmp_path, *flags, "inspect", f"{host}/secret/app-{how}:v1", input=stdin)
    assert inspected.returncode == 0, inspected.stderr
    for result in (pushed, inspected):
        assert_no_secrets(result, password_forms(ALICE, ALICE_PW) + token_secrets(tokens, before))


def test_identity_token_with_debug_prints_no_secret(tokens: TokenServer, token_registry: Registry, tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {token_registry.host: {"identitytoken": REFRESH}}}))
    before = len(tokens.issued)
    host = token_registry.host
    pushed = run(tmp_path, "push", "from-spec", spec_path(tmp_path, host, "secret/src", "secret/app:idt", "p.yaml"), docker_config=docker)
    assert pushed.returncode == 0, pushed.stderr
    assert_no_secrets(pushed, [REFRESH, *token_secrets(tokens, before)])


def test_token_refused_run_with_debug_prints_no_secret(tokens: TokenServer, token_registry: Registry, tmp_path: Path) -> None:
    wrong = "n0t:alice-pw"
    refused = run(tmp_path, "--username", ALICE, "--password-stdin", "inspect", f"{token_registry.host}/secret/src:amd64", input=wrong)
    assert refused.returncode == 1 and "error:" in refused.stderr
    assert_no_secrets(refused, password_forms(ALICE, wrong))
