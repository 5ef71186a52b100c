"""Authentication against the real registry: Bearer tokens from a token server, Basic (htpasswd).

The registry is the real docker-registry configured per case (auth.token trusting
support/tokenserver.py, or auth.htpasswd); nothing in the client is mocked. The token server
records each request, so the tests can count them (cached tokens, no retry loops) and see which
credentials went where.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import requests
from support.clirun import assert_clean_failure, assert_ok, digest_line, write_spec
from support.clirun import run_cli as cli
from support.faults import FaultProxy, Reply
from support.images import PushedImage, get_blob, get_manifest, list_tags, push_image
from support.loopback import Loopback
from support.registry import Registry, unique_repo_name
from support.specs import spec
from support.tokenserver import (
    SERVICE,
    TokenServer,
    decode_claims,
    grants,
    record_authorization,
)

from manifest_spec.errors import RegistryError
from manifest_spec.registry import auth as auth_module
from manifest_spec.registry.auth import Challenge, parse_challenges, scopes_for
from manifest_spec.registry.client import ClientOptions, RegistryClient
from manifest_spec.registry.credentials import Credentials

ALICE, ALICE_PW = "alice", "alice-Pa55:w0rd!"  # a ':' in the password on purpose
BOB, BOB_PW = "bob", "bob-pw-2"
REFRESH = "refresh-" + secrets.token_hex(8)
POLICY = grants({None: [("*", "pull")], ALICE: [("team/*", "pull,push"), ("*", "pull")], BOB: [("*", "pull")]})
BASIC_USER, BASIC_PW = "carol", "carol:secret-1"


@pytest.fixture
def team_repo(request: pytest.FixtureRequest) -> str:
    return unique_repo_name(request.node.name, prefix="team")


# -- RFC 7235 parsing (unit) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push repository:c:pull"',
            [Challenge("bearer", {"realm": "https://auth.example.com/token", "service": "registry.example.com",
                                  "scope": "repository:a/b:pull,push repository:c:pull"})],
        ),
        ('BEARER Realm="x", SERVICE=reg', [Challenge("bearer", {"realm": "x", "service": "reg"})]),
        (r'Bearer realm="a\"b\\c",error="insufficient_scope"', [Challenge("bearer", {"realm": 'a"b\\c', "error": "insufficient_scope"})]),
        (
            'Basic realm="Registry Realm", Bearer realm="https://t/token",service="s"',
            [Challenge("basic", {"realm": "Registry Realm"}), Challenge("bearer", {"realm": "https://t/token", "service": "s"})],
        ),
        ('Basic realm="a, b", charset="UTF-8"', [Challenge("basic", {"realm": "a, b", "charset": "UTF-8"})]),
        ('Bearer realm = "x" , service = "y"', [Challenge("bearer", {"realm": "x", "service": "y"})]),
        ('Bearer realm="x",,service="y"', [Challenge("bearer", {"realm": "x", "service": "y"})]),
        ('Negotiate, Basic realm="r"', [Challenge("negotiate", {}), Challenge("basic", {"realm": "r"})]),
        ('Negotiate abc123==, Basic realm="r"', [Challenge("negotiate", {}), Challenge("basic", {"realm": "r"})]),
        ("Basic", [Challenge("basic", {})]),
        ("", []),
    ],
    ids=["registry-bearer", "any-case", "escapes", "two-challenges", "comma-in-quotes", "spaces", "empty-element",
         "scheme-without-params", "token68", "bare-scheme", "empty"],
)
def test_parse_challenges(header: str, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_a_mount_needs_pull_on_its_source_and_push_on_the_target() -> None:
    mount = requests.Request("POST", "http://r:5000/v2/team/app/blobs/uploads/", params={"mount": "sha256:" + "a" * 64, "from": "team/src"}).prepare()
    assert scopes_for(mount) == {"repository:team/app:pull,push", "repository:team/src:pull"}
    assert scopes_for(requests.Request("HEAD", "http://r:5000/v2/team/app/manifests/v1").prepare()) == {"repository:team/app:pull"}
    assert scopes_for(requests.Request("GET", "http://r:5000/v2/").prepare()) == frozenset()


# -- Bearer: a token server and a registry trusting it -----------------------------------------


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(
        tmp_path_factory.mktemp("tokens"), users={ALICE: ALICE_PW, BOB: BOB_PW}, refresh_tokens={REFRESH: ALICE}, policy=POLICY
    )
    with server:
        yield server


@pytest.fixture(autouse=True)
def fresh_token_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with the token server's default answers and an empty record."""
    yield
    if "tokens" in request.fixturenames:
        server: TokenServer = request.getfixturevalue("tokens")
        server.fields, server.expires_in, server.post_status, server.garbage_token_field = ("token",), 300, None, None


@pytest.fixture
def seeded(tokens: TokenServer, token_registry: Registry, team_repo: str) -> tuple[str, PushedImage, PushedImage]:
    """team/...-src with :amd64 and :arm64, pushed with a minted token; token records cleared."""
    source = f"{team_repo}-src"
    session = tokens.bearer_session([(source, "pull,push")])
    amd64 = push_image(token_registry.url, source, "amd64", session=session)
    arm64 = push_image(token_registry.url, source, "arm64", architecture="arm64", session=session)
    tokens.reset_records()
    return source, amd64, arm64


def client_for(registry: Registry, credentials: Optional[Credentials] = None) -> RegistryClient:
    return RegistryClient(registry.host, ClientOptions(plain_http=True, timeout=10.0, credentials=credentials))


def test_anonymous_reads_fetch_one_anonymous_token_per_scope(tokens: TokenServer, token_registry: Registry, seeded: Any) -> None:
    source, amd64, arm64 = seeded
    client = client_for(token_registry)
    try:
        for _ in range(3):
            assert client.get_manifest(source, "amd64", "read").digest == amd64.digest
            assert client.manifest_exists(source, arm64.digest, "head")
            client.get_blob(source, amd64.config_digest, 1 << 20, "config")
        asked = tokens.snapshot()
        assert len(asked) == 1, asked  # cached for every later request of the same scope
        assert asked[0].method == "GET" and asked[0].auth_scheme == "" and asked[0].status == 200
        assert asked[0].scopes == {f"repository:{source}:pull"} and asked[0].service == SERVICE
        assert decode_claims(tokens.issued[-1])["sub"] == ""

        client.manifest_exists(f"{source}-other", amd64.digest, "another repository")  # another scope: one more token
        assert tokens.count() == 2
    finally:
        client.close()


def test_credentials_go_to_the_realm_as_basic(tokens: TokenServer, token_registry: Registry, seeded: Any) -> None:
    source, amd64, _ = seeded
    client = client_for(token_registry, Credentials(ALICE, ALICE_PW))
    try:
        assert client.get_manifest(source, amd64.digest, "read").data == amd64.manifest_bytes
    finally:
        client.close()
    (asked,) = tokens.snapshot()
    assert (asked.auth_scheme, asked.user) == ("basic", ALICE)
    assert decode_claims(tokens.issued[-1])["sub"] == ALICE


@pytest.mark.parametrize(
    ("fields", "garbage"),
    [(("token",), None), (("access_token",), None), (("access_token",), "token")],
    ids=["token-only", "access_token-only", "access_token-wins-over-token"],
)
def test_the_token_is_taken_from_access_token_else_token(
    tokens: TokenServer, token_registry: Registry, seeded: Any, fields: tuple[str, ...], garbage: Optional[str]
) -> None:
    source, amd64, _ = seeded
    tokens.fields, tokens.garbage_token_field = fields, garbage
    client = client_for(token_registry)
    try:
        assert client.get_manifest(source, "amd64", "read").digest == amd64.digest
    finally:
        client.close()
    assert tokens.count() == 1


class _Clock:
    """Stands in for the `time` module inside manifest_spec.registry.auth: a monotonic clock we move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize(("expires_in", "still_valid", "expired"), [(None, 50, 61), (300, 290, 301)], ids=["default-60", "300"])
def test_a_token_is_reused_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, tokens: TokenServer, token_registry: Registry, seeded: Any,
    expires_in: Optional[int], still_valid: int, expired: int,
) -> None:
    source, amd64, _ = seeded
    clock = _Clock()
    monkeypatch.setattr(auth_module, "time", clock)
    tokens.expires_in = expires_in  # None: left out of the answer, the client must assume 60 s
    client = client_for(token_registry)
    try:
        client.manifest_exists(source, amd64.digest, "first")
        clock.now += still_valid
        client.manifest_exists(source, amd64.digest, "still valid")
        assert tokens.count() == 1
        clock.now = 1000.0 + expired
        client.manifest_exists(source, amd64.digest, "expired")
        assert tokens.count() == 2
    finally:
        client.close()


def test_push_as_alice_mounts_with_the_source_pull_scope(tokens: TokenServer, token_registry: Registry, seeded: Any, team_repo: str, tmp_path: Path) -> None:
    source, amd64, arm64 = seeded
    host = token_registry.host
    the_spec = spec(f"{host}/{team_repo}:v1", (f"{host}/{source}:amd64", "amd64"), (f"{host}/{source}:arm64", "arm64"))
    result = cli("--username", ALICE, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=ALICE_PW + "\n")
    assert_ok(result)
    digest, _ = digest_line(result)

    asked = tokens.snapshot()
    assert asked and all(r.auth_scheme == "basic" and r.user == ALICE and r.status == 200 for r in asked)
    mount_scope = {f"repository:{team_repo}:pull,push", f"repository:{source}:pull"}
    assert any(r.scopes == mount_scope for r in asked), [r.scopes for r in asked]
    per_scope_set = Counter(r.scopes for r in asked)
    assert set(per_scope_set.values()) == {1}, per_scope_set  # the two members are resolved concurrently: still one each

    reader = tokens.bearer_session([(team_repo, "pull")])
    assert get_manifest(token_registry.url, team_repo, "v1", session=reader)[2] == digest
    for image in (amd64, arm64):  # children and their blobs were mounted into the target
        assert get_manifest(token_registry.url, team_repo, image.digest, session=reader)[0] == image.manifest_bytes
        for blob in (image.config_digest, *image.layer_digests):
            get_blob(token_registry.url, team_repo, blob, session=reader)


def test_a_pull_only_account_pushing_gets_one_clear_error(tokens: TokenServer, token_registry: Registry, seeded: Any, team_repo: str, tmp_path: Path) -> None:
    source, _, _ = seeded
    host = token_registry.host
    the_spec = spec(f"{host}/{source}:v1", (f"{host}/{source}:amd64", "amd64"))  # same repo: only the index PUT writes
    result = cli("--username", BOB, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=BOB_PW)
    line = assert_clean_failure(result, f"the token lacks push on repository {source} — check", "permissions", f"'{BOB}'")
    assert BOB_PW not in result.output
    assert tokens.count() <= 4, tokens.snapshot()  # no loop: one token per scope, then stop
    assert sorted(list_tags(token_registry.url, source, session=tokens.bearer_session([(source, "pull")]))) == ["amd64", "arm64"], line


def test_an_anonymous_push_is_refused_with_a_hint_to_log_in(tokens: TokenServer, token_registry: Registry, seeded: Any, tmp_path: Path) -> None:
    source, _, _ = seeded
    host = token_registry.host
    result = cli("push", "from-spec", str(write_spec(tmp_path, spec(f"{host}/{source}:v1", (f"{host}/{source}:amd64", "amd64")))))
    assert_clean_failure(result, f"refused access anonymously: the token lacks push on repository {source} — log in")
    assert all(r.auth_scheme == "" for r in tokens.snapshot())
    assert tokens.count() <= 4


@pytest.mark.parametrize("command", ["inspect", "push"])
def test_a_wrong_password_is_one_clear_error_without_a_loop(
    tokens: TokenServer, token_registry: Registry, seeded: Any, team_repo: str, tmp_path: Path, command: str
) -> None:
    source, _, _ = seeded
    host = token_registry.host
    if command == "inspect":
        args: tuple[str, ...] = ("inspect", f"{host}/{source}:amd64")
    else:
        the_spec = spec(f"{host}/{team_repo}:v1", (f"{host}/{source}:amd64", "amd64"), (f"{host}/{source}:arm64", "arm64"))
        args = ("push", "from-spec", str(write_spec(tmp_path, the_spec)))
    result = cli("--username", ALICE, "--password-stdin", *args, input="wrong-password")
    assert_clean_failure(result, "refused")
    asked = tokens.snapshot()
    # One per concurrent first request at most (push: two members and the target tag's HEAD), never a retry loop.
    assert 1 <= len(asked) <= (3 if command == "push" else 2), asked
    assert all(r.status == 401 and r.username_sent == ALICE for r in asked)
    assert "wrong-password" not in result.output


def test_a_second_identical_401_stops(tokens: TokenServer, token_registry: Registry, seeded: Any) -> None:
    """The token server hands out something the registry refuses: answer the challenge once, then stop."""
    source, amd64, _ = seeded
    tokens.fields, tokens.garbage_token_field = ("token",), "access_token"
    with FaultProxy(token_registry.host) as proxy:
        client = RegistryClient(proxy.host, ClientOptions(plain_http=True, timeout=10.0))
        try:
            with pytest.raises(RegistryError, match="refused access anonymously") as caught:
                client.get_manifest(source, amd64.digest, "read")
        finally:
            client.close()
        assert proxy.requests("GET") == [f"/v2/{source}/manifests/{amd64.digest}"] * 2
    assert caught.value.status == 401
    assert tokens.count() == 1


# -- identity (refresh) tokens -----------------------------------------------------------------


def docker_config_with_identity_token(tmp_path: Path, host: str) -> Path:
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"auths": {host: {"identitytoken": REFRESH}}}))
    return directory


def test_an_identity_token_is_exchanged_by_oauth_post(tokens: TokenServer, token_registry: Registry, seeded: Any, team_repo: str, tmp_path: Path) -> None:
    source, amd64, _ = seeded
    host = token_registry.host
    config = docker_config_with_identity_token(tmp_path, host)
    the_spec = spec(f"{host}/{team_repo}:v1", (f"{host}/{source}:amd64", "amd64"))  # another repo: a mount with two scopes
    result = cli("--docker-cfg", str(config), "push", "from-spec", str(write_spec(tmp_path, the_spec)))
    assert_ok(result)
    asked = tokens.snapshot()
    assert asked and all(r.method == "POST" and r.grant_type == "refresh_token" and r.user == ALICE for r in asked), asked
    assert all(r.client_id for r in asked)
    assert any(r.scopes == {f"repository:{team_repo}:pull,push", f"repository:{source}:pull"} for r in asked), [r.scopes for r in asked]
    reader = tokens.bearer_session([(team_repo, "pull")])
    assert get_manifest(token_registry.url, team_repo, amd64.digest, session=reader)[0] == amd64.manifest_bytes


@pytest.mark.parametrize("status", [404, 405, 400])
def test_an_identity_token_falls_back_to_get_when_the_realm_has_no_oauth(
    tokens: TokenServer, token_registry: Registry, seeded: Any, tmp_path: Path, status: int
) -> None:
    source, amd64, _ = seeded
    tokens.post_status = status
    config = docker_config_with_identity_token(tmp_path, token_registry.host)
    result = cli("--docker-cfg", str(config), "inspect", f"{token_registry.host}/{source}@{amd64.digest}")
    assert_ok(result)
    asked = tokens.snapshot()
    assert [(r.method, r.status) for r in asked] == [("POST", status), ("GET", 200)], asked
    assert asked[1].user == ALICE and asked[1].auth_scheme == "basic"  # as containerd sends it
    assert REFRESH not in result.output


# -- Basic (htpasswd) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return BASIC_USER, BASIC_PW


@pytest.fixture
def basic_images(basic_registry: Registry, repo_name: str) -> tuple[PushedImage, PushedImage]:
    session = requests.Session()
    session.auth = (BASIC_USER, BASIC_PW)
    return (
        push_image(basic_registry.url, repo_name, "amd64", session=session),
        push_image(basic_registry.url, repo_name, "arm64", architecture="arm64", session=session),
    )


def basic_spec(host: str, repo: str, target_repo: Optional[str] = None) -> dict[str, Any]:
    return spec(f"{host}/{target_repo or repo}:v1", (f"{host}/{repo}:amd64", "amd64"), (f"{host}/{repo}:arm64", "arm64"))


def test_basic_push_with_password_from_stdin(basic_registry: Registry, basic_images: Any, repo_name: str, tmp_path: Path) -> None:
    the_spec = basic_spec(basic_registry.host, repo_name, f"{repo_name}-app")  # another repo: mounts too
    result = cli("--username", BASIC_USER, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=BASIC_PW + "\n")
    assert_ok(result)
    digest, _ = digest_line(result)
    reader = requests.Session()
    reader.auth = (BASIC_USER, BASIC_PW)
    assert get_manifest(basic_registry.url, f"{repo_name}-app", "v1", session=reader)[2] == digest
    assert requests.get(f"{basic_registry.url}/v2/{repo_name}-app/manifests/v1", timeout=10).status_code == 401  # it is protected


def test_basic_without_credentials_says_to_log_in(basic_registry: Registry, basic_images: Any, repo_name: str) -> None:
    assert_clean_failure(cli("inspect", f"{basic_registry.host}/{repo_name}:amd64"), "authentication is required", "log in")


def test_basic_wrong_password_is_one_error_and_few_requests(basic_registry: Registry, basic_images: Any, repo_name: str, tmp_path: Path) -> None:
    with FaultProxy(basic_registry.host) as proxy:
        result = cli("--username", BASIC_USER, "--password-stdin", "push", "from-spec",
                     str(write_spec(tmp_path, basic_spec(proxy.host, repo_name))), input="not-the-password")
        assert_clean_failure(result, "not accepted", repr(BASIC_USER))
        assert len(proxy.seen) <= 6, proxy.seen  # two members and the tag HEAD: at most challenge + one answer each
        assert proxy.requests("PUT") == [] and proxy.requests("POST") == []


def test_basic_credentials_never_reach_another_registry(
    registry: Registry, basic_registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    """Source on an open registry (observed through a proxy), target on the htpasswd one."""
    image = push_image(registry.url, repo_name, "amd64")
    with FaultProxy(registry.host) as proxy:
        seen = record_authorization(proxy)
        the_spec = spec(f"{basic_registry.host}/{repo_name}:v1", (f"{proxy.host}/{repo_name}:amd64", "amd64"))
        result = cli("--username", BASIC_USER, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=BASIC_PW)
        assert_ok(result)
    assert seen and {method for method, _, _ in seen} >= {"GET"}
    assert [authorization for _, _, authorization in seen if authorization] == []
    reader = requests.Session()
    reader.auth = (BASIC_USER, BASIC_PW)
    assert get_manifest(basic_registry.url, repo_name, image.digest, session=reader)[0] == image.manifest_bytes
    encoded = base64.b64encode(f"{BASIC_USER}:{BASIC_PW}".encode()).decode()
    assert encoded not in result.output and BASIC_PW not in result.output


# -- redirects: a blob GET sent to another host (object storage) carries no credentials ---------


class Storage:
    """Another host a registry redirects blob GETs to (as to S3); records the Authorization it gets.

    `challenge` makes it answer 401 with that WWW-Authenticate to requests without credentials,
    as a host fishing for them would; otherwise it serves `body`.
    """

    def __init__(self, body: bytes, challenge: Optional[str] = None) -> None:
        from http.server import BaseHTTPRequestHandler

        self.seen: list[str] = []
        storage = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization", "")
                storage.seen.append(authorization)
                status, data = (401, b"") if challenge and not authorization else (200, body)
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", challenge or "")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.loop = Loopback(Handler, "storage")
        self.host = self.loop.host

    def close(self) -> None:
        self.loop.stop()


def _redirect_to(location: str):  # type: ignore[no-untyped-def]
    return lambda reply: Reply(307, (("Location", location),), b"")


@pytest.mark.parametrize("fishing", [False, True], ids=["storage-serves", "storage-asks-for-credentials"])
def test_a_redirected_blob_get_carries_no_basic_credentials(basic_registry: Registry, basic_images: Any, repo_name: str, fishing: bool) -> None:
    image = basic_images[0]
    layer = image.layer_digests[0]
    session = requests.Session()
    session.auth = (BASIC_USER, BASIC_PW)
    body = get_blob(basic_registry.url, repo_name, layer, session=session)
    storage = Storage(body, 'Basic realm="storage"' if fishing else None)
    try:
        with FaultProxy(basic_registry.host) as proxy:
            proxy.inject("GET", rf"/blobs/{layer}$", _redirect_to(f"http://{storage.host}/bucket/{layer[7:]}"), forward=False)
            client = RegistryClient(proxy.host, ClientOptions(plain_http=True, timeout=10.0, credentials=Credentials(BASIC_USER, BASIC_PW)))
            try:
                client.get_blob(repo_name, image.config_digest, 1 << 20, "config")  # the registry's challenge: Basic from now on
                if fishing:
                    with pytest.raises(RegistryError, match="401"):
                        client.get_blob(repo_name, layer, 1 << 20, "layer")
                else:
                    assert client.get_blob(repo_name, layer, 1 << 20, "layer") == body
            finally:
                client.close()
    finally:
        storage.close()
    assert storage.seen and all(authorization == "" for authorization in storage.seen), storage.seen


def test_a_redirected_blob_get_gets_no_token_either(tokens: TokenServer, token_registry: Registry, seeded: Any) -> None:
    source, amd64, _ = seeded
    layer = amd64.layer_digests[0]
    body = get_blob(token_registry.url, source, layer, session=tokens.bearer_session([(source, "pull")]))
    challenge = f'Bearer realm="{tokens.realm}",service="{SERVICE}",scope="repository:{source}:pull"'
    storage = Storage(body, challenge)
    try:
        with FaultProxy(token_registry.host) as proxy:
            proxy.inject("GET", rf"/blobs/{layer}$", _redirect_to(f"http://{storage.host}/bucket/{layer[7:]}"), forward=False)
            client = RegistryClient(proxy.host, ClientOptions(plain_http=True, timeout=10.0, credentials=Credentials(ALICE, ALICE_PW)))
            try:
                with pytest.raises(RegistryError, match="401"):
                    client.get_blob(source, layer, 1 << 20, "layer")
            finally:
                client.close()
    finally:
        storage.close()
    assert storage.seen and all(authorization == "" for authorization in storage.seen), [a[:10] for a in storage.seen]


def test_requested_scopes_are_one_per_repository_with_sorted_actions() -> None:
    """The registry's challenges vary the order of actions; the token request must not carry both orders."""
    from manifest_spec.registry.auth import _normalise_scopes

    asked = frozenset({"repository:team/app:pull,push", "repository:team/app:push,pull", "repository:src:pull", ""})
    assert _normalise_scopes(asked) == frozenset({"repository:team/app:pull,push", "repository:src:pull"})
