"""The library API under the CLI: validate, load, plan, lock, check locks, push and inspect.

Every function takes spec paths (or loaded specs, or a reference) and a `Settings`, returns typed
results, and raises the errors.py errors the CLI maps to exit codes. Several specs are one run:
all are validated first, all resolved and verified before any manifest or tag is written, all
pushed at once over shared connections, token caches and member reads (`Run`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

from manifest_spec.errors import ConflictError, ManifestSpecError, Problem, SpecError
from manifest_spec.specfile.spec import Spec, load_spec, parse_spec

if TYPE_CHECKING:  # the HTTP side is imported when a run starts: `validate` stays offline and quick
    from manifest_spec.carry.settings import CarrySettings
    from manifest_spec.events import Listener
    from manifest_spec.oci.index import Descriptor
    from manifest_spec.oci.platforms import Platform
    from manifest_spec.oci.reference import Reference
    from manifest_spec.push.batch import Finish, Job
    from manifest_spec.push.engine import Outcome, Prepared, PushResult, PushSettings
    from manifest_spec.registry.client import ClientOptions
    from manifest_spec.review.describe import Description
    from manifest_spec.review.lock import Lock, LockCheck, LockWritten
    from manifest_spec.review.plan import SpecPlan
    from manifest_spec.review.tospec import AdoptedSpec

# Why 64: the widest round of a large spec fits in one wave, and an unanswered wave costs a whole
# round trip. 10 platforms from other repositories make round 2 51 requests: 10 config GETs, 10
# child HEADs, 20 mounts (a first push mounts beside the reads) and 11 reads for the carry (a tag
# list per repository, the referrers-API probe); 32 measured 6 round trips there, 64 measured 5.
# Registries limit request counts (Docker Hub) rather than concurrency; lower it (--jobs) for
# one that throttles connections.
DEFAULT_JOBS = 64


@dataclass(frozen=True)
class Settings:
    """Everything the flags decide for one run; `type_flag` wins over each spec's `type`. The
    settings of the layers below (registry options, the engine's, the carry's) are derived from
    it here, and only here."""

    variables: Mapping[str, str] = field(default_factory=dict)
    allow_unknown_platform: bool = False
    type_flag: Optional[str] = None
    ignore_missing: bool = False
    check_platform: bool = True
    locked: bool = False  # push / plan exactly each spec's lock file
    lock_file: Optional[str] = None  # another lock file than SPEC.lock (one spec only)
    jobs: int = DEFAULT_JOBS  # requests in flight per registry host
    client: Optional[ClientOptions] = None  # how to reach registries (None: the defaults)
    listener: Optional[Listener] = None  # progress and warnings (manifest_spec.events)
    carry: Optional[CarrySettings] = None  # --no-referrers, --referrers-type (None: carry them all)
    label_annotations: tuple[str, ...] = ()  # --annotation-from-label: added to each spec's annotationsFromLabels
    attestations: Optional[str] = None  # --attestations keep|drop: wins over each spec's attestations:

    def with_flags(self, spec: Spec) -> Spec:
        """The spec as the flags amend it: more labels to copy, the attestations choice."""
        labels = tuple(dict.fromkeys((*spec.label_annotations, *self.label_annotations)))
        return replace(spec, label_annotations=labels, attestations=self.attestations or spec.attestations)

    def client_options(self) -> ClientOptions:
        """How to reach registries; one connection per request in flight (a smaller pool would only queue)."""
        from manifest_spec.registry.client import ClientOptions

        options = self.client or ClientOptions()
        return replace(options, pool_size=max(self.jobs, options.pool_size))

    def push_settings(self, spec: Spec, lock: Optional[Lock] = None) -> PushSettings:
        """What the engine is told for `spec`: the index type flag > spec > docker. With its `lock`,
        what the lock fixes: its type, no member left out, carried kinds discovered as it was made."""
        from manifest_spec.carry.settings import CarrySettings
        from manifest_spec.push.engine import PushSettings

        carry = self.carry or CarrySettings()
        if lock is None:
            return PushSettings(self.type_flag or spec.type or "docker", self.ignore_missing, self.check_platform, carry)
        if lock.carry is not None and carry.enabled:  # discover as the lock did, then keep what it names
            carry = replace(carry, types=lock.carry.types)
        return PushSettings(lock.index_type, False, self.check_platform, carry)

    def lock_path(self, spec: Spec, count: int) -> str:
        """`lock_file` for a run of one spec (from-args has no file to put a lock beside), else SPEC.lock."""
        from manifest_spec.review import lock as locks

        return self.lock_file if self.lock_file and count == 1 else locks.lock_path(spec.path)


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


class Run:
    """One run's shared machinery: the client pool, the per-host scheduler, the engine. Use as a context manager."""

    def __init__(self, settings: Settings) -> None:
        from manifest_spec.push.engine import Engine
        from manifest_spec.push.scheduler import Scheduler
        from manifest_spec.registry.client import ClientPool

        self.pool = ClientPool(settings.client_options())
        self.scheduler = Scheduler(self.pool, settings.jobs)
        self.engine = Engine(self.scheduler, settings.listener)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        # Ctrl-C: out now (what is in flight reads, or writes what a repeat writes again). A failure:
        # nothing queued goes out, but what is in flight (a tag HEAD, a first push's mount or its copy)
        # ends first, within its deadline: the error line is the run's last, no upload cut half-way.
        failed, interrupted = exc_type is not None, isinstance(exc_type, type) and issubclass(exc_type, KeyboardInterrupt)
        if failed:
            self.scheduler.close(not interrupted)
        self.engine.close(not interrupted)
        self.scheduler.close(not interrupted)
        self.pool.__exit__()

    def prepare(self, specs: Sequence[Spec], jobs: Sequence[Job], finish: Optional[Finish] = None, *,
                pushing: bool = False) -> list[Prepared]:
        """Each spec prepared from `jobs[i]` (or failed with it), then `finish`ed; any failure raises,
        naming each failing spec. Read-only, but for a first push's blob mounts (Engine.prepare)."""
        from manifest_spec.push.engine import Outcome

        ready = [(i, job) for i, job in enumerate(jobs) if not isinstance(job, ManifestSpecError)]
        prepared = dict(zip((i for i, _ in ready), self.engine.prepare([job for _, job in ready], pushing=pushing)))
        outcomes: list[Outcome[Prepared]] = []
        for i, (spec, job) in enumerate(zip(specs, jobs)):
            outcome = Outcome(spec, error=job) if isinstance(job, ManifestSpecError) else prepared[i]
            if outcome.value is not None and finish is not None:
                try:
                    outcome = Outcome(spec, finish(i, outcome.value))
                except ManifestSpecError as e:
                    outcome = Outcome(spec, error=e)
            outcomes.append(outcome)
        from manifest_spec.push.batch import (  # after the reads: not at start-up
            check_tag_writes,
            settle,
        )

        result = settle(outcomes, single=len(specs) == 1)
        check_tag_writes(result)
        return result


def _prepare(run: Run, specs: Sequence[Spec], settings: Settings, *, locked: Optional[bool] = None,
             pushing: bool = False) -> list[Prepared]:
    """Resolve and verify every spec; read-only, but for the blob mounts of a first push (`pushing`:
    see Engine.prepare). With `locked` (default: the settings'), each pinned to its lock file's
    digests, and the index built checked against the lock."""
    specs = [settings.with_flags(spec) for spec in specs]
    if not (settings.locked or settings.lock_file is not None if locked is None else locked):
        prepared = run.prepare(specs, [(spec, settings.push_settings(spec)) for spec in specs], pushing=pushing)
    else:
        from manifest_spec.review import lock as locks

        jobs: list[Job] = []
        read: dict[int, Lock] = {}
        for i, spec in enumerate(specs):
            try:
                read[i] = locks.read_lock(settings.lock_path(spec, len(specs)), spec.path)
                jobs.append((locks.pinned_spec(spec, read[i], settings.type_flag), settings.push_settings(spec, read[i])))
            except ManifestSpecError as e:
                jobs.append(e)
        prepared = run.prepare(specs, jobs, lambda i, p: locks.apply_lock(p, read[i]), pushing=pushing)
    if settings.listener is not None:
        from manifest_spec.events import Warned

        for p in prepared:
            for warning in p.resolution.skipped:
                settings.listener(Warned(p.spec.path, warning))
    return prepared


def push(specs: Sequence[Spec], settings: Settings) -> list[Outcome[PushResult]]:
    """Resolve and verify all (no manifest or tag written if any fails), then push all; each spec's
    outcome. A member left out (`ignore_missing`) is told to the listener as a `Warned` event."""
    with Run(settings) as run:
        return run.engine.push(_prepare(run, specs, settings, pushing=True))


def plan(specs: Sequence[Spec], settings: Settings) -> list[SpecPlan]:
    """What pushing each spec would change, tag by tag (read-only; what `plan` and `push --dry-run` show)."""
    from manifest_spec.review.plan import plan_prepared

    with Run(settings) as run:
        engine = run.engine

        def one(p: Prepared) -> SpecPlan:
            target = p.spec.image
            heads = lambda tag: engine.head(target, tag, f"plan {target.with_tag(tag)}").result()  # noqa: E731
            return plan_prepared(p, run.pool(target), heads)

        running = [engine.logic.submit(one, p) for p in _prepare(run, specs, settings)]
        return [f.result() for f in running]


def lock(specs: Sequence[Spec], settings: Settings) -> list[LockWritten]:
    """Write each spec's lock file, only once every spec resolved: all locks or none."""
    from manifest_spec.review import lock as locks

    with Run(settings) as run:
        prepared = _prepare(run, specs, settings, locked=False)
    return locks.write_locks(prepared, [settings.lock_path(s, len(specs)) for s in specs],
                             [settings.push_settings(s).index_type for s in specs])


def check_locks(specs: Sequence[Spec], settings: Settings) -> list[LockCheck]:
    """`lock --check`: every way each lock no longer matches its spec or the registry; writes nothing."""
    from manifest_spec.review import lock as locks

    paths = [settings.lock_path(s, len(specs)) for s in specs]
    with Run(settings) as run:
        engine = run.engine
        running = [engine.logic.submit(locks.check_lock, settings.with_flags(s), path, engine.head, settings.type_flag,
                                       run.scheduler.submit)
                   for s, path in zip(specs, paths)]
        return [locks.LockCheck(s.path, path, f.result()) for s, path, f in zip(specs, paths, running)]


def image_reference(text: str) -> Reference:
    """An image reference as `inspect` takes it: without a tag or digest, `:latest`."""
    from manifest_spec.oci.reference import parse_reference

    reference = parse_reference(text)
    return reference if reference.tag or reference.digest else reference.with_tag("latest")


def inspect(reference: Reference, settings: Settings, *, layers: bool = True) -> Description:
    """The manifest or index `reference` names, each entry's platform, digest, size and (`layers`) layers."""
    from manifest_spec.registry.client import ClientPool
    from manifest_spec.review.describe import describe

    with ClientPool(settings.client_options()) as pool:
        return describe(reference, pool(reference), with_layers=layers)


def inspect_platform(reference: Reference, machine: Platform, settings: Settings) -> Descriptor:
    """The entry a puller on `machine` gets from `reference` (`inspect --platform`, `crane digest --platform`)."""
    from manifest_spec.registry.client import ClientPool
    from manifest_spec.review.describe import describe, pulled_by

    with ClientPool(settings.client_options()) as pool:
        # Layers are not needed, but a single image's config is: it says where the image runs.
        return pulled_by(describe(reference, pool(reference), with_layers=False, with_config=True), machine)


def to_spec(reference: Reference, settings: Settings) -> AdoptedSpec:
    """Spec data that reproduces the index `reference` names (members by digest), to adopt it."""
    from manifest_spec.registry.client import ClientPool
    from manifest_spec.review.tospec import index_to_spec

    with ClientPool(settings.client_options()) as pool:
        return index_to_spec(reference, pool(reference))


def __getattr__(name: str) -> object:
    """`api.ClientOptions` and `api.Credentials` for scripts, imported only when asked
    for (they bring in the HTTP side, which `validate` never needs)."""
    if name == "ClientOptions":
        from manifest_spec.registry.client import ClientOptions

        return ClientOptions
    if name == "Credentials":
        from manifest_spec.registry.credentials import Credentials

        return Credentials
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
