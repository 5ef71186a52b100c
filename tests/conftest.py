"""Shared fixtures, the only place a registry is started for tests: per session a plain registry,
a second one, go-containerregistry's, one serving HTTPS and one requiring client certificates; per
module one behind Basic auth and one behind a token server, with the module's own account
(`basic_account`) or token server (`tokens`). Also the only place a proxy in front of one is a
fixture (`fault_proxy`, `recording_proxy`, `token_front`), a fresh repository name per test, and no
ambient credentials for any test. A test's `registry` is the plain one; a test or module marked
`both_registries` runs once on it and once on go-containerregistry's (pytest_generate_tests)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import pytest
from support.registry import Registry, htpasswd_config, started_registry, unique_repo_name

from manifest_spec.registry.credentials import forget_helper_answers
from manifest_spec.scrub import forget as forget_secrets

if TYPE_CHECKING:  # only for the annotation: the unit tests need not import JWT and X.509 code
    from support.faults import FaultProxy
    from support.ggcr import GgcrRegistry
    from support.recorder import RecordingProxy
    from support.tls import PKI
    from support.tokenserver import TokenServer

GROUPS = ("unit", "registry", "clients")  # tests/<group>/ -> the marker of the same name (setup.cfg)
BOTH_REGISTRIES = ("distribution", "ggcr")  # what a `both_registries` test's `registry` is, run by run


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """`-m unit` (or `-m registry`, `-m clients`) alone: the other folders hold none of those tests,
    so they are not even imported (the unit run skips the registry and client tests' imports)."""
    wanted = config.getoption("markexpr")
    if wanted not in GROUPS:
        return None
    try:
        group = collection_path.resolve().relative_to(Path(__file__).resolve().parent).parts[0]
    except (ValueError, IndexError):
        return None
    return True if group in GROUPS and group != wanted else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder, so `pytest -m unit` runs the offline tests alone."""
    tests = Path(__file__).resolve().parent
    for item in items:
        group = item.path.resolve().relative_to(tests).parts[0]
        if group in GROUPS:
            item.add_marker(getattr(pytest.mark, group))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_registries` (a module: `pytestmark = pytest.mark.both_registries`) that
    takes `registry`, itself or through a fixture, runs on CNCF distribution, then on
    go-containerregistry's: `test_x[distribution]`, `test_x[ggcr]`. One parametrizing `registry`
    itself (test_referrers' DISTRIBUTION_ONLY) keeps its own list."""
    if metafunc.definition.get_closest_marker("both_registries") is None or "registry" not in metafunc.fixturenames:
        return
    if any("registry" in parametrized_names(mark) for mark in metafunc.definition.iter_markers("parametrize")):
        return
    metafunc.parametrize("registry", BOTH_REGISTRIES, indirect=True)


def parametrized_names(mark: pytest.Mark) -> list[str]:
    """The argument names of a `pytest.mark.parametrize` ("a, b", or a list or tuple of names)."""
    names = mark.args[0] if mark.args else mark.kwargs["argnames"]
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)


# -- the registries: every test file takes these, with its own account or token server -----------


@pytest.fixture(scope="session")
def distribution_registry() -> Iterator[Registry]:
    """A started ``docker-registry`` on a free loopback port (fails, never skips, if missing)."""
    yield from started_registry()


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Registry | GgcrRegistry:
    """The test's registry: `distribution_registry`, or `ggcr_registry` for the `ggcr` run of a
    `both_registries` test (see pytest_generate_tests). Both live for the session."""
    kind = getattr(request, "param", "distribution")
    assert kind in BOTH_REGISTRIES, kind
    registry: Registry | GgcrRegistry = request.getfixturevalue(f"{kind}_registry")
    return registry


@pytest.fixture(scope="session")
def other_registry() -> Iterator[Registry]:
    """A second plain registry: what is copied across registries (blobs streamed, not mounted)."""
    yield from started_registry()


@pytest.fixture(scope="session")
def ggcr_registry() -> Iterator[GgcrRegistry]:
    """go-containerregistry's registry on a free loopback port (support/ggcr.py says how it differs)."""
    from support.ggcr import started_ggcr_registry

    yield from started_ggcr_registry()


@pytest.fixture(scope="session")
def ggcr(ggcr_registry: GgcrRegistry) -> GgcrRegistry:
    """`ggcr_registry`, by the name its test files use."""
    return ggcr_registry


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """A CA with a server certificate for 127.0.0.1 and a client certificate (support/tls.py)."""
    from support.tls import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_registry(pki: PKI) -> Iterator[Registry]:
    """A registry serving HTTPS with `pki`'s server certificate."""
    from support.tls import tls_registry_config

    for registry in started_registry(tls_registry_config(pki)):
        assert registry.url.startswith("https://")
        yield registry


@pytest.fixture(scope="session")
def mtls_registry(pki: PKI) -> Iterator[Registry]:
    """A registry serving HTTPS that answers only clients presenting `pki`'s client certificate."""
    from support.tls import MTLSRegistry

    yield from started_registry(MTLSRegistry(pki))


@pytest.fixture(scope="module")
def basic_registry(basic_account: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry behind Basic auth (htpasswd) for the (user, password) of the module's `basic_account` fixture."""
    yield from started_registry(htpasswd_config(tmp_path_factory.mktemp("htpasswd"), *basic_account))


@pytest.fixture(scope="module")
def token_realm() -> Optional[str]:
    """Where `token_registry` sends clients for tokens; None: straight to `tokens`. A module overrides
    it to put a fault proxy in front of its token server."""
    return None


@pytest.fixture(scope="module")
def token_front(tokens: TokenServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the module's token server; a module taking it overrides `token_realm`
    with the proxy's /token, so the registry sends clients through it."""
    from support.faults import FaultProxy

    with FaultProxy(tokens.host) as front:
        yield front


@pytest.fixture(scope="module")
def token_registry(tokens: TokenServer, token_realm: Optional[str]) -> Iterator[Registry]:
    """A registry trusting the module's `tokens` fixture (a TokenServer with its own users and policy)."""
    yield from started_registry(tokens.registry_config(realm=token_realm))


# -- proxies in front of them: what a test injects (faults) or counts (requests) -----------------


@pytest.fixture
def fault_proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the test's `registry` (support/faults.py), stopped after
    the test. A test that runs on both registries (`both_registries`) gets it in front of each."""
    from support.faults import FaultProxy

    with FaultProxy(registry.host) as proxy:
        yield proxy


@pytest.fixture
def recording_proxy(registry: Registry) -> Iterator[RecordingProxy]:
    """A proxy recording every request to the test's `registry` (support/recorder.py), stopped after the test."""
    from support.recorder import RecordingProxy

    with RecordingProxy(registry.host, lifetime=120) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the developer's ~/.docker or podman files, credentials or CA settings."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "MANIFEST_SPEC_USERNAME",
                 "MANIFEST_SPEC_PASSWORD", "MANIFEST_SPEC_AUTH_REGISTRY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    forget_helper_answers()  # a helper runs once per process; each test is a process of its own here
    forget_secrets()


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A unique lower-case repository name for this test, e.g. ``t/test-push-3``."""
    return unique_repo_name(request.node.name)
