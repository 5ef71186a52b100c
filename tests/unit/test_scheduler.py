"""push/scheduler.py: requests bounded per registry host, each keyed read sent once, queued work cancelled on close.

Threads are counted, not timed: a pool of `jobs` workers runs calls on at most `jobs` threads, and a
barrier of `jobs` parties is passed only if `jobs` calls are in flight together."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest
from support.fakes import FakeClient, FakePool, FakeRegistry

from manifest_spec.oci.reference import Reference
from manifest_spec.push.scheduler import Scheduler

A, B = Reference("a.test", "app"), Reference("b.test", "app")
WAIT = 30  # seconds a stuck test waits before failing; never reached when the code is right


def scheduler(jobs: int) -> tuple[Scheduler, FakePool]:
    pool = FakePool(FakeRegistry("a.test"), FakeRegistry("b.test"))
    return Scheduler(pool, jobs), pool  # type: ignore[arg-type]


@pytest.mark.parametrize("jobs", [1, 3])
def test_each_host_gets_jobs_requests_in_flight_and_no_more(jobs: int) -> None:
    sched, _ = scheduler(jobs)
    together = {host: threading.Barrier(jobs, timeout=WAIT) for host in ("a.test", "b.test")}
    threads: dict[str, set[str]] = {"a.test": set(), "b.test": set()}
    lock = threading.Lock()

    def call(client: FakeClient) -> str:
        with lock:
            threads[client.host].add(threading.current_thread().name)
        together[client.host].wait()  # passes only when `jobs` calls for this host run at once
        return client.host

    with sched:
        futures = [sched.submit(ref, call) for _ in range(4 * jobs) for ref in (A, B)]
        assert [f.result(WAIT) for f in futures] == ["a.test", "b.test"] * 4 * jobs  # each ran with its host's client
    for host, names in threads.items():
        assert len(names) == jobs, names  # at most `jobs` threads per host: never more in flight
        assert all(host in name for name in names), names  # and each host's calls on its own pool


def test_a_keyed_read_is_sent_once_and_its_answer_shared() -> None:
    sched, _ = scheduler(4)
    calls: list[str] = []

    def read(client: FakeClient) -> str:
        calls.append(client.host)
        return "manifest"

    with sched:
        first = sched.submit(A, read, key=("manifest", "a.test", "app", "v1"))
        again = sched.submit(A, read, key=("manifest", "a.test", "app", "v1"))
        other = sched.submit(A, read, key=("manifest", "a.test", "app", "v2"))
        unkeyed = [sched.submit(A, read), sched.submit(A, read)]
        assert again is first and other is not first
        assert {first.result(WAIT), other.result(WAIT), *(f.result(WAIT) for f in unkeyed)} == {"manifest"}
    assert calls == ["a.test"] * 4  # v1 once, v2 once, the two unkeyed each


def test_a_failed_keyed_read_fails_every_asker_without_asking_again() -> None:
    sched, _ = scheduler(2)
    calls: list[int] = []

    def read(client: FakeClient) -> str:
        calls.append(1)
        raise RuntimeError("registry said no")

    with sched:
        futures = [sched.submit(A, read, key="k") for _ in range(3)]
        for future in futures:
            with pytest.raises(RuntimeError, match="registry said no"):
                future.result(WAIT)
    assert calls == [1]


def test_close_cancels_what_is_still_queued_and_lets_the_running_call_finish() -> None:
    sched, _ = scheduler(1)
    started, release = threading.Event(), threading.Event()

    def slow(client: FakeClient) -> str:
        started.set()
        release.wait(WAIT)
        return "done"

    running = sched.submit(A, slow)
    assert started.wait(WAIT)
    queued: Future[str] = sched.submit(A, lambda client: "never")
    sched.close(wait=False)
    assert queued.cancelled()
    release.set()
    assert running.result(WAIT) == "done"


def test_the_client_is_the_pools_for_the_references_host() -> None:
    sched, pool = scheduler(2)
    with sched:
        assert sched.client(B).host == "b.test" and sched.client(A).host == "a.test"
        assert sched.submit(B, lambda client: client.host).result(WAIT) == "b.test"
    assert pool.asked == ["b.test", "a.test", "b.test"]
