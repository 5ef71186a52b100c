"""Where credentials come from: flags, environment, docker config (auths, credsStore, credHelpers
with real `docker-credential-<name>` executables on PATH) and podman's auth.json.

The lookup rules are checked at unit level (find_credentials with an explicit environment); each
source is then used for real against a docker-registry protected by htpasswd, which refuses the
same command without credentials.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import requests
from support.clirun import assert_clean_failure, assert_ok, digest_line, write_spec
from support.clirun import run_cli as cli
from support.images import PushedImage, get_manifest, push_image
from support.registry import Registry
from support.specs import spec

from manifest_spec.registry import credentials as credentials_module
from manifest_spec.registry.credentials import Credentials, CredentialsError, find_credentials

USER, PASSWORD = "dave", "pa:ss-w0rd"  # a ':' in the password: split at the first one only
HOST = "registry.test:5000"
HUB_KEY = "https://index.docker.io/v1/"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- credential helpers: real executables on PATH ----------------------------------------------


class Helpers:
    """Writes `docker-credential-<name>` programs into a directory put first on PATH."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log = directory / "calls.log"

    def add(self, name: str, answers: dict[str, tuple[str, str]], *, exit_code: int = 0, stderr: str = "", sleep: float = 0, raw: Optional[str] = None) -> None:
        """answers: server URL -> (Username, Secret); an unknown server: "credentials not found", exit 1."""
        program = self.directory / f"docker-credential-{name}"
        program.write_text(
            f"#!{sys.executable}\n"
            "import json, sys, time\n"
            f"server = sys.stdin.read()\n"
            f"open({str(self.log)!r}, 'a').write({name!r} + ' ' + ' '.join(sys.argv[1:]) + ' ' + server + '\\n')\n"
            f"time.sleep({sleep!r})\n"
            f"if {stderr!r}:\n    sys.stderr.write({stderr!r} + '\\n'); sys.exit({exit_code or 1!r})\n"
            f"if {raw!r} is not None:\n    print({raw!r}); sys.exit(0)\n"
            f"answers = {json.dumps(answers)!r}\n"
            "found = json.loads(answers).get(server)\n"
            "if not found:\n    print('credentials not found in native keychain'); sys.exit(1)\n"
            "print(json.dumps({'ServerURL': server, 'Username': found[0], 'Secret': found[1]}))\n"
        )
        program.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helpers:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}:{__import__('os').environ['PATH']}")
    return Helpers(directory)


def write_config(directory: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(config))
    return path


# -- unit level: find_credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"auth": b64(f"{USER}:{PASSWORD}")}, Credentials(USER, PASSWORD)),
        ({"username": USER, "password": PASSWORD}, Credentials(USER, PASSWORD)),
        ({"identitytoken": "idt-123"}, Credentials(identity_token="idt-123")),
        ({"auth": b64(f"{USER}:"), "identitytoken": "idt-123"}, Credentials(USER, "", "idt-123")),
    ],
    ids=["auth-base64", "username-password", "identitytoken", "auth-and-identitytoken"],
)
def test_auths_entries(tmp_path: Path, entry: dict[str, str], expected: Credentials) -> None:
    write_config(tmp_path / "docker", {"auths": {HOST: entry, "other.test": {"auth": b64("x:y")}}})
    assert find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")}) == expected


def test_auths_keys_with_a_scheme_and_no_match(tmp_path: Path) -> None:
    write_config(tmp_path / "docker", {"auths": {f"https://{HOST}": {"auth": b64("u:p")}}})
    env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    assert find_credentials(HOST, environ=env) == Credentials("u", "p")
    assert find_credentials("registry.test:5001", environ=env) is None  # another port is another host


def test_a_broken_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text("{not json")
    with pytest.raises(CredentialsError, match="cannot read credentials file .*config.json"):
        find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")})
    write_config(tmp_path / "bad", {"auths": {HOST: {"auth": "***not base64***"}}})
    with pytest.raises(CredentialsError, match="not base64"):
        find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "bad")})


@pytest.mark.parametrize("host", ["registry-1.docker.io", "docker.io", "index.docker.io"])
def test_docker_hub_uses_the_legacy_key(tmp_path: Path, helpers: Helpers, host: str) -> None:
    write_config(tmp_path / "docker", {"auths": {HUB_KEY: {"auth": b64("hubuser:hubpass")}}})
    assert find_credentials(host, environ={"DOCKER_CONFIG": str(tmp_path / "docker")}) == Credentials("hubuser", "hubpass")
    helpers.add("hub", {HUB_KEY: ("hubuser", "from-helper")})
    write_config(tmp_path / "store", {"credsStore": "hub"})
    assert find_credentials(host, environ={"DOCKER_CONFIG": str(tmp_path / "store")}) == Credentials("hubuser", "from-helper")
    assert helpers.calls()[-1] == f"hub get {HUB_KEY}"  # the helper is asked for the legacy URL


def test_docker_cfg_may_be_a_directory_or_a_file(tmp_path: Path) -> None:
    write_config(tmp_path / "dir", {"auths": {HOST: {"auth": b64("from:dir")}}})
    path = write_config(tmp_path / "elsewhere", {"auths": {HOST: {"auth": b64("from:file")}}}, name="my-docker.json")
    env = {"DOCKER_CONFIG": str(tmp_path / "nowhere")}
    assert find_credentials(HOST, docker_cfg=str(tmp_path / "dir"), environ=env) == Credentials("from", "dir")
    assert find_credentials(HOST, docker_cfg=str(path), environ=env) == Credentials("from", "file")
    secret = write_config(tmp_path / "k8s-secret", {"auths": {HOST: {"auth": b64("from:secret")}}}, name=".dockerconfigjson")
    assert find_credentials(HOST, docker_cfg=str(secret), environ=env) == Credentials("from", "secret")  # no suffix
    assert find_credentials(HOST, environ={"DOCKER_CONFIG": str(secret)}) == Credentials("from", "secret")


def test_default_locations_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home / ".config" / "containers", {"auths": {HOST: {"auth": b64("podman:home")}}}, name="auth.json")
    assert find_credentials(HOST, environ={"HOME": str(home)}) == Credentials("podman", "home")
    write_config(tmp_path / "xdg" / "containers", {"auths": {HOST: {"auth": b64("podman:xdg")}}}, name="auth.json")
    assert find_credentials(HOST, environ={"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}) == Credentials("podman", "xdg")
    write_config(home / ".docker", {"auths": {HOST: {"auth": b64("docker:home")}}})
    assert find_credentials(HOST, environ={"HOME": str(home)}) == Credentials("docker", "home")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"credHelpers": {HOST: "one"}, "credsStore": "store", "auths": {HOST: {"auth": b64("auths:pw")}}}, Credentials("helper", "h-pw")),
        ({"credsStore": "store", "auths": {HOST: {"auth": b64("auths:pw")}}}, Credentials("store", "s-pw")),
        ({"credsStore": "empty", "auths": {HOST: {"auth": b64("auths:pw")}}}, Credentials("auths", "pw")),
        ({"credHelpers": {"other.test": "one"}, "auths": {HOST: {"auth": b64("auths:pw")}}}, Credentials("auths", "pw")),
        ({"credHelpers": {HOST: "empty"}, "auths": {HOST: {"auth": b64("auths:pw")}}}, None),
    ],
    ids=["credHelpers-first", "then-credsStore", "store-without-an-entry-then-auths", "helper-for-another-host", "host-helper-says-not-found"],
)
def test_precedence_cred_helpers_then_creds_store_then_auths(tmp_path: Path, helpers: Helpers, config: dict[str, Any], expected: Optional[Credentials]) -> None:
    helpers.add("one", {HOST: ("helper", "h-pw")})
    helpers.add("store", {HOST: ("store", "s-pw")})
    helpers.add("empty", {})
    write_config(tmp_path / "docker", config)
    assert find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")}) == expected
    assert all(call.split()[1:] == ["get", HOST] for call in helpers.calls())  # `get`, the server on stdin


def test_a_helper_answering_token_gives_an_identity_token(tmp_path: Path, helpers: Helpers) -> None:
    helpers.add("idt", {HOST: ("<token>", "refresh-xyz")})
    write_config(tmp_path / "docker", {"credHelpers": {HOST: "idt"}})
    assert find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")}) == Credentials(identity_token="refresh-xyz")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda h: None, "docker-credential-broken is not installed"),
        (lambda h: h.add("broken", {}, stderr="error getting credentials - err: exit status 1, out: `keychain locked`"), "keychain locked"),
        (lambda h: h.add("broken", {}, raw="<html>not json</html>"), "not its JSON answer"),
    ],
    ids=["missing", "fails", "garbage"],
)
def test_a_broken_helper_is_a_clear_error(tmp_path: Path, helpers: Helpers, make: Callable[[Helpers], None], message: str) -> None:
    make(helpers)
    write_config(tmp_path / "docker", {"credHelpers": {HOST: "broken"}})
    with pytest.raises(CredentialsError, match=message) as caught:
        find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert "docker-credential-broken" in str(caught.value) and HOST in str(caught.value)


def test_a_hanging_helper_times_out(tmp_path: Path, helpers: Helpers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials_module, "HELPER_TIMEOUT", 1.0)
    helpers.add("slow", {HOST: ("u", "p")}, sleep=30)
    write_config(tmp_path / "docker", {"credsStore": "slow"})
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=r"docker-credential-slow did not answer within 1 s"):
        find_credentials(HOST, environ={"DOCKER_CONFIG": str(tmp_path / "docker")})
    assert time.monotonic() - started < 5


def test_podman_auth_files(tmp_path: Path) -> None:
    auth_file = write_config(tmp_path / "podman", {"auths": {HOST: {"auth": b64("podman:file")}}}, name="auth.json")
    write_config(tmp_path / "run" / "containers", {"auths": {HOST: {"auth": b64("podman:runtime")}}}, name="auth.json")
    write_config(tmp_path / "docker", {"auths": {HOST: {"auth": b64("docker:config")}}})
    empty = {"DOCKER_CONFIG": str(tmp_path / "no-docker"), "HOME": str(tmp_path / "home")}
    assert find_credentials(HOST, environ={**empty, "REGISTRY_AUTH_FILE": str(auth_file), "XDG_RUNTIME_DIR": str(tmp_path / "run")}) == Credentials("podman", "file")
    assert find_credentials(HOST, environ={**empty, "XDG_RUNTIME_DIR": str(tmp_path / "run")}) == Credentials("podman", "runtime")
    assert find_credentials(HOST, environ={**empty, "DOCKER_CONFIG": str(tmp_path / "docker"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}) == Credentials("docker", "config")
    assert find_credentials(HOST, environ=empty) is None


def test_credentials_never_print_their_secrets() -> None:
    text = repr(Credentials(USER, PASSWORD, "idt-secret")) + str(Credentials(USER, PASSWORD, "idt-secret"))
    assert PASSWORD not in text and "idt-secret" not in text and USER in text


# -- for real, against a registry protected by htpasswd ----------------------------------------


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return USER, PASSWORD


@pytest.fixture(scope="module")
def image(basic_registry: Registry) -> PushedImage:
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    return push_image(basic_registry.url, "creds/app", "amd64", session=session)


def _setup(kind: str, host: str, tmp_path: Path, helpers: Helpers, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Optional[str]]:
    """(global flags, stdin) for one way of giving the credentials."""
    entry = {"auth": b64(f"{USER}:{PASSWORD}")}
    if kind == "password-stdin":
        return ["--username", USER, "--password-stdin"], PASSWORD + "\n"
    if kind == "password-flag":
        return ["--username", USER, "--password", PASSWORD], None
    if kind == "environment":
        monkeypatch.setenv("MANIFEST_SPEC_USERNAME", USER)
        monkeypatch.setenv("MANIFEST_SPEC_PASSWORD", PASSWORD)
        return [], None
    if kind == "DOCKER_CONFIG":
        write_config(tmp_path / "docker", {"auths": {host: entry}})
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        return [], None
    if kind == "docker-cfg-dir":
        write_config(tmp_path / "docker", {"auths": {host: {"username": USER, "password": PASSWORD}}})
        return ["--docker-cfg", str(tmp_path / "docker")], None
    if kind == "docker-cfg-file":
        return ["--docker-cfg", str(write_config(tmp_path / "cfg", {"auths": {host: entry}}, name="ci-docker.json"))], None
    if kind == "credHelpers":
        helpers.add("test-helper", {host: (USER, PASSWORD)})
        write_config(tmp_path / "docker", {"credHelpers": {host: "test-helper"}, "auths": {host: {"auth": b64("wrong:wrong")}}})
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        return [], None
    if kind == "credsStore":
        helpers.add("test-store", {host: (USER, PASSWORD)})
        write_config(tmp_path / "docker", {"credsStore": "test-store", "auths": {host: {}}})
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        return [], None
    if kind == "REGISTRY_AUTH_FILE":
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(write_config(tmp_path / "podman", {"auths": {host: entry}}, name="auth.json")))
        return [], None
    if kind == "XDG_RUNTIME_DIR":
        write_config(tmp_path / "run" / "containers", {"auths": {host: entry}}, name="auth.json")
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        return [], None
    raise AssertionError(kind)


KINDS = ["password-stdin", "password-flag", "environment", "DOCKER_CONFIG", "docker-cfg-dir", "docker-cfg-file",
         "credHelpers", "credsStore", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"]


def test_without_credentials_the_registry_refuses(basic_registry: Registry, image: PushedImage) -> None:
    assert_clean_failure(cli("inspect", f"{basic_registry.host}/creds/app:amd64"), "authentication is required")


@pytest.mark.parametrize("kind", KINDS)
def test_each_credential_source_works(
    basic_registry: Registry, image: PushedImage, tmp_path: Path, helpers: Helpers, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    flags, stdin = _setup(kind, basic_registry.host, tmp_path, helpers, monkeypatch)
    result = cli(*flags, "inspect", "--raw", f"{basic_registry.host}/creds/app:amd64", input=stdin)
    assert_ok(result)
    assert result.stdout_bytes == image.manifest_bytes
    if kind == "password-flag":
        assert "warning: --password shows in process lists" in result.stderr and "--password-stdin" in result.stderr
    else:
        assert result.stderr == ""
    if kind in ("credHelpers", "credsStore"):
        assert helpers.calls() and all(call.endswith(f" get {basic_registry.host}") for call in helpers.calls())
    assert PASSWORD not in result.output


def test_push_with_docker_config_credentials(basic_registry: Registry, image: PushedImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path / "docker", {"auths": {basic_registry.host: {"auth": b64(f"{USER}:{PASSWORD}")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    the_spec = spec(f"{basic_registry.host}/creds/list:v1", (f"{basic_registry.host}/creds/app:amd64", "amd64"))
    result = cli("push", "from-spec", str(write_spec(tmp_path, the_spec)))
    assert_ok(result)
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    assert get_manifest(basic_registry.url, "creds/list", "v1", session=session)[2] == digest_line(result)[0]


def test_flag_credentials_win_over_the_docker_config(basic_registry: Registry, image: PushedImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path / "docker", {"auths": {basic_registry.host: {"auth": b64(f"{USER}:{PASSWORD}")}}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    assert_clean_failure(cli("--username", USER, "--password-stdin", "inspect", f"{basic_registry.host}/creds/app:amd64", input="wrong"), "not accepted")


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "is not installed"), ("fails", "keychain locked"), ("hangs", "did not answer within 1 s")],
)
def test_a_broken_helper_is_one_clear_line_from_the_cli(
    basic_registry: Registry, image: PushedImage, tmp_path: Path, helpers: Helpers, monkeypatch: pytest.MonkeyPatch, kind: str, message: str
) -> None:
    monkeypatch.setattr(credentials_module, "HELPER_TIMEOUT", 1.0)
    if kind == "fails":
        helpers.add("broken", {}, stderr="keychain locked")
    elif kind == "hangs":
        helpers.add("broken", {basic_registry.host: (USER, PASSWORD)}, sleep=30)
    write_config(tmp_path / "docker", {"credHelpers": {basic_registry.host: "broken"}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    started = time.monotonic()
    assert_clean_failure(cli("inspect", f"{basic_registry.host}/creds/app:amd64"), "docker-credential-broken", message)
    assert time.monotonic() - started < 5


def test_password_needs_a_username_and_excludes_stdin(basic_registry: Registry) -> None:
    result = cli("--password", "x", "inspect", f"{basic_registry.host}/creds/app:amd64")
    assert result.exit_code == 2 and "needs --username" in result.stderr
    result = cli("--username", USER, "--password", "x", "--password-stdin", "inspect", f"{basic_registry.host}/creds/app:amd64", input="y")
    assert result.exit_code == 2 and "exclude each other" in result.stderr
