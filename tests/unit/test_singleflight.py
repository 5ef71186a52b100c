"""One exchange, one verdict (issue 17): SingleFlight, deterministically (no timing asserted)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from manifest_spec.errors import RegistryError
from manifest_spec.registry.singleflight import SingleFlight


def test_waiters_share_one_run_and_its_failure() -> None:
    flights: SingleFlight[str] = SingleFlight()
    started, release = threading.Event(), threading.Event()
    runs = []

    def work() -> str:
        runs.append(1)
        started.set()
        release.wait(10)
        raise RegistryError("token server did not answer")

    with ThreadPoolExecutor(5) as pool:
        leader = pool.submit(flights.run, "key", work)
        assert started.wait(10)
        waiters = [pool.submit(flights.run, "key", work) for _ in range(4)]
        release.set()
        errors = [f.exception(10) for f in [leader, *waiters]]
    assert len(runs) == 1 and flights.runs == 1
    assert all(isinstance(e, RegistryError) and str(e) == "token server did not answer" for e in errors)
    with pytest.raises(RegistryError, match="did not answer"):  # the verdict stands: no second run
        flights.run("key", work)
    assert len(runs) == 1


def test_a_success_is_shared_and_the_next_run_is_a_new_one() -> None:
    flights: SingleFlight[int] = SingleFlight()
    assert flights.run("a", lambda: 1) == 1
    assert flights.run("a", lambda: 2) == 2  # done flights are not cached: the caller caches tokens
    assert flights.run("b", lambda: 3) == 3 and flights.runs == 3


def test_a_verdict_recorded_for_another_key() -> None:
    flights: SingleFlight[int] = SingleFlight()
    flights.fail(("realm", "r"), RegistryError("down"))
    assert isinstance(flights.failure(("realm", "r")), RegistryError)
    assert flights.failure("other") is None
