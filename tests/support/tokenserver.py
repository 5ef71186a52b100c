"""A small token server (the distribution token-auth protocol) for the real registry to trust.

It issues JWTs the way CNCF distribution 2.8.2 verifies them (see /work/shared/REGISTRY-NOTES.md):
RS256 or ES256, header ``kid`` = the libtrust fingerprint of the signing key, claims ``iss``,
``sub``, ``aud`` (a string: the service), ``exp``, ``nbf``, ``iat``, ``jti`` and
``access: [{type: repository, name, actions}]``. The signing key's self-signed certificate is
written for the registry's ``auth.token.rootcertbundle``::

    with TokenServer(tmp_path, users={"alice": "pw"}, policy=grants({None: [("*", "pull")]})) as tokens:
        with Registry(tokens.registry_config()) as registry:
            ...
        assert tokens.count() == 1
        assert tokens.issued  # every token handed out, to look for in logs

Endpoints (``/token``):

- ``GET ?service=&scope=&scope=`` with Basic credentials (a user, or any user name with a
  refresh token as password), ``Authorization: Bearer <refresh token>``, or none (anonymous).
- ``POST`` form ``grant_type=refresh_token|password`` (OAuth2, as docker and containerd send it):
  ``scope`` is read the way Go's ``PostFormValue`` does, the first value only, space-separated.
  ``post_status=405`` (or 404, 400) makes POST answer that status instead, a realm without OAuth2.

Every request is recorded (:attr:`requests`), every token issued too (:attr:`issued`).
Loopback only; a thread per request; :meth:`stop` shuts it down.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fnmatch
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from support.loopback import Loopback, Served

SERVICE = "manifest-spec-test-registry"
ISSUER = "manifest-spec-test-token-issuer"

# (user or None for anonymous, repository name, requested actions) -> granted actions
Policy = Callable[[Optional[str], str, frozenset[str]], set[str]]


def grants(rules: Mapping[Optional[str], Sequence[tuple[str, str]]]) -> Policy:
    """A policy from `{user: [(repository glob, "pull,push"), ...]}`; None is the anonymous user.

    ``grants({None: [("*", "pull")], "alice": [("team/*", "pull,push")], "bob": [("*", "pull")]})``:
    anyone pulls anything, alice pushes to team/*, bob only pulls. A user gets the union of the
    matching rules of their own entry (not the anonymous one).
    """

    def policy(user: Optional[str], repository: str, wanted: frozenset[str]) -> set[str]:
        granted: set[str] = set()
        for pattern, actions in rules.get(user, ()):
            if fnmatch.fnmatchcase(repository, pattern):
                granted |= set(actions.split(","))
        return granted & set(wanted)

    return policy


def everything(user: Optional[str], repository: str, wanted: frozenset[str]) -> set[str]:
    """The default policy: anonymous may pull everything, a logged-in user may do anything."""
    return set(wanted) if user else set(wanted) & {"pull"}


def libtrust_key_id(public_key: Any) -> str:
    """docker/libtrust's key ID: sha256 of the DER SubjectPublicKeyInfo, 30 bytes, base32, 12x4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True)
class TokenRequest:
    """One request the token server answered."""

    method: str
    scopes: frozenset[str]  # as asked for, one "repository:name:actions" each
    service: str
    auth_scheme: str  # "", "basic" or "bearer": how the client authenticated
    user: Optional[str]  # who that turned out to be (None: anonymous or refused)
    grant_type: str  # POST only
    status: int
    client_id: str = ""
    username_sent: str = ""  # the user name of a Basic header, even a refused one


@dataclass
class TokenServer(Served):
    directory: Path
    users: Mapping[str, str] = field(default_factory=dict)  # user -> password
    refresh_tokens: Mapping[str, str] = field(default_factory=dict)  # refresh (identity) token -> user
    policy: Policy = everything
    algorithm: str = "RS256"  # or "ES256"
    fields: tuple[str, ...] = ("token",)  # which of "token" / "access_token" a GET answer carries
    expires_in: Optional[int] = 300  # None: leave it out of the answer (clients assume 60 s)
    lifetime: int = 300  # what the JWT's exp really allows
    post_status: Optional[int] = None  # answer POSTs with this status instead (a realm without OAuth2)
    service: str = SERVICE
    issuer: str = ISSUER
    garbage_token_field: Optional[str] = None  # put a non-token in this field (must not be used)

    asked: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    host: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: Optional[Loopback] = None

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.algorithm == "ES256":
            self._key: Any = ec.generate_private_key(ec.SECP256R1())
        elif self.algorithm == "RS256":
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(f"unsupported algorithm {self.algorithm}")
        self.kid = libtrust_key_id(self._key.public_key())
        self.certificate = self.directory / f"token-signer-{self.algorithm.lower()}.pem"
        self.certificate.write_bytes(self._self_signed().public_bytes(serialization.Encoding.PEM))

    # -- set-up --------------------------------------------------------------------------------
    def _self_signed(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manifest-spec test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )

    @property
    def realm(self) -> str:
        return f"http://{self.host}/token"

    def registry_config(self, realm: Optional[str] = None) -> dict[str, Any]:
        """Extra registry config trusting this server (realm overridable, e.g. to test refusals)."""
        return {
            "auth": {
                "token": {
                    "realm": realm or self.realm,
                    "service": self.service,
                    "issuer": self.issuer,
                    "rootcertbundle": str(self.certificate),
                }
            }
        }

    # -- tokens --------------------------------------------------------------------------------
    def mint(self, user: Optional[str], access: Sequence[tuple[str, str]]) -> str:
        """Sign a token granting `access` ([(repository, "pull,push")]) without recording it."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,  # a string: distribution 2.8.2 does not take a list here
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": [
                {"type": "repository", "name": name, "actions": sorted(set(actions.split(",")))} for name, actions in access
            ],
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers={"kid": self.kid})

    def bearer_session(self, access: Sequence[tuple[str, str]]) -> requests.Session:
        """A requests session that sends a minted token: for a test to read or seed the registry."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.mint('test-harness', access)}"
        return session

    def _grant(self, user: Optional[str], scopes: frozenset[str]) -> list[tuple[str, str]]:
        access = []
        for scope in sorted(scopes):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            granted = self.policy(user, name, frozenset(a for a in actions.split(",") if a))
            if granted:
                access.append((name, ",".join(sorted(granted))))
        return access

    # -- records -------------------------------------------------------------------------------
    def count(self, method: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for r in self.asked if method is None or r.method == method)

    def snapshot(self) -> list[TokenRequest]:
        with self._lock:
            return list(self.asked)

    def reset_records(self) -> None:
        with self._lock:
            self.asked.clear()

    def _record(self, entry: TokenRequest, token: Optional[str] = None) -> None:
        with self._lock:
            self.asked.append(entry)
            if token:
                self.issued.append(token)

    # -- HTTP ----------------------------------------------------------------------------------
    def _authenticate(self, header: str) -> tuple[str, Optional[str], bool, str]:
        """(scheme, user, ok, user name sent) for an Authorization header; no header: anonymous, ok."""
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if not header:
            return "", None, True, ""
        if scheme == "bearer":
            user = self.refresh_tokens.get(value.strip())
            return "bearer", user, user is not None, ""
        if scheme == "basic":
            try:
                username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "basic", None, False, ""
            if username in self.users and secrets.compare_digest(self.users[username], password):
                return "basic", username, True, username
            user = self.refresh_tokens.get(password)  # containerd's fallback: Basic with the identity token
            return "basic", user, user is not None, username
        return scheme, None, False, ""

    def _answer(self, user: Optional[str], scopes: frozenset[str], fields: Sequence[str]) -> tuple[dict[str, Any], str]:
        token = self.mint(user, self._grant(user, scopes))
        body: dict[str, Any] = {name: token for name in fields}
        if self.garbage_token_field:
            body[self.garbage_token_field] = "not-a-token"
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        body["issued_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return body, token

    def start(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                scopes = frozenset(s for value in query.get("scope", []) for s in value.split(" ") if s)
                service = (query.get("service") or [""])[0]
                scheme, user, ok, sent = server._authenticate(self.headers.get("Authorization", ""))
                entry = TokenRequest("GET", scopes, service, scheme, user, "", 0, username_sent=sent)
                if url.path != "/token":
                    server._record(_with_status(entry, 404))
                    return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                if not ok:
                    server._record(_with_status(entry, 401))
                    return self.reply(401, {"details": "incorrect username or password"})
                if service != server.service:
                    server._record(_with_status(entry, 400))
                    return self.reply(400, {"details": f"unknown service {service!r}"})
                body, token = server._answer(user, scopes, server.fields)
                server._record(_with_status(entry, 200), token)
                self.reply(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                first = {k: v[0] for k, v in form.items()}
                scopes = frozenset(s for s in first.get("scope", "").split(" ") if s)  # Go's PostFormValue
                grant_type = first.get("grant_type", "")
                entry = TokenRequest(
                    "POST", scopes, first.get("service", ""), "form", None, grant_type, 0, first.get("client_id", ""),
                    username_sent=first.get("username", ""),
                )
                if server.post_status is not None:
                    server._record(_with_status(entry, server.post_status))
                    return self.reply(server.post_status, {"error": "unsupported", "error_description": "use GET"})
                if urlsplit(self.path).path != "/token":
                    server._record(_with_status(entry, 404))
                    return self.reply(404, {"error": "not_found"})
                user: Optional[str] = None
                if grant_type == "refresh_token":
                    user = server.refresh_tokens.get(first.get("refresh_token", ""))
                elif grant_type == "password":
                    name, password = first.get("username", ""), first.get("password", "")
                    if name in server.users and secrets.compare_digest(server.users[name], password):
                        user = name
                else:
                    server._record(_with_status(entry, 400))
                    return self.reply(400, {"error": "unsupported_grant_type"})
                if user is None:
                    server._record(_with_status(entry, 401))
                    return self.reply(401, {"error": "invalid_grant"})
                if entry.service != server.service:
                    server._record(_with_status(entry, 400))
                    return self.reply(400, {"error": "invalid_request", "error_description": "unknown service"})
                body, token = server._answer(user, scopes, ("access_token",))
                body["scope"] = " ".join(sorted(scopes))
                server._record(TokenRequest(**{**entry.__dict__, "user": user, "status": 200}), token)
                self.reply(200, body)

        self.serve(Handler, "token-server")
        return self

    def __enter__(self) -> TokenServer:
        return self.start()


def _with_status(entry: TokenRequest, status: int) -> TokenRequest:
    return TokenRequest(**{**entry.__dict__, "status": status})


def decode_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified (to look at what a token grants)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def record_authorization(proxy: Any) -> list[tuple[str, str, str]]:
    """Record `(method, path, Authorization)` of every request a started FaultProxy receives.

    Wraps the proxy's request handler class (support/faults.py is left as it is): a test can then
    check which credentials reached that host, e.g. none of another registry's.
    """
    seen: list[tuple[str, str, str]] = []
    base = proxy._loop.server.RequestHandlerClass

    class Recording(base):  # type: ignore[misc, valid-type]
        def forward(self) -> None:
            seen.append((self.command, self.path.split("?")[0], self.headers.get("Authorization", "")))
            base.forward(self)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    proxy._loop.server.RequestHandlerClass = Recording
    return seen
