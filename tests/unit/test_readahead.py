"""push/readahead.py: the read-ahead announces a member's children from the answers' callbacks, which
may run after the member's own resolution (a waiter wakes before a future's callbacks run): such a
late announcement must not start a spec's carry reads again once the spec is prepared."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable, Hashable, Optional

from support.fakes import FakePool, FakeRegistry
from support.specs import spec

from manifest_spec.oci.reference import Reference
from manifest_spec.push.engine import Engine, PushSettings
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.specfile.spec import spec_from_data


class LateCallbacks(Scheduler):
    """The member's manifest GET answers only once the member's resolution asked for it too, and its
    first callback (before the read-ahead's) holds its request thread until `released`."""

    def __init__(self, pool: Any, key: Hashable) -> None:
        super().__init__(pool, 4)
        self.key, self.asked, self.go, self.released = key, 0, threading.Event(), threading.Event()

    def submit(self, reference: Reference, call: Callable[[Any], Any], key: Optional[Hashable] = None) -> Future[Any]:
        if key != self.key:
            return super().submit(reference, call, key)
        self.asked += 1
        if self.asked == 1:
            future = super().submit(reference, lambda client: (self.go.wait(10), call(client))[1], key)
            future.add_done_callback(lambda _: self.released.wait(10))
            return future
        self.go.set()  # the resolution asks: the read-ahead's callback is in place behind the holding one
        return super().submit(reference, call, key)


def test_a_read_ahead_callback_after_the_spec_is_prepared_starts_no_carry_reads(source: FakeRegistry, target: FakeRegistry) -> None:
    source.add_image("ci/app", "amd64", architecture="amd64")
    the_spec = spec_from_data(spec("target.test/team/app:v1", ("source.test/ci/app:amd64", "amd64")), "app.yaml")
    member = the_spec.members[0].image
    scheduler = LateCallbacks(FakePool(source, target), ("manifest", member.api_host, member.repository, "amd64"))
    engine = Engine(scheduler)
    try:
        (outcome,) = engine.prepare([(the_spec, PushSettings(index_type="oci"))])
        assert outcome.error is None and outcome.value is not None and scheduler.asked == 2
    finally:
        scheduler.released.set()
        scheduler.close()  # every callback has run
        engine.close()
    assert engine.carrying == {}, "a carry read started for a spec already prepared"
