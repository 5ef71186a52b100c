"""One run's shared machinery: the client pool, the per-host scheduler and the engine, opened once
for every spec of a push, plan or lock; and the checks that hold across the specs of a run."""

from __future__ import annotations

from typing import Callable, Optional, Sequence, TypeVar, Union

from manifest_spec.errors import BatchError, ConflictError, ManifestSpecError
from manifest_spec.events import Listener
from manifest_spec.push.engine import Engine, Outcome, Prepared, PushSettings
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.registry.client import ClientOptions, ClientPool
from manifest_spec.specfile.spec import Spec

T = TypeVar("T")
Job = Union[tuple[Spec, PushSettings], ManifestSpecError]  # what to prepare, or why it cannot be
Finish = Callable[[int, Prepared], Prepared]  # (position, prepared) → what it becomes (a lock applied)


class Run:
    """Use as a context manager; `options` already name the pool size (api.Settings.client_options)."""

    def __init__(self, options: ClientOptions, jobs: int, listener: Optional[Listener] = None) -> None:
        self.pool = ClientPool(options)
        self.scheduler = Scheduler(self.pool, jobs)
        self.engine = Engine(self.scheduler, listener)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # On an error (Ctrl-C included) do not wait for requests still in flight: they only read,
        # or write what a repeat would write again.
        wait = exc_type is None
        self.engine.close(wait)
        self.scheduler.close(wait)
        self.pool.__exit__()

    def prepare(self, specs: Sequence[Spec], jobs: Sequence[Job], finish: Optional[Finish] = None, *,
                pushing: bool = False) -> list[Prepared]:
        """Resolve and verify every spec; any failure raises, naming each failing spec. Read-only, but
        for the blob mounts of a first push (`pushing`: see Engine.prepare)."""
        prepared = settle(self.prepare_each(specs, jobs, finish, pushing=pushing), single=len(specs) == 1)
        check_tag_writes(prepared)
        return prepared

    def prepare_each(self, specs: Sequence[Spec], jobs: Sequence[Job], finish: Optional[Finish] = None, *,
                     pushing: bool = False) -> list[Outcome[Prepared]]:
        """Each spec's prepared push or its error; `jobs[i]` is what spec i becomes (or its error)."""
        ready = [(i, job) for i, job in enumerate(jobs) if not isinstance(job, ManifestSpecError)]
        prepared = dict(zip((i for i, _ in ready), self.engine.prepare([job for _, job in ready], pushing=pushing)))
        outcomes: list[Outcome[Prepared]] = []
        for i, (spec, job) in enumerate(zip(specs, jobs)):
            if isinstance(job, ManifestSpecError):
                outcomes.append(Outcome(spec, error=job))
                continue
            outcome = prepared[i]
            if outcome.value is not None and finish is not None:
                try:
                    outcome = Outcome(spec, finish(i, outcome.value))
                except ManifestSpecError as e:
                    outcome = Outcome(spec, error=e)
            outcomes.append(outcome)
        return outcomes


def settle(outcomes: Sequence[Outcome[T]], *, single: bool) -> list[T]:
    """The values, or the error: one spec's own error as it is, several specs' as a BatchError."""
    failures = [(o.spec.path, o.error) for o in outcomes if o.error is not None]
    if failures:
        if single:
            raise failures[0][1]
        raise BatchError(failures)
    return [o.value for o in outcomes if o.value is not None]


def check_tag_writes(prepared: Sequence[Prepared]) -> None:
    """Before any write: no tag gets two contents in one run. A carry writes tags too (referrers
    indexes, cosign tags): two specs carrying different artifacts for one image into one
    repository, or an extra tag named like a carried one, would leave whichever landed last."""
    owner: dict[tuple[str, str, str], tuple[str, str, str]] = {}  # (host, repository, tag) -> (digest, spec, what)
    for p in prepared:
        target = p.spec.image
        writes = [(target, tag, p.index.digest, "the index") for tag in p.tags]
        if p.carry is not None:
            writes += [(p.carry.target, w.tag, w.digest, f"a carried {w.kind} tag") for w in p.carry.tag_writes]
            # A carried tag that already holds what it should is not written, but must not be overwritten either.
            writes += [(p.carry.target, tag, f"as it is: {tag}", "a carried tag kept as it is") for tag in p.carry.unchanged]
        for ref, tag, digest, what in writes:
            key = (ref.api_host.lower(), ref.repository, tag)
            first = owner.setdefault(key, (digest, p.spec.path, what))
            if first[0] != digest:
                both = f"{first[1]} and {p.spec.path} both" if first[1] != p.spec.path else f"{p.spec.path}"
                raise ConflictError(
                    f"{both} would write {ref.with_tag(tag)} ({first[2]}, and {what}) with different content; "
                    "push them in separate runs, or rename the tag (nothing was written)"
                )
