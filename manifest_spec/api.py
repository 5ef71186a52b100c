"""The library API under the CLI: load, plan, lock, check locks and push any number of specs.

Every function takes spec paths (or loaded specs) and a `Settings`, returns typed results, and
raises the errors.py errors the CLI maps to exit codes. Several specs are one run: all are
validated first, all resolved and verified before any manifest or tag is written, all pushed at once
over shared connections, token caches and member reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence, TypeVar

from manifest_spec.errors import BatchError, ConflictError, ManifestSpecError, Problem, SpecError
from manifest_spec.specfile.spec import Spec, load_spec, parse_spec

if TYPE_CHECKING:  # the HTTP side is imported when a run starts: `validate` stays offline and quick
    from manifest_spec.carry.settings import CarrySettings
    from manifest_spec.events import Listener
    from manifest_spec.oci.index import BuiltIndex
    from manifest_spec.push.engine import Outcome, Prepared, PushResult, PushSettings
    from manifest_spec.registry.client import ClientOptions
    from manifest_spec.review.plan import SpecPlan

# Why 64: the widest round of a large spec fits in one wave, and an unanswered wave costs a whole
# round trip. 10 platforms from other repositories make round 2 51 requests: 10 config GETs, 10
# child HEADs, 20 mounts (a first push mounts beside the reads) and 11 reads for the carry (a tag
# list per repository, the referrers-API probe); 32 measured 6 round trips there, 64 measured 5.
# Registries limit request counts (Docker Hub) rather than concurrency; lower it (--jobs) for
# one that throttles connections.
DEFAULT_JOBS = 64

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Everything the flags decide for one run; `type_flag` wins over each spec's `type`."""

    variables: Mapping[str, str] = field(default_factory=dict)
    allow_unknown_platform: bool = False
    type_flag: Optional[str] = None
    ignore_missing: bool = False
    check_platform: bool = True
    locked: bool = False  # push / plan exactly each spec's lock file
    lock_file: Optional[str] = None  # another lock file than SPEC.lock (one spec only)
    jobs: int = DEFAULT_JOBS  # requests in flight per registry host
    client: Optional[ClientOptions] = None  # how to reach registries (None: the defaults)
    listener: Optional[Listener] = None
    carry: Optional[CarrySettings] = None  # --no-referrers, --referrers-type (None: carry them all)
    label_annotations: tuple[str, ...] = ()  # --annotation-from-label: added to each spec's annotationsFromLabels
    attestations: Optional[str] = None  # --attestations keep|drop: wins over each spec's attestations:


@dataclass(frozen=True)
class Validated:
    """One file `validate` looked at."""

    file: str  # as problems name it: `<stdin>` for `-`
    problems: list[Problem]  # none: valid (or skipped)
    skipped: bool = False  # not a spec at all (skip_non_specs)


def _paths(paths: Sequence[str]) -> Sequence[str]:
    if isinstance(paths, str):  # a str is a Sequence[str] too: each letter would be read as a file
        raise TypeError(f"give a list of spec paths, not one string: [{paths!r}]")
    return paths


def validate(paths: Sequence[str], settings: Settings = Settings(), *, skip_non_specs: bool = False) -> list[Validated]:
    """Every file with its problems; offline. `skip_non_specs`: YAML without a top-level
    `manifests:` (nor a misspelling of it) is skipped, not reported, e.g. a Helm Chart.yaml."""
    from manifest_spec.specfile.document import looks_like_spec, read_source

    results: list[Validated] = []
    for path in _paths(paths):
        try:
            name, raw = read_source(path)
            if skip_non_specs and not looks_like_spec(raw):
                results.append(Validated(name, [], skipped=True))
                continue
            parse_spec(raw, name, settings.variables, allow_unknown_platform=settings.allow_unknown_platform)
            results.append(Validated(name, []))
        except SpecError as e:
            results.append(Validated(e.problems[0].file if e.problems else path, e.problems))
    return results


def load(paths: Sequence[str], settings: Settings = Settings()) -> list[Spec]:
    """Read and validate every spec file; SpecError lists every problem of every file."""
    specs, problems = [], []
    for path in _paths(paths):
        try:
            specs.append(load_spec(path, settings.variables, allow_unknown_platform=settings.allow_unknown_platform))
        except SpecError as e:
            problems += e.problems
    if problems:
        raise SpecError(problems)
    check_conflicts(specs)
    return specs


def from_args(
    target: str, images: Sequence[str] = (), *, images_from: Optional[str] = None, stdin_text: Optional[str] = None,
    tags: Sequence[str] = (), annotations: Sequence[str] = (), platforms: Sequence[str] = (), template: Optional[str] = None,
    extra: Optional[dict[str, Any]] = None, settings: Settings = Settings(),
) -> Spec:
    """The spec `from-args` describes: `images` (and the lines of `images_from`; `-` is `stdin_text`),
    each platform read from its config; or manifest-tool's `platforms` + `template`. `tags` and
    `annotations` are comma-separated lists, as the flags; `extra` holds further spec keys."""
    from manifest_spec.specfile import fromargs

    tag_list, pairs = fromargs.split_list(tags), fromargs.annotation_pairs(annotations)
    if template is not None:
        return fromargs.template_spec(platforms, template, target, tag_list, pairs, extra=extra,
                                      allow_unknown_platform=settings.allow_unknown_platform)
    listed = [(f"argument {i}", text) for i, text in enumerate(_paths(images), 1)]
    if images_from is not None:
        listed += fromargs.read_image_list(images_from, stdin_text)
    return fromargs.images_spec(target, listed, tag_list, pairs, extra=extra, allow_unknown_platform=settings.allow_unknown_platform)


def check_conflicts(specs: Sequence[Spec]) -> None:
    """The same tag from two specs is refused, offline: whichever landed last would win."""
    owner: dict[tuple[str, str, str], Spec] = {}
    for spec in specs:
        for tag in spec.pushed_tags:
            key = (spec.image.api_host.lower(), spec.image.repository, tag)  # host names know no case
            first = owner.setdefault(key, spec)
            if first is not spec:
                raise ConflictError(
                    f"{first.path} and {spec.path} both push {spec.image.with_tag(tag)}; "
                    "give each tag to one spec (nothing was written)"
                )


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


def push_settings(spec: Spec, settings: Settings) -> PushSettings:
    from manifest_spec.carry.settings import CarrySettings
    from manifest_spec.push.engine import PushSettings

    return PushSettings(
        index_type=settings.type_flag or spec.type or "docker",
        ignore_missing=settings.ignore_missing,
        check_platform=settings.check_platform,
        carry=settings.carry or CarrySettings(),
    )


class Run:
    """One run's shared machinery: clients, request pools, engine. Use as a context manager."""

    def __init__(self, settings: Settings) -> None:
        from manifest_spec.push.engine import Engine
        from manifest_spec.push.scheduler import Scheduler
        from manifest_spec.registry.client import ClientOptions, ClientPool

        self.settings = settings
        options = settings.client or ClientOptions()
        # One connection per request in flight: a pool smaller than the workers would only queue.
        self.pool = ClientPool(replace(options, pool_size=max(settings.jobs, options.pool_size)))
        self.scheduler = Scheduler(self.pool, settings.jobs)
        self.engine = Engine(self.scheduler, settings.listener)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # On an error (Ctrl-C included) do not wait for requests still in flight: they only read,
        # or write what a repeat would write again.
        wait = exc_type is None
        self.engine.close(wait)
        self.scheduler.close(wait)
        self.pool.__exit__()

    def plan(self, prepared: Sequence[Prepared]) -> list[SpecPlan]:
        """Each prepared spec against what its tags hold, all at once, from the tag HEADs already read."""
        from manifest_spec.review.plan import plan_prepared

        def one(p: Prepared) -> SpecPlan:
            target = p.spec.image
            heads = lambda tag: self.engine.head(target, tag, f"plan {target.with_tag(tag)}").result()  # noqa: E731
            return plan_prepared(p, self.pool(target), heads)

        running = [self.engine.logic.submit(one, p) for p in prepared]
        return [f.result() for f in running]

    def prepare(self, specs: Sequence[Spec], *, locked: Optional[bool] = None, pushing: bool = False) -> list[Prepared]:
        """Resolve and verify every spec; any failure raises, naming each failing spec. Read-only, but
        for the blob mounts of a first push (`pushing`: see Engine.prepare)."""
        prepared = settle(self.prepare_each(specs, locked=locked, pushing=pushing), single=len(specs) == 1)
        check_tag_writes(prepared)
        return prepared

    def prepare_each(self, specs: Sequence[Spec], *, locked: Optional[bool] = None, pushing: bool = False) -> list[Outcome[Prepared]]:
        from manifest_spec.push.engine import Outcome

        specs = [with_flags(spec, self.settings) for spec in specs]
        use_lock = self.settings.locked or self.settings.lock_file is not None if locked is None else locked
        if use_lock:  # only a locked run reads lock files
            from manifest_spec.review import lock as locks
        jobs: list[Optional[tuple[Spec, PushSettings]]] = []
        errors: dict[int, ManifestSpecError] = {}
        read: dict[int, locks.Lock] = {}
        for i, spec in enumerate(specs):
            settings = push_settings(spec, self.settings)
            if not use_lock:
                jobs.append((spec, settings))
                continue
            try:
                path = _lock_path(spec, self.settings, len(specs))
                read[i] = locks.read_lock(path, spec.path)
                jobs.append(locks.locked_spec(spec, read[i], settings, type_flag=self.settings.type_flag))
            except ManifestSpecError as e:
                errors[i] = e
                jobs.append(None)
        ready = [(i, job) for i, job in enumerate(jobs) if job is not None]
        prepared = dict(zip((i for i, _ in ready), self.engine.prepare([job for _, job in ready], pushing=pushing)))
        outcomes: list[Outcome[Prepared]] = []
        for i, spec in enumerate(specs):
            if i in errors:
                outcomes.append(Outcome(spec, error=errors[i]))
                continue
            outcome = prepared[i]
            if outcome.value is not None and i in read:
                try:
                    outcome = Outcome(spec, locks.apply_lock(outcome.value, read[i]))
                except ManifestSpecError as e:
                    outcome = Outcome(spec, error=e)
            outcomes.append(outcome)
        return outcomes


def with_flags(spec: Spec, settings: Settings) -> Spec:
    """The spec as the flags amend it: more labels to copy, the attestations choice."""
    labels = tuple(dict.fromkeys((*spec.label_annotations, *settings.label_annotations)))
    return replace(spec, label_annotations=labels, attestations=settings.attestations or spec.attestations)


def settle(outcomes: Sequence[Outcome[T]], *, single: bool) -> list[T]:
    """The values, or the error: one spec's own error as it is, several specs' as a BatchError."""
    failures = [(o.spec.path, o.error) for o in outcomes if o.error is not None]
    if failures:
        if single:
            raise failures[0][1]
        raise BatchError(failures)
    return [o.value for o in outcomes if o.value is not None]


def push(specs: Sequence[Spec], settings: Settings) -> list[Outcome[PushResult]]:
    """Resolve and verify all (no manifest or tag written if any fails), then push all; each spec's outcome."""
    with Run(settings) as run:
        prepared = run.prepare(specs, pushing=True)
        return run.engine.push(prepared)


def plan(specs: Sequence[Spec], settings: Settings) -> list[SpecPlan]:
    """What pushing each spec would change, tag by tag (read-only; what `plan` and `push --dry-run` show)."""
    with Run(settings) as run:
        return run.plan(run.prepare(specs))


@dataclass(frozen=True)
class LockWritten:
    """A lock file written next to its spec, and the index it pins."""

    spec: str
    lock: str
    index: BuiltIndex


def lock(specs: Sequence[Spec], settings: Settings) -> list[LockWritten]:
    """Write each spec's lock file, only once every spec resolved: all locks or none."""
    from manifest_spec.review import lock as locks

    with Run(settings) as run:
        prepared = run.prepare(specs, locked=False)
    documents = [(p, _lock_path(s, settings, len(specs)), locks.lock_document(p, push_settings(s, settings).index_type))
                 for s, p in zip(specs, prepared)]
    for _, path, document in documents:
        locks.write_lock(path, document)
    return [LockWritten(s.path, path, p.index) for s, (p, path, _) in zip(specs, documents)]


@dataclass(frozen=True)
class LockCheck:
    """A lock file compared with what a push would publish now."""

    spec: str
    lock: str
    drift: list[str]  # empty: the lock still describes what a push would publish


def check_locks(specs: Sequence[Spec], settings: Settings) -> list[LockCheck]:
    """`lock --check`: every way each lock no longer matches its spec or the registry; writes nothing."""
    from manifest_spec.review import lock as locks

    with Run(settings) as run:
        running = [
            run.engine.logic.submit(locks.check_lock, with_flags(s, settings), _lock_path(s, settings, len(specs)), run.engine.head, settings.type_flag,
                                    run.scheduler.submit)
            for s in specs
        ]
        return [LockCheck(s.path, _lock_path(s, settings, len(specs)), f.result()) for s, f in zip(specs, running)]


def _lock_path(spec: Spec, settings: Settings, count: int) -> str:
    """`settings.lock_file` for a run of one spec (from-args has no file to put a lock beside), else SPEC.lock."""
    from manifest_spec.review import lock as locks

    return settings.lock_file if settings.lock_file and count == 1 else locks.lock_path(spec.path)


def __getattr__(name: str) -> object:
    """`api.ClientOptions` and `api.Credentials` for scripts, imported only when asked for
    (they bring in the HTTP side, which `validate` never needs)."""
    if name == "ClientOptions":
        from manifest_spec.registry.client import ClientOptions

        return ClientOptions
    if name == "Credentials":
        from manifest_spec.registry.credentials import Credentials

        return Credentials
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
