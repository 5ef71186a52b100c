"""The push engine: reads of every spec at once, verified before any manifest or tag is written;
then children, index, tags — each request sent as soon as what it depends on is known.

Rounds, for a spec whose members live elsewhere on the registry: (1) every member GET and tag
HEAD; (2) every config GET and child HEAD in the target (and on a first push, the blob mounts:
placement.mount_if_first_push); — no manifest and no tag is written before every member of every
spec is read and verified — (3) the blob mounts not sent yet; (4) child PUTs; (5) the index under
the target tag; (6) the extra tags together. Members in the target repository skip 3–4.
Members' signatures, attestations and SBOMs (carry/reads.py) are read from round 2 on, beside the
configs, and written with the children, their tags before (5).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Generic, Optional, TypeVar, Union

from manifest_spec.carry.settings import CarrySettings
from manifest_spec.errors import ManifestSpecError, VerificationError
from manifest_spec.events import Event, Listener, MembersResolved, TagWritten
from manifest_spec.oci.index import OCI_MANIFEST, BuiltIndex, Descriptor, build_index
from manifest_spec.oci.manifest import Child
from manifest_spec.oci.reference import Reference
from manifest_spec.push.placement import Placer
from manifest_spec.push.readahead import read_ahead
from manifest_spec.push.resolve import (
    Resolution,
    ResolvedMember,
    collect,
    member_name,
    resolve_member,
)
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.registry.client import RegistryClient
from manifest_spec.specfile.spec import Spec, check_type

if TYPE_CHECKING:
    from manifest_spec.carry.plan import CarryPlan
    from manifest_spec.carry.reads import CarryReads

log = logging.getLogger(__name__)
T = TypeVar("T")
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
_Settled = tuple[Optional[T], Optional[ManifestSpecError]]  # a result, or the error that stopped it
MAX_LOGIC_THREADS = 2048  # logic threads only wait; requests are bounded by the scheduler


@dataclass(frozen=True)
class PushSettings:
    """What the push flags decide; `index_type` is already flag > spec > docker."""

    index_type: str = "docker"
    ignore_missing: bool = False
    check_platform: bool = True
    carry: CarrySettings = CarrySettings()  # members' signatures, attestations, SBOMs (--no-referrers, --referrers-type)


@dataclass(frozen=True)
class Prepared:
    """Everything a push will write, worked out without writing anything."""

    spec: Spec
    resolution: Resolution
    index: BuiltIndex
    carry: Optional[CarryPlan] = None  # what travels with members from elsewhere (None: nothing, or off)
    from_labels: tuple[tuple[str, str], ...] = ()  # index annotations copied from the members' labels

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the index goes to, in push order: the target's first, each once."""
        return self.spec.pushed_tags


@dataclass(frozen=True)
class TagResult:
    """What a push did to one tag; `previous` is the digest it held before ("" if none)."""

    tag: str
    status: str  # CREATED, UPDATED or UNCHANGED (already the index: not written)
    previous: str = ""


@dataclass(frozen=True)
class PushResult:
    """A spec pushed: what was prepared, and what became of each tag."""

    prepared: Prepared
    tag_results: tuple[TagResult, ...]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """One spec's result, or the error that stopped it (the other specs go on)."""

    spec: Spec
    value: Optional[T] = None
    error: Optional[ManifestSpecError] = None


class Engine:
    """One run: shared clients, request pools and reads for every spec it prepares and pushes."""

    def __init__(self, scheduler: Scheduler, listener: Optional[Listener] = None) -> None:
        self.scheduler = scheduler
        self.listener = listener
        self.logic = ThreadPoolExecutor(MAX_LOGIC_THREADS, thread_name_prefix="logic")
        self.placer = Placer(scheduler, listener)
        self.carrying: dict[int, CarryReads] = {}  # per spec being prepared: its carry's reads, started while resolving
        self._prepared: set[int] = set()  # specs whose carry reads were taken: a late read-ahead starts none again
        self._carrying_lock = threading.Lock()

    def close(self, wait: bool = True) -> None:
        self.logic.shutdown(wait=wait, cancel_futures=not wait)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def emit(self, event: Event) -> None:
        if self.listener is not None:
            self.listener(event)

    # -- reads -----------------------------------------------------------------------------
    def head(self, target: Reference, ref: str, what: str) -> Future[Optional[Descriptor]]:
        """What a tag or digest of the target holds now; asked once per run, shared."""
        key = ("head", target.api_host, target.repository, ref)
        return self.scheduler.submit(target, lambda client: client.head_manifest(target.repository, ref, what), key)

    def child_head(self, target: Reference, child: Child) -> Optional[Future[Optional[Descriptor]]]:
        """Whether `child` is there in the target repository (its HEAD, asked once per run), or None
        when it needs no placing (it already lives in the target repository)."""
        if not self.placer.needs_placing(target, child):
            return None
        return self.head(target, child.manifest.digest, self.placer.what(target, child))

    def prepare(self, specs: list[tuple[Spec, PushSettings]], *, pushing: bool = False) -> list[Outcome[Prepared]]:
        """Resolve and verify every member of every spec, all at once. Read-only, except that a push
        (`pushing`) of a tag that does not exist yet mounts the children's blobs while it reads;
        no manifest and no tag is written before every spec is verified."""
        started = [self._start(spec, settings, pushing) for spec, settings in specs]
        return [self._finish(spec, settings, pending) for (spec, settings), pending in zip(specs, started)]

    def _start(self, spec: Spec, settings: PushSettings, pushing: bool) -> Union[ManifestSpecError, Future[list[_Settled[ResolvedMember]]]]:
        try:
            check_type(spec, settings.index_type)
        except ManifestSpecError as e:
            return e  # before any request for this spec
        target = spec.image
        # Needs nothing: in the first round.
        tag_heads = [self.head(target, tag, f"push {target.with_tag(tag)}") for tag in spec.pushed_tags]

        def child_seen(child: Child) -> None:
            if self.child_head(target, child) is not None:
                # Not for a Docker list naming an OCI manifest: it is refused before anything is written.
                # The mounts first: the carry below may still be loading its code (see warm_carry).
                if pushing and not (settings.index_type != "oci" and child.manifest.media_type == OCI_MANIFEST):
                    self.placer.mount_if_first_push(target, child, tag_heads)
                # Its signatures' first round (tag lists, the referrers API) goes out beside the configs.
                carrying = self.carry_reads(spec, settings)
                if carrying is not None:  # None: a read-ahead's callback after the spec was prepared
                    carrying.start(Reference(child.registry, child.repository, digest=child.manifest.digest))

        drop = spec.attestations == "drop"
        with self._carrying_lock:
            self._prepared.discard(id(spec))
        for position, member in enumerate(spec.members):  # every read sent as soon as it can be, from callbacks
            read_ahead(position, member, self.scheduler, child_seen=child_seen, drop_attestations=drop)
        if any((m.image.registry, m.image.repository) != (target.registry, target.repository) for m in spec.members):
            self.logic.submit(warm_carry)  # while the first round is out, not between its answers and the second

        def work() -> list[_Settled[ResolvedMember]]:
            """The members one after the other, in one thread: their reads are all out already."""
            outcomes: list[_Settled[ResolvedMember]] = []
            resolved = 0
            for position, member in enumerate(spec.members):
                outcomes.append(_settle_call(lambda: resolve_member(
                    position, member, self.scheduler, check_platform=settings.check_platform,
                    ignore_missing=settings.ignore_missing, child_seen=child_seen, drop_attestations=drop,
                )))
                if outcomes[-1][1] is None:  # counted as resolved, as the bar shows
                    resolved += 1
                    self.emit(MembersResolved(spec.path, resolved, len(spec.members)))
            return outcomes

        return self.logic.submit(work)

    def carry_reads(self, spec: Spec, settings: PushSettings) -> Optional[CarryReads]:
        """The spec's carry reads, made when its first child from elsewhere is read: a spec whose
        members all live in its target repository never imports the carry machinery. None once the
        spec is prepared (its reads taken by _finish): a read-ahead's callback may run after that."""
        with self._carrying_lock:
            if id(spec) in self._prepared:
                return None
            carrying = self.carrying.get(id(spec))
            if carrying is None:
                from manifest_spec.carry.reads import CarryReads

                target = spec.image
                carrying = self.carrying[id(spec)] = CarryReads(
                    self.scheduler.submit, target, settings.carry,
                    seen=lambda digest: self.head(target, digest, f"carry {digest} into {target.repository}"),
                )
            return carrying

    def _finish(
        self, spec: Spec, settings: PushSettings, pending: Union[ManifestSpecError, Future[list[_Settled[ResolvedMember]]]]
    ) -> Outcome[Prepared]:
        if isinstance(pending, ManifestSpecError):
            return Outcome(spec, error=pending)
        try:
            # Wait for all, then report the first failure in spec order (as a sequential run would).
            outcomes = pending.result()
            with self._carrying_lock:  # made as members were read; none: no member from elsewhere
                carrying = self.carrying.pop(id(spec), None)
                self._prepared.add(id(spec))
            errors = [e for _, e in outcomes if e is not None]
            if errors:
                raise errors[0]
            prepared = build_prepared(spec, settings, collect(spec.members, [r for r, _ in outcomes]))
            children = (c for m in prepared.resolution.members for c in m.children)
            prepared = replace(prepared, carry=carrying.finish(children) if carrying else None)
            for child in prepared.carry.children if prepared.carry else ():  # asked for together, checked below
                self.child_head(spec.image, child)
            self._check_reads(prepared)
            return Outcome(spec, prepared)
        except ManifestSpecError as e:
            return Outcome(spec, error=e)

    def _check_reads(self, prepared: Prepared) -> None:
        """The HEADs of the tags and children (asked for in the first rounds) failed? Then now,
        before anything is written, not half-way through the writes."""
        target = prepared.spec.image
        for tag in prepared.tags:
            self.head(target, tag, f"push {target.with_tag(tag)}").result()
        for child in self.to_place(prepared):
            present = self.child_head(target, child)
            if present is not None:
                present.result()

    # -- writes ----------------------------------------------------------------------------
    def push(self, prepared: list[Prepared]) -> list[Outcome[PushResult]]:
        """Every spec at once: its children, then its index under the target tag, then its extra tags."""
        running = [self.logic.submit(self._push_one, p) for p in prepared]
        return [Outcome(p.spec, *_settle_call(future.result)) for p, future in zip(prepared, running)]

    def to_place(self, prepared: Prepared) -> list[Child]:
        """What must exist in the target repository before the index may point at it: the members'
        children, and the signatures, attestations and SBOMs that travel with them."""
        carried = prepared.carry.children if prepared.carry else ()
        return [child for member in prepared.resolution.members for child in member.children] + list(carried)

    def _push_one(self, prepared: Prepared) -> PushResult:
        target = prepared.spec.image
        placing = [
            self.placer.place(target, child, present)
            for child in self.to_place(prepared)
            if (present := self.child_head(target, child)) is not None
        ]
        for future in placing:
            future.result()
        if prepared.carry is not None:
            from manifest_spec.carry.plan import write_carry_tags

            write_carry_tags(prepared.carry, self.scheduler.submit)  # findable before any tag moves to the index
        first, *extra = prepared.tags
        results = [self._tag(prepared, first).result()]
        results += [f.result() for f in [self._tag(prepared, tag) for tag in extra]]  # together, after the target's
        return PushResult(prepared, tuple(results))

    def _tag(self, prepared: Prepared, tag: str) -> Future[TagResult]:
        target, index = prepared.spec.image, prepared.index
        what = f"push {target.with_tag(tag)}"
        current = self.head(target, tag, what).result()  # from the first round
        if current is not None and current.digest == index.digest:
            log.debug("%s: already %s", what, index.digest)
            done: Future[TagResult] = Future()
            done.set_result(TagResult(tag, UNCHANGED, current.digest))
            self.emit(TagWritten(prepared.spec.path, tag, UNCHANGED))
            return done

        def write(client: RegistryClient) -> TagResult:
            client.put_manifest(target.repository, tag, index.data, index.media_type, what)
            status = UPDATED if current else CREATED
            self.emit(TagWritten(prepared.spec.path, tag, status))
            return TagResult(tag, status, current.digest if current else "")

        return self.scheduler.submit(target, write)


def warm_carry() -> None:
    """Load the carry code (~15-25 ms of imports) while the first round's requests are out: a spec with
    members from elsewhere needs it as their manifests come back, and loaded then it would hold up the
    second round (configs, child HEADs, mounts) by as much, a round trip longer at 50 ms."""
    import manifest_spec.carry.reads  # noqa: F401


def build_prepared(spec: Spec, settings: PushSettings, resolution: Resolution) -> Prepared:
    """The index bytes from verified members; a Docker list never points at OCI manifests."""
    oci = settings.index_type == "oci"
    if not oci:
        for member in resolution.members:
            if any(d.media_type == OCI_MANIFEST for d in member.descriptors):
                raise VerificationError(
                    f"{member_name(member.position, member.member)} is an OCI image; a Docker manifest list "
                    "must not point at OCI manifests (Nexus and Quay reject it): push with --type oci or set `type: oci`"
                )
    from_labels = labels_to_annotations(spec, resolution) if oci else ()
    annotations = {**dict(from_labels), **dict(spec.annotations)}  # the spec's own value wins
    index = build_index(resolution.descriptors, oci=oci, annotations=annotations if oci else None)
    return Prepared(spec, resolution, index, from_labels=from_labels)


def labels_to_annotations(spec: Spec, resolution: Resolution) -> tuple[tuple[str, str], ...]:
    """annotationsFromLabels: each label's one value across every image entry; a label the spec
    gives a value for is not read (the spec wins); images that disagree, or lack it, are an error."""
    given, found = dict(spec.annotations), []
    entries = [labelled for member in resolution.members for labelled in member.labels]
    for key in spec.label_annotations:
        if key in given:
            continue
        values: dict[Optional[str], list[str]] = {}
        for what, labels in entries:
            values.setdefault(dict(labels).get(key), []).append(what)
        value = next(iter(values))
        if len(values) == 1 and value is not None:
            found.append((key, value))
            continue
        said = "; ".join(f"{', '.join(names)} {'has no such label' if value is None else f'says {value!r}'}"
                         for value, names in values.items())
        raise VerificationError(
            f"label {key}: the images disagree ({said}); make them agree, or give the value under "
            "annotations: (--annotations) to settle it"
        )
    return tuple(found)


def _settle_call(call: Callable[[], Optional[T]]) -> _Settled[T]:
    try:
        return call(), None
    except ManifestSpecError as e:
        return None, e

