"""Lean start-up (issues 8 and 18): what `validate` and a push import before they work (an
allow-list), the environment's proxy settings read once per host, and the threads a push starts.
Structural, not timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.images import push_image
from support.registry import Registry
from support.scenarios import EXTRA_TAGS, scenario_a

from manifest_spec import __version__
from manifest_spec.registry import httpclient
from manifest_spec.registry.client import ClientOptions, RegistryClient

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


# Everything of ours, and of third parties, that a push may import before its first request; the
# rest (lock, plan, inspect, the schema check, the carry of signatures for members from other
# repositories) waits for a command or a spec that needs it.
OURS_BEFORE_FIRST_REQUEST = {
    "manifest_spec", "manifest_spec.__main__", "manifest_spec.api", "manifest_spec.errors", "manifest_spec.events",
    "manifest_spec.schemas", "manifest_spec.scrub",
    "manifest_spec.carry", "manifest_spec.carry.settings",
    "manifest_spec.cli", "manifest_spec.cli.main", "manifest_spec.cli.common", "manifest_spec.cli.fromargs", "manifest_spec.cli.output", "manifest_spec.cli.progress",
    "manifest_spec.oci", "manifest_spec.oci.index", "manifest_spec.oci.manifest", "manifest_spec.oci.platforms",
    "manifest_spec.oci.reference",
    "manifest_spec.push", "manifest_spec.push.engine", "manifest_spec.push.placement", "manifest_spec.push.readahead", "manifest_spec.push.resolve",
    "manifest_spec.push.scheduler",
    "manifest_spec.registry", "manifest_spec.registry.auth", "manifest_spec.registry.client", "manifest_spec.registry.credentials",
    "manifest_spec.registry.deadline", "manifest_spec.registry.failures", "manifest_spec.registry.httpclient",
    "manifest_spec.registry.httperrors", "manifest_spec.registry.proxies", "manifest_spec.registry.singleflight",
    "manifest_spec.registry.transport",
    "manifest_spec.specfile", "manifest_spec.specfile.conforms", "manifest_spec.specfile.document", "manifest_spec.specfile.spec",
}
# click parses, PyYAML reads (its C extension brings Cython's runtime), urllib3 sends. Not requests
# (~20 ms of imports: charset_normalizer, idna, http.cookiejar), not jsonschema, not tqdm.
THIRD_PARTY_BEFORE_FIRST_REQUEST = {"click", "yaml", "_yaml", "urllib3", "cython_runtime"}
# Standard-library modules a push needs none of before it sends: a did-you-mean, a helper process,
# a cookie jar, a temporary CA bundle (only with certs.d CAs).
# importlib.metadata (with zipfile and csv): urllib3.http2 imports it to check h2's version, never
# needed here (__main__._without_http2_metadata).
STDLIB_NEVER_BEFORE_FIRST_REQUEST = {"subprocess", "difflib", "http.cookiejar", "argparse", "asyncio", "importlib.metadata", "zipfile", "csv"}


def _modules_of(snippet: str) -> set[str]:
    """Run `snippet` in a fresh interpreter; it prints json.dumps(sorted(modules)) on a line of its own."""
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(next(line for line in reversed(result.stdout.splitlines()) if line.startswith("["))))


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


def test_push_imports_only_the_allow_list_before_its_first_request(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = scenario_a(registry.url, registry.host, repo_name, tmp_path, count=3)
    # Through the console entry point, as a user runs it; it ends with os._exit, so the list is
    # printed at the first connect.
    report = _modules_of(
        "import json, socket, sys, sysconfig\n"
        "import manifest_spec\n"  # the package itself (and, in a development install, its import hook) first
        "before = set(sys.modules)\n"
        "stdlib = sysconfig.get_paths()['stdlib']\n"
        "connect = socket.socket.connect\n"
        "def first(self, address):\n"
        "    socket.socket.connect = connect\n"
        "    new = sorted(set(sys.modules) - before)\n"
        "    where = {m: getattr(sys.modules[m], '__file__', None) for m in new}\n"
        "    std = lambda m: where[m] is None or where[m].startswith(stdlib) and 'site-packages' not in where[m]\n"
        "    print(json.dumps(['std:' + m if std(m) else m for m in new]), flush=True)\n"
        "    return connect(self, address)\n"
        "socket.socket.connect = first\n"
        f"sys.argv = ['manifest-spec', '--plain-http', 'push', 'from-spec', {spec!r}]\n"
        "from manifest_spec.__main__ import run\n"
        "run()\n"
    )
    stdlib = {m[4:] for m in report if m.startswith("std:")}
    others = {m for m in report if not m.startswith("std:")}
    ours = {m for m in others if m.split(".")[0] == "manifest_spec"}
    assert "manifest_spec.push.engine" in ours  # the first request came from the push
    assert ours <= OURS_BEFORE_FIRST_REQUEST, sorted(ours - OURS_BEFORE_FIRST_REQUEST)
    third = {m.split(".")[0] for m in others - ours if not m.startswith("_cython_")}
    assert third <= THIRD_PARTY_BEFORE_FIRST_REQUEST, sorted(third - THIRD_PARTY_BEFORE_FIRST_REQUEST)
    assert not stdlib & STDLIB_NEVER_BEFORE_FIRST_REQUEST, sorted(stdlib & STDLIB_NEVER_BEFORE_FIRST_REQUEST)


def test_a_push_starts_threads_for_its_widest_round_not_per_request(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """Scenario a (10 platforms, 3 extra tags): request threads at most the widest round (10 member
    GETs and 4 tag HEADs: each a request in flight, a thread each), one logic thread to resolve the
    spec's members (their reads go out from the answers' callbacks, push/readahead.py: not a thread
    per member) and at most one more for its writes, one deadline watchdog: at most 17, not 26."""
    spec = scenario_a(registry.url, registry.host, repo_name, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c",
         "import collections, json, sys, threading\n"
         "names = []\n"
         "start = threading.Thread.start\n"
         "def counted(self):\n"
         "    names.append(self.name)\n"
         "    return start(self)\n"
         "threading.Thread.start = counted\n"
         "from manifest_spec.cli.main import main\n"
         "try:\n"
         f"    main(['--plain-http', 'push', 'from-spec', {spec!r}])\n"
         "except SystemExit as e:\n"
         "    assert e.code == 0, e.code\n"
         "print(json.dumps([names, sorted(m for m in sys.modules if m.startswith('manifest_spec.carry.'))]))\n"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names, carry = json.loads(result.stdout.splitlines()[-1])
    assert carry == ["manifest_spec.carry.settings"], carry  # nothing from elsewhere: none of the carry code, not even to print nothing
    requests = [n for n in names if n.startswith(f"req-{registry.host}_")]
    logic = [n for n in names if n.startswith("logic_")]
    watchdog = [n for n in names if n == "manifest-spec-deadlines"]
    assert sorted(requests + logic + watchdog) == sorted(names), names  # nothing else starts a thread
    assert 1 <= len(requests) <= 10 + 1 + len(EXTRA_TAGS), names
    assert 1 <= len(logic) <= 2, names
    assert len(watchdog) == 1


def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch, registry: Registry, repo_name: str) -> None:
    """Which proxy the environment names is asked once per scheme and host, not per request."""
    push_image(registry.url, repo_name, "amd64")
    looks: list[str] = []
    real = httpclient.environment_proxy

    def counted(url: str) -> object:
        looks.append(url)
        return real(url)

    monkeypatch.setattr(httpclient, "environment_proxy", counted)
    client = RegistryClient(registry.host, ClientOptions(plain_http=True))
    for _ in range(3):
        client.get_manifest(repo_name, "amd64", "read")
        assert client.head_manifest(repo_name, "amd64", "head") is not None
    assert looks == [f"http://{registry.host}/"]


def test_version_prints_clicks_line_without_importing_click() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "manifest_spec", "--version"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stdout == f"manifest-spec, version {__version__}\n"
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "manifest_spec" in imported
    assert not {"click", "manifest_spec.cli", "logging", "yaml"} & imported, sorted(imported)
