"""Shared fixtures: one real registry per test session, a fresh repository name per test, and
no ambient credentials for any test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from manifest_spec.registry.credentials import forget_helper_answers
from manifest_spec.scrub import forget as forget_secrets
from support.ggcr import ggcr_registry  # noqa: F401  (the second registry, session-wide)
from support.registry import Registry, RegistryNotFoundError, unique_repo_name

GROUPS = ("unit", "registry", "clients")  # tests/<group>/ -> the marker of the same name (setup.cfg)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder, so `pytest -m unit` runs the offline tests alone."""
    tests = Path(__file__).resolve().parent
    for item in items:
        group = item.path.resolve().relative_to(tests).parts[0]
        if group in GROUPS:
            item.add_marker(getattr(pytest.mark, group))


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A started ``docker-registry`` on a free loopback port (fails, never skips, if missing)."""
    try:
        reg = Registry().start()
    except RegistryNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield reg
    finally:
        reg.stop()


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
