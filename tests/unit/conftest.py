"""The unit tests stay unit tests: no connection, no name look-up, no child process (no registry
binary is needed, or found). A test that needs one belongs in tests/registry or tests/clients."""

from __future__ import annotations

import socket
import subprocess
from typing import Any, NoReturn

import pytest
from support.fakes import FakeRegistry

WHERE = "belongs in tests/registry or tests/clients, not tests/unit"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The registry fixtures are session- and module-wide: started before `offline` below could stop them."""
    parametrized = getattr(getattr(item, "callspec", None), "params", {})  # `registry` as a plain argument is fine
    started = sorted(n for n in getattr(item, "fixturenames", ()) if (n.endswith("registry") or n == "ggcr") and n not in parametrized)
    if started:
        pytest.fail(f"{item.nodeid} takes {', '.join(started)}: it {WHERE}", pytrace=False)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"a unit test used the network: it {WHERE}")

    def no_process(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"a unit test started a process: it {WHERE}")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)


@pytest.fixture
def source() -> FakeRegistry:
    """The registry the members come from (an in-process fake)."""
    return FakeRegistry("source.test")


@pytest.fixture
def target() -> FakeRegistry:
    """The registry the index goes to (an in-process fake)."""
    return FakeRegistry("target.test")
