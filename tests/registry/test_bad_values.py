"""Bad values get one clear line and the documented exit code; secrets never reach the output.

Bad flags, trailing newlines, broken docker configs and credential helpers, CA variables naming
nothing, registry manifests of the wrong shape, lock files of the wrong shape, limits, sha512
digests, and tokens that cannot go in a header. README "What is tested" counts the kinds here.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from support.clirun import assert_clean_failure, assert_ok, digest_line, write_spec
from support.clirun import run_cli as cli
from support.faults import FaultProxy, corrupt_body, serve
from support.images import DOCKER_MANIFEST, PushedImage, push_image
from support.registry import Registry
from support.specs import repo_spec, spec
from support.tokenserver import TokenServer

from manifest_spec.cli.main import main
from manifest_spec.oci.reference import parse_reference
from manifest_spec.registry import credentials
from manifest_spec.scrub import RedactingFormatter, remember
from manifest_spec.specfile.spec import load_schema, python_pattern

REPO_ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "june", "june:B4d-values-pw"


@pytest.fixture
def image(registry: Registry, repo_name: str) -> PushedImage:
    return push_image(registry.url, repo_name, "amd64")


def one_member(host: str, repo: str, ref: str = ":amd64") -> dict[str, Any]:
    return spec(f"{host}/{repo}:v1", (f"{host}/{repo}{ref}", "amd64"))


def push(tmp_path: Path, the_spec: Any, *flags: str, env: dict[str, str] | None = None) -> Any:
    return cli(*flags, "push", "from-spec", str(write_spec(tmp_path, the_spec)), env=env)


# -- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "-inf", "0", "abc"])
def test_a_timeout_that_is_no_usable_number_is_a_usage_error(value: str) -> None:
    result = CliRunner().invoke(main, ["--timeout", value, "validate", str(REPO_ROOT / "specs" / "app.yaml")])
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.stderr and "Traceback" not in result.output


# -- trailing newlines: every pattern in the schema and the code ------------------------------------


@pytest.mark.parametrize("text", ['tags: ["v1\\n"]', "tags:\n  - |\n    v1"], ids=["escaped", "block-scalar"])
def test_a_tag_with_a_trailing_newline_is_invalid(tmp_path: Path, text: str) -> None:
    path = write_spec(tmp_path, f"image: r.example/a:v1\n{text}\nmanifests:\n  - image: r.example/a:amd64\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1 and "invalid tag 'v1\\n'" in result.stdout, result.stdout


def _schema_patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            yield from _schema_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_patterns(item)


def test_every_schema_pattern_runs_without_a_newline_loophole() -> None:
    patterns = list(_schema_patterns(load_schema()))
    assert patterns
    for pattern in patterns:
        assert not pattern.endswith("$") or python_pattern(pattern).endswith(r"\Z"), pattern
    assert re.search(python_pattern("^[a-z0-9]+$"), "v1") and not re.search(python_pattern("^[a-z0-9]+$"), "v1\n")


def test_no_regex_in_the_code_ends_in_a_dollar() -> None:
    """`$` matches before a final newline in Python: the code uses fullmatch or \\Z instead."""
    found = []
    for source in (REPO_ROOT / "manifest_spec").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("compile", "match", "search", "fullmatch"):
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.rstrip(")").endswith("$"):
                        found.append(f"{source.name}:{node.lineno}: {arg.value}")
    assert not found, found


# -- credential helpers and docker config entries --------------------------------------------------


def helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A real `docker-credential-test` on PATH whose calls are counted in calls.log."""
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    program = directory / "docker-credential-test"
    program.write_text(f"#!{sys.executable}\nimport sys, time\nsys.stdin.read()\nopen({str(log)!r}, 'a').write('call\\n')\n{body}\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}:{os.environ['PATH']}")
    return log


def docker_config(tmp_path: Path, config: Any) -> dict[str, str]:
    directory = tmp_path / "docker"
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    return {"DOCKER_CONFIG": str(directory)}


def three_members(registry: Registry, repo: str) -> dict[str, Any]:
    for arch in ("amd64", "arm64", "s390x"):
        push_image(registry.url, repo, arch, architecture=arch)
    return repo_spec(registry.host, repo, "v1", [(a, a) for a in ("amd64", "arm64", "s390x")])


@pytest.mark.parametrize("kind", ["fails", "hangs"])
def test_a_broken_credential_helper_runs_once_per_registry(
    registry: Registry, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    log = helper(tmp_path, monkeypatch, "sys.stderr.write('boom\\n'); sys.exit(3)" if kind == "fails" else "time.sleep(30)")
    monkeypatch.setattr(credentials, "HELPER_TIMEOUT", 1.0)
    the_spec = three_members(registry, repo_name)
    started = time.monotonic()
    result = push(tmp_path, the_spec, env=docker_config(tmp_path, {"credHelpers": {registry.host: "test"}}))
    assert_clean_failure(result, "docker-credential-test")
    assert log.read_text().count("call") == 1
    assert time.monotonic() - started < 5


def test_a_helper_printing_bytes_that_are_not_utf8(registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper(tmp_path, monkeypatch, "sys.stdout.buffer.write(b'\\xff\\xfe{}')")
    result = push(tmp_path, one_member(registry.host, repo_name), env=docker_config(tmp_path, {"credHelpers": {registry.host: "test"}}))
    assert_clean_failure(result, "docker-credential-test printed bytes that are not UTF-8")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"auths": {"HOST": {"auth": "not base64!"}}}, "auths['HOST'].auth is not base64"),
        ({"auths": {"HOST": {"auth": b64("no-colon")}}}, "auths['HOST'].auth decodes to no user:password"),
        ({"auths": ["HOST"]}, "`auths` is a list"),
        ({"auths": {"HOST": "user:pw"}}, "auths['HOST'] is a text, not an object"),
        ({"credHelpers": ["test"]}, "`credHelpers` is a list"),
        ({"credsStore": 5}, "`credsStore` is a number"),
    ],
    ids=["auth-not-base64", "auth-without-colon", "auths-a-list", "entry-a-string", "credhelpers-a-list", "credsstore-a-number"],
)
def test_a_broken_docker_config_entry_is_named(
    registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path, config: dict[str, Any], fragment: str
) -> None:
    text = json.dumps(config).replace("HOST", registry.host)
    env = docker_config(tmp_path, json.loads(text))
    result = push(tmp_path, one_member(registry.host, repo_name), env=env)
    assert_clean_failure(result, str(tmp_path / "docker" / "config.json"), fragment.replace("HOST", registry.host))


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_ca_variable_naming_a_missing_file(registry: Registry, repo_name: str, tmp_path: Path, variable: str) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    result = CliRunner().invoke(main, ["inspect", f"{registry.host}/{repo_name}:v1"], env={variable: missing})
    assert_clean_failure(result, f"{variable}={missing}: no such CA file")


# -- what the registry sends, and lock files, checked for shape -------------------------------------


@pytest.mark.parametrize(
    ("change", "fragment"),
    [({"layers": 5}, "layers is a number, not a list"), ({"config": "x"}, "config is a text, not a descriptor"),
     ({"layers": [{"digest": "sha256:" + "0" * 64, "size": "12", "mediaType": "x"}]}, "layers[0].size is a text")],
    ids=["layers-a-number", "config-a-string", "size-a-string"],
)
def test_a_manifest_of_the_wrong_shape_is_refused_before_use(
    registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path, change: dict[str, Any], fragment: str
) -> None:
    body = json.dumps({**json.loads(image.manifest_bytes), **change}).encode()
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", r"/manifests/amd64$", serve(body, DOCKER_MANIFEST))
        assert_clean_failure(push(tmp_path, one_member(proxy.host, repo_name)), "malformed", fragment)


@pytest.mark.parametrize(
    ("lock", "fragment"),
    [([], "no `lockVersion`"), ({"lockVersion": 1, "members": {}}, "no `tags`"),
     ({"lockVersion": "1"}, "`lockVersion` is a text, not a number")],
    ids=["a-list", "members-a-mapping", "version-a-string"],
)
def test_a_lock_file_of_the_wrong_shape(registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path, lock: Any, fragment: str) -> None:
    lock_file = tmp_path / "app.lock"
    lock_file.write_text(json.dumps(lock))
    spec = str(write_spec(tmp_path, one_member(registry.host, repo_name)))
    result = cli("push", "from-spec", spec, "--lock-file", str(lock_file))
    assert_clean_failure(result, "not a manifest-spec lock", fragment)


# -- limits named with real numbers -------------------------------------------------------------


def test_too_many_members_names_the_limit(tmp_path: Path) -> None:
    members = [(f"r.example/a:m{i}", "amd64") for i in range(5000)]
    result = CliRunner().invoke(main, ["validate", str(write_spec(tmp_path, spec("r.example/a:v1", *members)))])
    assert result.exit_code == 1 and "5000 members; at most 500" in result.stdout, result.stdout[:500]
    assert "alias bomb" not in result.stdout


def test_deep_nesting_names_the_limit(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "image: r.example/a:v1\nx: " + "[" * 100 + "]" * 100 + "\nmanifests: []\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1 and "nests more than 64 levels deep; at most 64" in result.stdout, result.stdout


# -- sha512 --------------------------------------------------------------------------------------


def test_sha512_digests_are_accepted_and_verified(registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path) -> None:
    by_sha512 = "sha512:" + hashlib.sha512(image.manifest_bytes).hexdigest()
    assert parse_reference(f"{registry.host}/{repo_name}@{by_sha512}").digest == by_sha512
    with FaultProxy(registry.host) as proxy:  # distribution 2.8.2 stores by sha256 only: the proxy serves sha512
        rule = proxy.inject("GET", rf"/manifests/{by_sha512}$", serve(image.manifest_bytes, DOCKER_MANIFEST))
        result = push(tmp_path, one_member(proxy.host, repo_name, f"@{by_sha512}"))
        assert_ok(result)
        assert rule.hits == 1 and digest_line(result)
        proxy.clear()
        proxy.inject("GET", rf"/manifests/{by_sha512}$", lambda r: corrupt_body()(serve(image.manifest_bytes, DOCKER_MANIFEST)(r)))
        assert_clean_failure(push(tmp_path, one_member(proxy.host, repo_name, f"@{by_sha512}")), "not the " + by_sha512)


# -- secrets ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with TokenServer(tmp_path_factory.mktemp("tokens"), users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture(scope="module")
def token_realm(token_front: FaultProxy) -> str:
    """`token_registry` (conftest) sends clients through `token_front` for their tokens."""
    return f"http://{token_front.host}/token"


def test_a_token_with_a_newline_is_refused_without_showing_it(
    tokens: TokenServer, token_front: FaultProxy, token_registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    front, registry = token_front, token_registry
    push_image(registry.url, repo_name, "amd64", session=tokens.bearer_session([(repo_name, "pull,push")]))
    token = tokens.mint(USER, [(repo_name, "pull,push")])
    head, tail = token[: len(token) // 2], token[len(token) // 2 :]
    front.inject("GET", r"^/token", serve(json.dumps({"token": f"{head}\n{tail}"}).encode(), "application/json"))
    path = str(write_spec(tmp_path, one_member(registry.host, repo_name)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MANIFEST_SPEC_", "DOCKER_"))}
    run = subprocess.run(
        [sys.executable, "-m", "manifest_spec", "--debug", "--plain-http", "--username", USER, "--password-stdin", "push", "from-spec", path],
        input=PASSWORD, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env={**env, "HOME": str(tmp_path)}, check=False,
    )
    assert run.returncode == 1, run.stderr
    # The last line, --debug's included: a failed run lets its reads still in flight end first (api.Run).
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "characters an HTTP header cannot carry" in last, last
    everything = run.stdout + run.stderr
    for piece in (head, tail, head[-12:], tail[:12], PASSWORD):
        assert piece not in everything, f"a piece of a secret is in the output: {piece[:6]}…"
    assert "Traceback" not in everything
    front.clear()


def test_an_unexpected_error_and_its_debug_traceback_are_scrubbed(registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a bug that quotes the password {PASSWORD}")

    monkeypatch.setattr("manifest_spec.api.Run.prepare", broken)  # where a push from-spec resolves
    result = cli("--username", USER, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, one_member(registry.host, repo_name))), input=PASSWORD)
    assert result.exit_code == 1 and "unexpected RuntimeError" in result.stderr
    assert PASSWORD not in result.output and PASSWORD.split(":")[1] not in result.output
    remember(PASSWORD)
    try:
        raise RuntimeError(f"with {PASSWORD} inside")
    except RuntimeError:
        import logging

        record = logging.LogRecord("manifest_spec", logging.DEBUG, __file__, 1, "unexpected error", None, sys.exc_info())
    assert PASSWORD not in RedactingFormatter("%(message)s").format(record)


@pytest.mark.parametrize("value", ["", "http://registry.example.com", "registry.example.com/", " registry.example.com"])
def test_an_auth_registry_that_is_not_a_host_is_a_usage_error(value: str) -> None:
    # Empty (an unset CI variable) must not mean "send the credentials to every registry".
    result = CliRunner().invoke(main, ["--auth-registry", value, "--username", "u", "--password", "p", "inspect", "127.0.0.1:1/a/b:1"])
    assert result.exit_code == 2 and "is not HOST or HOST:PORT" in result.stderr


def test_credentials_that_are_not_utf8_are_a_usage_error() -> None:
    # A real process: stdin's undecodable bytes arrive as surrogates, as they do for users.
    result = subprocess.run([sys.executable, "-m", "manifest_spec", "--username", "u", "--password-stdin", "inspect", "127.0.0.1:1/a/b:1"],
                            input=b"SECR\xffET", capture_output=True, timeout=60)
    assert result.returncode == 2 and b"not valid UTF-8" in result.stderr and b"SECR" not in result.stderr


def test_control_characters_from_a_registry_are_shown_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from manifest_spec.cli import output

    output.report_error("registry said: \x1b[31mred\x1b[0m\r\nsecond line")
    assert capsys.readouterr().err == "error: registry said: \\x1b[31mred\\x1b[0m\\r\\nsecond line\n"
