"""Where credentials for a registry host come from: flags, environment, docker and podman files."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from manifest_spec.errors import CredentialsError, json_kind
from manifest_spec.scrub import remember, remember_pair

log = logging.getLogger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30.0
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __post_init__(self) -> None:
        remember_pair(self.username, self.password)
        remember(self.identity_token)

    def __repr__(self) -> str:  # never let a secret reach a log line
        return f"Credentials(username={self.username!r}, password=***, identity_token={'***' if self.identity_token else ''})"


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise CredentialsError(f"cannot read credentials file {path}: {e}") from e
    if not isinstance(data, dict):
        raise CredentialsError(f"credentials file {path} is not a JSON object")
    return data


def docker_config_path(docker_cfg: Optional[str], environ: Mapping[str, str]) -> Path:
    """--docker-cfg (a directory or a file) > $DOCKER_CONFIG > ~/.docker, then config.json."""
    location = docker_cfg or environ.get("DOCKER_CONFIG") or str(Path(environ.get("HOME", "~")).expanduser() / ".docker")
    path = Path(location).expanduser()
    # An existing file is used as it is, suffix or not (a Kubernetes secret's `.dockerconfigjson`).
    return path / "config.json" if path.is_dir() or (not path.is_file() and not path.suffix) else path


def podman_auth_paths(environ: Mapping[str, str]) -> list[Path]:
    """containers-auth.json(5): $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers, ~/.config/containers."""
    paths = []
    if environ.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(environ["REGISTRY_AUTH_FILE"]))
    if environ.get("XDG_RUNTIME_DIR"):
        paths.append(Path(environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    home = Path(environ.get("HOME", "~")).expanduser()
    paths.append(Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    return paths


def _keys_for(host: str) -> list[str]:
    """The keys a config may use for host: bare, with a scheme, and Docker Hub's legacy URL."""
    if host in _HUB_NAMES:
        return [DOCKER_HUB_KEY, "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _from_auths(auths: Any, host: str, source: str) -> Optional[Credentials]:
    if auths is None:
        return None
    if not isinstance(auths, dict):
        raise CredentialsError(f"{source}: `auths` is {json_kind(auths)}, not an object of registry entries")
    for key in _keys_for(host):
        entry = auths.get(key)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise CredentialsError(f"{source}: auths[{key!r}] is {json_kind(entry)}, not an object")
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth"):
            # A wrong entry is an error, not anonymous access nor a user with an empty password.
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as e:
                raise CredentialsError(f"{source}: auths[{key!r}].auth is not base64 of user:password") from e
            username, colon, password = decoded.partition(":")  # split at the first ':' only
            if not colon or not username:
                raise CredentialsError(f"{source}: auths[{key!r}].auth decodes to no user:password (no ':' or no user)")
        token = str(entry.get("identitytoken") or "")
        if username or password or token:
            log.debug("credentials for %s from %s (%s)", host, source, key)
            return Credentials(username, password, token)
    return None


# (program, server URL) -> what the helper said, or the error it ended with: a helper is run once
# per registry per process, so a failing or hanging one costs its time once, not once per member.
_HELPER_ANSWERS: dict[tuple[str, str], Union[Optional[Credentials], CredentialsError]] = {}
_HELPER_LOCK = threading.Lock()


def forget_helper_answers() -> None:
    """For tests that change a helper between runs in one process."""
    with _HELPER_LOCK:
        _HELPER_ANSWERS.clear()


def run_helper(name: str, host: str, timeout: Optional[float] = None) -> Optional[Credentials]:
    """`docker-credential-<name> get` with the server URL on stdin; "not found" means anonymous."""
    key = (f"docker-credential-{name}", DOCKER_HUB_KEY if host in _HUB_NAMES else host)
    with _HELPER_LOCK:  # held while the helper runs: concurrent look-ups wait for the one answer
        if key not in _HELPER_ANSWERS:
            try:
                _HELPER_ANSWERS[key] = _run_helper(key[0], key[1], host, timeout)
            except CredentialsError as e:
                _HELPER_ANSWERS[key] = e
        answer = _HELPER_ANSWERS[key]
    if isinstance(answer, CredentialsError):
        raise answer
    return answer


def _run_helper(program: str, server: str, host: str, timeout: Optional[float]) -> Optional[Credentials]:
    import subprocess  # here: most runs name no helper, and the import is ~3 ms of every start-up

    timeout = HELPER_TIMEOUT if timeout is None else timeout  # read at call time: settable
    try:
        completed = subprocess.run([program, "get"], input=server.encode(), capture_output=True, timeout=timeout)
    except FileNotFoundError as e:
        raise CredentialsError(f"credential helper {program} is not installed (named in the docker config for {host})") from e
    except OSError as e:  # not executable, a directory, ...
        raise CredentialsError(f"credential helper {program} cannot be run for {host}: {e.strerror or e}") from e
    except subprocess.TimeoutExpired as e:
        raise CredentialsError(f"credential helper {program} did not answer within {timeout:g} s for {host}") from e
    try:
        output = completed.stdout.decode("utf-8").strip()
    except UnicodeDecodeError as e:
        raise CredentialsError(f"credential helper {program} printed bytes that are not UTF-8 for {host} (at byte {e.start})") from e
    errors = completed.stderr.decode("utf-8", "replace")
    if completed.returncode != 0:
        if "credentials not found" in (output + errors).lower():
            return None
        message = (errors or output).strip().splitlines()
        raise CredentialsError(f"credential helper {program} failed for {host}: {message[-1] if message else f'exit {completed.returncode}'}")
    try:
        data = json.loads(output)
        username, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
    except (ValueError, AttributeError) as e:
        raise CredentialsError(f"credential helper {program} printed something that is not its JSON answer for {host}") from e
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def find_credentials(
    host: str,
    *,
    docker_cfg: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[Credentials]:
    """Docker config (credHelpers[host] > credsStore > auths), then podman/containers auth.json."""
    env = os.environ if environ is None else environ
    path = docker_config_path(docker_cfg, env)
    config = _load_json(path)
    helpers = config.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise CredentialsError(f"{path}: `credHelpers` is {json_kind(helpers)}, not an object of registry: helper")
    for key in _keys_for(host):
        if key in helpers:
            if not isinstance(helpers[key], str) or not helpers[key]:
                raise CredentialsError(f"{path}: credHelpers[{key!r}] is not a helper name")
            return run_helper(helpers[key], host)
    store = config.get("credsStore")
    if store is not None and not isinstance(store, str):
        raise CredentialsError(f"{path}: `credsStore` is {json_kind(store)}, not a helper name")
    if store:
        found = run_helper(store, host)
        if found:
            return found
    found = _from_auths(config.get("auths"), host, str(path))
    if found or docker_cfg:
        return found
    for auth_file in podman_auth_paths(env):
        found = _from_auths(_load_json(auth_file).get("auths"), host, str(auth_file))
        if found:
            return found
    return None
