"""Registry authentication: answer Basic and Bearer challenges (RFC 7235), cache tokens per scope."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlparse

from manifest_spec.errors import RegistryError
from manifest_spec.registry.credentials import Credentials
from manifest_spec.registry.httpclient import PreparedRequest, Response
from manifest_spec.registry.httperrors import RequestException
from manifest_spec.registry.singleflight import SingleFlight
from manifest_spec.scrub import remember

log = logging.getLogger(__name__)

DEFAULT_TOKEN_SECONDS = 60  # the distribution token spec's default for a missing expires_in
_PATH_RE = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")
_TOKEN_RE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# Empty list elements (",,") are allowed before a parameter and a scheme (RFC 7230 #rule).
_PARAM_RE = re.compile(rf'[\s,]*({_TOKEN_RE})\s*=\s*("(?:[^"\\]|\\.)*"|{_TOKEN_RE})\s*,?')
# A scheme may be followed by a comma directly: "Negotiate, Basic realm=..." is two challenges.
_SCHEME_RE = re.compile(rf"[\s,]*({_TOKEN_RE})(?=[\s,]|\Z)")
_TOKEN68_RE = re.compile(r"\s+[A-Za-z0-9\-._~+/]+=*\s*(?=,|\Z)")
_HEADER_SAFE_RE = re.compile(r"[!-~]+")  # visible ASCII, no spaces: what may follow "Bearer "


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate challenge."""

    scheme: str  # lower-case: "basic" or "bearer"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a WWW-Authenticate value: several challenges, quoted values with escapes, any case."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme_match = _SCHEME_RE.match(header, position)
        if not scheme_match:
            break
        position = scheme_match.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM_RE.match(header, position)
            if not param:
                break
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[param.group(1).lower()] = value
            position = param.end()
        if not params:  # "Negotiate abc123==": a token68 instead of parameters; skip it
            token68 = _TOKEN68_RE.match(header, position)
            position = token68.end() if token68 else position
        challenges.append(Challenge(scheme_match.group(1).lower(), params))
        while position < len(header) and header[position] in ", ":
            position += 1
    return challenges


def scopes_for(request: PreparedRequest) -> frozenset[str]:
    """What a request needs: pull for reads, pull+push for writes, pull on the mount source."""
    url = urlparse(request.url or "")
    match = _PATH_RE.match(url.path)
    if not match:
        return frozenset()
    actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    scopes = {f"repository:{match.group('name')}:{actions}"}
    source = parse_qs(url.query).get("from")
    if source:
        scopes.add(f"repository:{source[0]}:pull")
    return frozenset(scopes)


def _normalise_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """Registries vary the order of actions and of scopes: one entry per resource, actions merged and sorted."""
    actions: dict[str, set[str]] = {}
    for scope in scopes:
        if not scope:
            continue
        resource, _, wanted = scope.rpartition(":")
        actions.setdefault(resource, set()).update(a for a in wanted.split(",") if a)
    return frozenset(f"{resource}:{','.join(sorted(wanted))}" for resource, wanted in actions.items())


class RegistryAuth:
    """Per registry host: reuse a cached token, answer a 401 once, and stop on a second one."""

    def __init__(
        self,
        host: str,
        scheme: str,
        credentials: Optional[Credentials],
        send: Callable[..., Response],
    ) -> None:
        self.host = host
        self.https = scheme == "https"
        self.credentials = credentials
        self.send = send  # how to reach the token realm: the client's session, with its retries
        self.tokens: dict[frozenset[str], tuple[str, float]] = {}
        self.basic = False  # the registry asked for Basic: send it with every request
        self.lock = threading.Lock()
        self.fetch_lock = threading.Lock()  # one token fetch at a time
        self.flights: SingleFlight[str] = SingleFlight()  # concurrent 401s for the same token share one exchange

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        if urlparse(request.url or "").netloc != self.host:
            return request  # credentials go to their own host only, never to a Location elsewhere
        self.authorize(request, scopes_for(request))
        request.register_hook("response", self.handle_401)
        return request

    def authorize(self, request: PreparedRequest, scopes: frozenset[str]) -> None:
        if self.basic and self.credentials and self.credentials.username:
            request.headers["Authorization"] = _basic(self.credentials.username, self.credentials.password)
            return
        token = self.cached(scopes)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"

    def cached(self, scopes: frozenset[str]) -> Optional[str]:
        key = _normalise_scopes(scopes)
        with self.lock:
            for held, (token, expires) in self.tokens.items():
                if key <= held and expires > time.monotonic():
                    return token
        return None

    def handle_401(self, response: Response, **kwargs: Any) -> Response:
        if response.status_code != 401:
            return response
        if urlparse(response.request.url or "").netloc != self.host:
            # A redirect elsewhere (blob storage) answered 401: the hook travels with the
            # redirected request, but our credentials and tokens must not.
            return response
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        request = response.request.copy()
        if any(c.scheme == "bearer" for c in challenges):
            challenge = next(c for c in challenges if c.scheme == "bearer")
            # One scope per repository with its actions sorted: the registry varies their order
            # between challenges, and a token server should not see `pull,push` and `push,pull`.
            wanted = _normalise_scopes(scopes_for(response.request) | frozenset(challenge.params.get("scope", "").split()))
            request.headers["Authorization"] = f"Bearer {self.token_for(challenge, wanted, _sent_authorization(response.request))}"
        elif any(c.scheme == "basic" for c in challenges) and self.credentials and self.credentials.username:
            self.basic = True
            request.headers["Authorization"] = _basic(self.credentials.username, self.credentials.password)
        else:
            raise self.refused(response)
        if _unreplayable(request):
            raise RegistryError(f"{self.host} asked for authentication in the middle of an upload; try again", status=401)
        try:
            response.content  # noqa: B018 - drain, so the connection can be reused
        except RequestException:
            pass  # a challenge body cut short: the headers said all we need; the connection is dropped
        response.close()
        retried = response.connection.send(request, **kwargs)
        retried.history.append(response)
        retried.request = request
        if retried.status_code == 401:  # answered the challenge and still refused: stop, no loop
            raise self.refused(retried)
        return retried

    def token_for(self, challenge: Challenge, scopes: frozenset[str], sent: str) -> str:
        """A token for these scopes: one another thread fetched meanwhile, else a new one.

        Threads resolving members concurrently all get the same first 401; they share one exchange
        per (realm, service, scopes) (singleflight.py), and its failure is every waiter's at once.
        A realm that did not answer at all fails the exchanges for other scopes too, without
        another try. A cached token the refused request already carried is not reused: it is the
        one that was refused.
        """
        token = self.cached(scopes)
        if token and sent != f"Bearer {token}":
            return token
        realm = challenge.params.get("realm", "")

        def exchange() -> str:
            with self.fetch_lock:  # one exchange at a time: another's token may cover these scopes
                token = self.cached(scopes)
                if token and sent != f"Bearer {token}":
                    return token
                down = self.flights.failure(("realm", realm))
                if down is not None:
                    raise down
                try:
                    return self.fetch_token(challenge, scopes)
                except RegistryError as e:
                    if e.status == 0:  # no answer at all (timeout, refused, reset): the realm, not these scopes
                        self.flights.fail(("realm", realm), e)
                    raise

        return self.flights.run((realm, challenge.params.get("service", ""), scopes), exchange)

    def refused(self, response: Response) -> RegistryError:
        method, path = response.request.method, urlparse(response.request.url or "").path
        who = f"as {self.credentials.username!r}" if self.credentials and self.credentials.username else "anonymously"
        error = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        insufficient = any(c.params.get("error") == "insufficient_scope" for c in error)
        if insufficient or (self.credentials and method not in ("GET", "HEAD")):
            scopes = scopes_for(response.request)
            lacking = _lacking(scopes, _sent_authorization(response.request))
            todo = "check the account's permissions" if self.credentials else "log in (docker login, --username/--password-stdin)"
            if len(scopes) > 1:  # some token services grant only one of the scopes asked (goharbor/harbor#2411): not the account's fault
                todo = f"the token service granted only part of the {len(scopes)} scopes asked in one request, or {todo}"
            detail = f"the token lacks {lacking} — {todo}"
            code = "INSUFFICIENT_SCOPE" if insufficient else "UNAUTHORIZED"
            return RegistryError(f"{method} {path}: {self.host} refused access {who}: {detail}", status=401, code=code)
        elif self.credentials:
            detail = "the credentials were not accepted — check the user name and password (or docker login)"
        else:
            detail = "authentication is required — log in (docker login, --username/--password-stdin)"
        return RegistryError(f"{method} {path}: {self.host} refused access {who}: {detail}", status=401, code="UNAUTHORIZED")

    def fetch_token(self, challenge: Challenge, scopes: frozenset[str]) -> str:
        realm = challenge.params.get("realm", "")
        parsed = urlparse(realm)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RegistryError(f"{self.host} named an unusable token realm {realm!r}")
        if self.https and parsed.scheme == "http":
            raise RegistryError(f"{self.host} (https) sent a token realm on plain http ({realm}); refused, credentials would travel in clear")
        query = [("service", challenge.params["service"])] if "service" in challenge.params else []
        query += [("scope", s) for s in sorted(scopes)]
        creds = self.credentials
        if creds and creds.identity_token:
            # OAuth2 form: ONE space-separated scope (servers read only the first `scope` field).
            form = [p for p in query if p[0] != "scope"] + ([("scope", " ".join(sorted(scopes)))] if scopes else [])
            response = self.send("POST", realm, data=form + [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token), ("client_id", "manifest-spec")])
            if response.status_code in (400, 404, 405):  # a realm without OAuth2 POST support
                # As containerd does: the identity token goes as the Basic password.
                basic = _basic(creds.username, creds.identity_token)
                response = self.send("GET", realm, params=query, headers={"Authorization": basic})
        else:
            headers = {"Authorization": _basic(creds.username, creds.password)} if creds and creds.username else {}
            response = self.send("GET", realm, params=query, headers=headers)
        token, lifetime = self.read_token(response, parsed.netloc, bool(creds))
        with self.lock:
            # Refresh a little early so a token does not expire between check and use.
            self.tokens[_normalise_scopes(scopes)] = (token, time.monotonic() + max(lifetime - 5, 1))
        return token

    def read_token(self, response: Response, server: str, credentials: bool) -> tuple[str, float]:
        """The token a token server answered (remembered as a secret at once) and its lifetime in seconds."""
        if response.status_code in (401, 403):
            who = "the credentials were refused" if credentials else "anonymous access was refused"
            raise RegistryError(f"token server {server} answered HTTP {response.status_code} for {self.host}: {who}", status=401)
        if response.status_code != 200:
            reason = f" {response.reason}" if response.reason else ""
            raise RegistryError(
                f"token server {server} answered HTTP {response.status_code}{reason} for {self.host}: "
                "the token server failed, not the credentials",
                status=response.status_code,
            )
        try:
            body = response.json()
            token = str(body.get("access_token") or body.get("token") or "")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        except (ValueError, AttributeError, TypeError) as e:
            raise RegistryError(f"token server {server} sent an answer that is not a token") from e
        remember(token)  # before any check: a message must never show it, not even a piece of it
        if not token:
            raise RegistryError(f"token server {server} sent no token")
        if not _HEADER_SAFE_RE.fullmatch(token):
            raise RegistryError(
                f"token server {server} sent a token with characters an HTTP header cannot carry "
                "(spaces, newlines or control characters); refused"
            )
        return token, lifetime if math.isfinite(lifetime) else DEFAULT_TOKEN_SECONDS


def _sent_authorization(request: PreparedRequest) -> str:
    """The Authorization header a request carried; requests' own type hints allow bytes values too."""
    value = request.headers.get("Authorization", "")
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _lacking(scopes: frozenset[str], authorization: str) -> str:
    """What a request needs that its token (a JWT, read unverified) lacks: "push on repository team/app"."""
    granted: dict[tuple[str, str], set[str]] = {}
    try:
        payload = authorization.split(" ", 1)[1].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        for entry in claims.get("access") or []:
            granted.setdefault((str(entry["type"]), str(entry["name"])), set()).update(entry.get("actions") or [])
    except (IndexError, ValueError, TypeError, KeyError, AttributeError):
        granted = {}  # an opaque token: name everything the request needs
    parts = []
    for scope in sorted(scopes):
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        held = granted.get((kind, name), set())
        lacking = [] if "*" in held else [a for a in actions.split(",") if a and a not in held]
        if lacking:
            parts.append(f"{','.join(lacking)} on {kind} {name}")
    return " and ".join(parts) or "the access it asked for"


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _unreplayable(request: PreparedRequest) -> bool:
    body = request.body
    return body is not None and not isinstance(body, (bytes, str))
