"""Lean start-up (issue 8): what `validate` and a push import before they work, and requests'
per-request look at the environment done once per host. Structural, not timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import requests.sessions

from manifest_spec.registry.session import Session
from support.images import push_image
from support.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
VALID_SPEC = sorted((ROOT / "tests" / "specs" / "valid").glob("*.yaml"))[0]

# What costs start-up time and is not needed: jsonschema (~50 ms) only for a spec that may be
# invalid; importlib.resources drags in tempfile/zipfile; subprocess only for credential helpers;
# the lock, plan and inspect machinery only for their commands.
NEVER_BEFORE_FIRST_REQUEST = {
    "jsonschema", "subprocess", "manifest_spec.review.lock", "manifest_spec.review.plan", "manifest_spec.review.planview",
    "manifest_spec.cli.review", "manifest_spec.review.describe", "manifest_spec.review.tospec",
}
NEVER_IN_VALIDATE = NEVER_BEFORE_FIRST_REQUEST | {
    "requests", "urllib3", "importlib.resources", "tempfile", "manifest_spec.events", "manifest_spec.registry.client",
    "manifest_spec.push.engine",
}


def _modules_of(snippet: str) -> set[str]:
    """Run `snippet` in a fresh interpreter; it prints json.dumps(sorted(sys.modules)) last."""
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_validate_imports_only_what_checking_a_file_needs() -> None:
    spec = ROOT / "specs" / "app.yaml"
    modules = _modules_of(
        "import json, sys\n"
        "from manifest_spec.cli.main import main\n"
        "try:\n"
        f"    main(['validate', {str(spec)!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    assert "manifest_spec.specfile.spec" in modules  # it did validate
    assert not modules & NEVER_IN_VALIDATE, sorted(modules & NEVER_IN_VALIDATE)


def test_push_imports_nothing_it_does_not_need_before_its_first_request(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"image: {registry.host}/{repo_name}:multi\n"
        f"manifests:\n  - image: {registry.host}/{repo_name}:amd64\n    platform: {{os: linux, architecture: amd64}}\n",
        encoding="utf-8",
    )
    modules = _modules_of(
        "import json, socket, sys\n"
        "seen = []\n"
        "connect = socket.socket.connect\n"
        "def first(self, address):\n"
        "    if not seen:\n"
        "        seen.append(sorted(sys.modules))\n"
        "    return connect(self, address)\n"
        "socket.socket.connect = first\n"
        "from manifest_spec.cli.main import main\n"
        "try:\n"
        f"    main(['--plain-http', 'push', 'from-spec', {str(spec)!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(json.dumps(seen[0]))\n"
    )
    assert "manifest_spec.push.engine" in modules  # the first request came from the push
    assert not modules & NEVER_BEFORE_FIRST_REQUEST, sorted(modules & NEVER_BEFORE_FIRST_REQUEST)


def test_the_environment_is_read_once_per_host_and_answers_as_requests_does(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("", encoding="utf-8")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    looks = []
    real = requests.sessions.get_environ_proxies

    def counted(url: str, no_proxy: object = None) -> dict[str, str]:
        looks.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    ours, theirs = Session(), requests.Session()
    calls = [
        ("https://registry.example/v2/a/manifests/1", True, None),
        ("https://registry.example/v2/b/blobs/sha256:00", True, None),
        ("http://registry.example/v2/", True, None),
        ("https://bypassed.example/token?scope=x", True, None),
        ("https://registry.example/v2/a/manifests/2", False, None),
        ("https://registry.example/v2/a/manifests/3", str(bundle), ("c.cert", "c.key")),
    ]
    for url, verify, cert in calls * 3:
        expected = theirs.merge_environment_settings(url, {}, None, verify, cert)
        looks_before = len(looks)
        got = ours.merge_environment_settings(url, {}, None, verify, cert)
        assert got == expected
        got["proxies"]["https"] = "changed by the caller"  # a copy: the next answer is unchanged
        assert len(looks) - looks_before <= 1
    ours_looks = len(looks) - len(calls) * 3  # requests' own session looked every time
    distinct = {(urlsplit(url)[:2], verify, cert) for url, verify, cert in calls}
    assert ours_looks == len(distinct) == 5  # once per scheme, host and arguments, not per request
    assert ours.merge_environment_settings(calls[0][0], {}, None, True, None)["proxies"]["https"] == "http://127.0.0.1:9"
    # proxies given by the caller take requests' own path, every time
    given = {"https": "http://127.0.0.1:8"}
    assert ours.merge_environment_settings(calls[0][0], dict(given), None, True, None) == theirs.merge_environment_settings(
        calls[0][0], dict(given), None, True, None
    )


def test_validate_does_not_import_requests() -> None:
    code = (
        "import sys\n"
        "from manifest_spec.cli.main import main\n"
        "try:\n"
        f"    main(['validate', {str(VALID_SPEC)!r}], standalone_mode=False)\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "else:\n"
        "    raise AssertionError('validate did not exit')\n"
        "assert 'requests' not in sys.modules, 'validate imported requests'\n"
        "print('no requests')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no requests" in result.stdout
