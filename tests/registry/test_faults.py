"""Hostile registries and broken networks, through the fault proxy in front of the real registry.

For each fault: retried and the push succeeds, or one clear line and exit 1; never a traceback,
never a false success; the target tag is unchanged or complete. README "What is tested" counts
the fault kinds here and in test_retries.py.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import requests
from click.testing import CliRunner, Result
from support.clirun import assert_clean_failure, assert_ok, digest_line, tag_digest, write_spec
from support.clirun import run_cli as cli
from support.faults import FaultProxy, SilentServer, drip, error, redirect, reset_connections, serve, set_header, truncate, upload_session_instead
from support.images import PushedImage, get_blob, push_blob, push_image
from support.registry import Registry, free_port
from support.specs import member, spec
from support.tokenserver import TokenServer, record_authorization

from manifest_spec.cli.main import main
from manifest_spec.registry import transport

UNAVAILABLE = error(503, "UNAVAILABLE", "service unavailable")
USER, PASSWORD = "ivy", "ivy:Fault-s3cret"


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib3's backoff (0.5, 1, 2, 4 s) would make the tests that exhaust retries slow."""
    original = transport.make_retry
    monkeypatch.setattr(transport, "make_retry", lambda attempts: original(attempts).new(backoff_factor=0, backoff_jitter=0))


@pytest.fixture
def image(registry: Registry, repo_name: str) -> PushedImage:
    return push_image(registry.url, repo_name, "amd64")


def spec_for(host: str, source: str, target: Optional[str] = None, tag: str = "v1", source_host: Optional[str] = None) -> dict[str, Any]:
    return spec(f"{host}/{target or source}:{tag}", (f"{source_host or host}/{source}:amd64", "amd64"))


def push(tmp_path: Path, the_spec: dict[str, Any], *flags: str, login: bool = False) -> Result:
    account = ("--username", USER, "--password-stdin") if login else ()
    return cli(*account, *flags, "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=PASSWORD if login else None)


# -- 1. a write that did not land is never a success --------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303])
def test_an_index_put_redirected_to_a_get_fails_and_the_tag_keeps_its_index(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path, status: int
) -> None:
    before = digest_line(push(tmp_path, spec_for(registry.host, repo_name, f"{repo_name}-t")))[0]
    push_image(registry.url, repo_name, "arm64", architecture="arm64")
    changed = spec_for(fault_proxy.host, repo_name, f"{repo_name}-t")
    changed["manifests"].append(member(f"{fault_proxy.host}/{repo_name}:arm64", "arm64"))
    fault_proxy.inject("PUT", r"/manifests/v1$", redirect(status, "/v2/"), forward=False)  # /v2/ answers 200 to a GET
    line = assert_clean_failure(push(tmp_path, changed), f"{status} redirect", "did not land")
    assert "Digest:" not in line
    assert tag_digest(registry.url, f"{repo_name}-t", "v1") == before
    assert fault_proxy.requests("GET").count("/v2/") == 0  # not followed as a GET


def test_an_index_put_answered_200_without_landing_is_a_failure(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path
) -> None:
    fault_proxy.inject("PUT", r"/manifests/v1$", serve(b"<html>Saved!</html>", "text/html", digest_header=False), forward=False)
    assert_clean_failure(push(tmp_path, spec_for(fault_proxy.host, repo_name)), "without a digest", "holds nothing")
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_an_index_put_that_landed_without_a_digest_header_is_confirmed(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path
) -> None:
    fault_proxy.inject("PUT", r"/manifests/v1$", set_header("Docker-Content-Digest", None))
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name))
    assert_ok(result)
    assert fault_proxy.requests("HEAD").count(f"/v2/{repo_name}/manifests/v1") == 2  # before (is it there?) and after
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


def test_a_307_of_the_index_put_is_followed_with_its_body(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path
) -> None:
    fault_proxy.inject("PUT", r"/manifests/v1$", redirect(307, f"/v2/{repo_name}/manifests/v1?moved=1"), times=1, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name))
    assert_ok(result)
    assert fault_proxy.requests("PUT") == [f"/v2/{repo_name}/manifests/v1"] * 2
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


def test_a_write_redirected_in_a_loop_stops(registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path) -> None:
    fault_proxy.inject("PUT", r"/manifests/v1", redirect(307, f"/v2/{repo_name}/manifests/v1?again=1"), forward=False)
    assert_clean_failure(push(tmp_path, spec_for(fault_proxy.host, repo_name)), "more than 5 redirects of a PUT")
    assert len(fault_proxy.requests("PUT")) == 5
    assert tag_digest(registry.url, repo_name, "v1") is None


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return USER, PASSWORD


def test_a_308_to_another_host_gets_no_credentials_and_its_401_is_blamed_on_it(
    basic_registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    session = requests.Session()
    session.auth = (USER, PASSWORD)
    push_image(basic_registry.url, repo_name, "amd64", session=session)
    with FaultProxy(basic_registry.host) as front, FaultProxy(basic_registry.host) as elsewhere:
        seen = record_authorization(elsewhere)
        front.inject("PUT", r"/manifests/v1$", redirect(308, f"http://{elsewhere.host}/v2/{repo_name}/manifests/v1"), forward=False)
        result = cli("--username", USER, "--password-stdin", "push", "from-spec",
                     str(write_spec(tmp_path, spec_for(front.host, repo_name))), input=PASSWORD)
    line = assert_clean_failure(result, elsewhere.host, "401", f"credentials go only to {front.host}")
    assert "check --username" not in line  # the registry did not refuse; the redirect target did
    assert [(m, auth) for m, _, auth in seen] == [("PUT", "")]
    assert tag_digest_with(basic_registry, repo_name, "v1", session) is None


def tag_digest_with(registry: Registry, repo: str, tag: str, session: requests.Session) -> Optional[str]:
    response = session.head(f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": "*/*"}, timeout=10)
    return None if response.status_code == 404 else response.headers.get("Docker-Content-Digest")


# -- 2. nothing hangs; a silent peer is named in plain words ------------------------------------


def test_a_registry_dripping_bytes_trips_the_overall_deadline(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path
) -> None:
    fault_proxy.inject("GET", r"/manifests/amd64$", drip(0.1))  # ~50 s for the manifest; each byte resets a socket timeout
    started = time.monotonic()
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name), "--timeout", "1")
    assert_clean_failure(result, f"{fault_proxy.host} did not send the whole answer within 1 s")
    assert time.monotonic() - started < 10
    assert tag_digest(registry.url, repo_name, "v1") is None


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_registry_that_accepts_and_never_answers(tmp_path: Path, no_backoff: None, scheme: str) -> None:
    with SilentServer() as silent:
        started = time.monotonic()
        path = str(write_spec(tmp_path, spec_for(silent.host, "team/app")))
        plain = ["--plain-http"] if scheme == "http" else []  # https: the TLS handshake is what never ends
        result = CliRunner().invoke(main, [*plain, "--timeout", "1", "push", "from-spec", path])
    assert_clean_failure(result, f"{silent.host} did not answer within 1 s (after 2 tries)")  # the retry window: 2 timeouts
    assert "HTTPConnectionPool" not in result.stderr and "Max retries" not in result.stderr
    assert time.monotonic() - started < 15


def test_a_refused_connection_says_so(tmp_path: Path, no_backoff: None) -> None:
    host = f"127.0.0.1:{free_port()}"
    assert_clean_failure(cli("inspect", f"{host}/team/app:v1"), f"{host}: connection refused")


def test_a_name_that_does_not_resolve_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:  # no DNS query leaves the machine
        if host == "registry.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    assert_clean_failure(cli("inspect", "registry.invalid:5000/team/app:v1"), "registry.invalid:5000: the name does not resolve")


def test_https_to_a_loopback_registry_speaking_http_falls_back_to_http(
    registry: Registry, image: PushedImage, repo_name: str, tmp_path: Path
) -> None:
    path = str(write_spec(tmp_path, spec_for(registry.host, repo_name)))
    result = CliRunner().invoke(main, ["push", "from-spec", path])  # no --plain-http
    assert_ok(result)
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


@pytest.mark.parametrize("flags", [[], ["--insecure"]], ids=["verified", "insecure"])
def test_https_to_another_registry_speaking_http_says_use_plain_http(
    registry: Registry, image: PushedImage, repo_name: str, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    monkeypatch.setattr("manifest_spec.registry.client.is_loopback", lambda host: False)  # as if it were not this machine
    result = CliRunner().invoke(main, [*flags, "inspect", f"{registry.host}/{repo_name}:amd64"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]  # after --insecure's warning
    assert f"{registry.host} speaks plain HTTP: use --plain-http" in line and line.startswith("error: ")
    assert "--insecure skips" not in line and "WRONG_VERSION" not in line


# -- 3. retries cover what breaks in real networks ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "pattern", "how"),
    [("POST", r"/blobs/uploads/$", "503"), ("POST", r"/blobs/uploads/$", "reset"),
     ("PATCH", r"/blobs/uploads/.", "503"), ("PATCH", r"/blobs/uploads/.", "reset")],
    ids=["upload-post-503", "upload-post-reset", "patch-503", "patch-reset"],
)
def test_a_broken_upload_session_is_started_again(
    registry: Registry, other_registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, method: str, pattern: str, how: str
) -> None:
    source = push_image(other_registry.url, repo_name, "amd64")
    resets = reset_connections(fault_proxy, method, pattern, times=1 if how == "reset" else 0)
    if how == "503":
        fault_proxy.inject(method, pattern, UNAVAILABLE, times=1, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name, source_host=other_registry.host))
    assert_ok(result)
    blobs = 1 + len(source.layer_digests)
    unseen = len(resets) if method == "POST" else 0  # a reset request never reaches the proxy's record
    assert len(fault_proxy.requests("POST")) + unseen == blobs + 1  # one session started again
    assert tag_digest(registry.url, repo_name, "v1") == digest_line(result)[0]


@pytest.mark.parametrize("how", ["503", "reset"])
def test_a_refused_mounts_session_that_breaks_is_started_again(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path, how: str
) -> None:
    target = f"{repo_name}-copy"
    # A registry without shared storage: each mount answered 202 with a real upload session; the
    # first PATCH into one of them breaks, so that blob starts over in a new session of its own.
    fault_proxy.inject("POST", r"mount=", upload_session_instead(registry.url, fault_proxy.host, target), forward=False)
    resets = reset_connections(fault_proxy, "PATCH", r"/blobs/uploads/.", times=1 if how == "reset" else 0)
    if how == "503":
        fault_proxy.inject("PATCH", r"/blobs/uploads/.", UNAVAILABLE, times=1, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name, target))
    assert_ok(result)
    blobs = 1 + len(image.layer_digests)
    assert len(fault_proxy.requests("POST")) == blobs + 1  # each mount once, and the one new session
    assert len(fault_proxy.requests("PATCH")) + len(resets) == blobs + 1  # a reset request is not in the proxy's record
    assert not [p for p in fault_proxy.requests("HEAD") if "/blobs/" in p]  # no HEAD before a mount
    assert tag_digest(registry.url, target, "v1") == digest_line(result)[0]


@pytest.mark.parametrize("how", ["503", "reset"])
def test_a_broken_mount_post_is_sent_again(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path, how: str
) -> None:
    resets = reset_connections(fault_proxy, "POST", r"mount=", times=1 if how == "reset" else 0)
    if how == "503":
        fault_proxy.inject("POST", r"mount=", UNAVAILABLE, times=1, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name, f"{repo_name}-copy"))
    assert_ok(result)
    assert len(fault_proxy.requests("POST")) + len(resets) == 1 + len(image.layer_digests) + 1
    assert tag_digest(registry.url, f"{repo_name}-copy", "v1") == digest_line(result)[0]


def test_an_upload_that_keeps_failing_stops_within_the_budget(
    registry: Registry, other_registry: Registry, fault_proxy: FaultProxy, repo_name: str, tmp_path: Path, no_backoff: None
) -> None:
    source = push_image(other_registry.url, repo_name, "amd64")
    # The target has the config already: one blob to copy, so the count is one blob's sessions
    # (several blobs are in flight together, and the run stops at the first that fails).
    push_blob(registry.url, repo_name, get_blob(other_registry.url, repo_name, source.config_digest))
    assert len(source.layer_digests) == 1
    fault_proxy.inject("POST", r"/blobs/uploads/$", UNAVAILABLE, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name, source_host=other_registry.host))
    assert_clean_failure(result, "copy blob", "HTTP 503")
    assert len(fault_proxy.requests("POST")) == 5  # the first session and 4 more, then stop
    assert tag_digest(registry.url, repo_name, "v1") is None


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_an_unreadable_retry_after_means_the_normal_backoff(
    registry: Registry, fault_proxy: FaultProxy, image: PushedImage, repo_name: str, tmp_path: Path, value: str
) -> None:
    fault_proxy.inject("GET", r"/manifests/amd64$", lambda r: UNAVAILABLE(r).with_header("Retry-After", value), times=1, forward=False)
    result = push(tmp_path, spec_for(fault_proxy.host, repo_name))
    assert_ok(result)
    assert fault_proxy.requests("GET").count(f"/v2/{repo_name}/manifests/amd64") == 2


# -- the auth exchange: the same retries, and the right party named ------------------------------


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with TokenServer(tmp_path_factory.mktemp("tokens"), users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture(scope="module")
def token_realm(token_front: FaultProxy) -> str:
    """`token_registry` (conftest) sends clients through `token_front` for their tokens."""
    return f"http://{token_front.host}/token"


@pytest.fixture
def token_image(tokens: TokenServer, token_registry: Registry, token_front: FaultProxy, repo_name: str) -> Iterator[PushedImage]:
    yield push_image(token_registry.url, repo_name, "amd64", session=tokens.bearer_session([(repo_name, "pull,push")]))
    token_front.clear()


@pytest.mark.parametrize("fault", ["token-cut", "challenge-cut", "token-reset", "token-503"])
def test_a_broken_auth_exchange_is_retried(
    token_registry: Registry, token_front: FaultProxy, token_image: PushedImage, repo_name: str, tmp_path: Path, fault: str
) -> None:
    if fault == "token-cut":
        token_front.inject("GET", r"^/token", truncate(20), times=1)
    elif fault == "token-reset":
        reset_connections(token_front, "GET", r"^/token", times=1)
    elif fault == "token-503":
        token_front.inject("GET", r"^/token", UNAVAILABLE, times=1, forward=False)
    with FaultProxy(token_registry.host) as front:
        if fault == "challenge-cut":
            front.inject("GET", r"/manifests/amd64$", truncate(10), times=1)  # the 401's body, cut
        result = push(tmp_path, spec_for(front.host, repo_name), login=True)
    assert_ok(result)


def test_a_token_server_failing_is_not_called_a_refusal(
    token_registry: Registry, token_front: FaultProxy, token_image: PushedImage, repo_name: str, tmp_path: Path, no_backoff: None
) -> None:
    token_front.inject("GET", r"^/token", serve(b"<html>Internal Server Error</html>", "text/html", status=500), forward=False)
    result = push(tmp_path, spec_for(token_registry.host, repo_name), login=True)
    line = assert_clean_failure(result, f"token server {token_front.host} answered HTTP 500")
    assert "refused" not in line


def test_a_token_server_that_is_down_is_named(tokens: TokenServer, repo_name: str, tmp_path: Path, no_backoff: None) -> None:
    down = f"127.0.0.1:{free_port()}"
    with Registry(tokens.registry_config(realm=f"http://{down}/token")) as registry:
        line = assert_clean_failure(push(tmp_path, spec_for(registry.host, repo_name)), f"{down}: connection refused")
    assert f"{registry.host}: connection refused" not in line
