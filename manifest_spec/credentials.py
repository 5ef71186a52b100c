"""Where credentials for a registry host come from: flags, environment, docker and podman files."""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from manifest_spec.errors import ManifestSpecError

log = logging.getLogger(__name__)

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 30.0
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


class CredentialsError(ManifestSpecError):
    """A credential store could not be read, or a credential helper failed."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

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
    if not isinstance(auths, dict):
        return None
    for key in _keys_for(host):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"])).decode("utf-8")
            except (ValueError, UnicodeDecodeError) as e:
                raise CredentialsError(f"{source}: the auth entry for {key} is not base64 of user:password") from e
            username, _, password = decoded.partition(":")  # split at the first ':' only
        token = str(entry.get("identitytoken") or "")
        if username or password or token:
            log.debug("credentials for %s from %s (%s)", host, source, key)
            return Credentials(username, password, token)
    return None


def run_helper(name: str, host: str, timeout: Optional[float] = None) -> Optional[Credentials]:
    """`docker-credential-<name> get` with the server URL on stdin; "not found" means anonymous."""
    import subprocess  # here: most runs name no helper, and the import is ~3 ms of every start-up
    timeout = HELPER_TIMEOUT if timeout is None else timeout  # read at call time: settable
    program = f"docker-credential-{name}"
    server = DOCKER_HUB_KEY if host in _HUB_NAMES else host
    try:
        result = subprocess.run([program, "get"], input=server, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise CredentialsError(f"credential helper {program} is not installed (named in the docker config for {host})") from e
    except OSError as e:  # not executable, a directory, ...
        raise CredentialsError(f"credential helper {program} cannot be run for {host}: {e.strerror or e}") from e
    except subprocess.TimeoutExpired as e:
        raise CredentialsError(f"credential helper {program} did not answer within {timeout:g} s for {host}") from e
    output = (result.stdout or "").strip()
    if result.returncode != 0:
        if "credentials not found" in (output + result.stderr).lower():
            return None
        message = (result.stderr or output).strip().splitlines()
        raise CredentialsError(f"credential helper {program} failed for {host}: {message[-1] if message else f'exit {result.returncode}'}")
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
    for key in _keys_for(host):
        if isinstance(helpers, dict) and isinstance(helpers.get(key), str):
            return run_helper(helpers[key], host)
    if isinstance(config.get("credsStore"), str) and config["credsStore"]:
        found = run_helper(config["credsStore"], host)
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
