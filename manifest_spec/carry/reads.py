"""Everything the carry reads before anything is written, in rounds: the members' signatures,
attestations and SBOMs at their sources, and the target's tags for them.

Round 1: the tag list of every source repository, and whether each registry has the referrers API
(lookups.py) — all a push needs when there is nothing to carry. Round 2: the referrers indexes
and cosign tags the lists show at the sources, the same tags in the target (by name: what is
merged into must be what is there, not what a list said), and the API's listings on a registry
that has it. Round 3: every listed referrer by digest, the config of each
target cosign tag to merge into, and a check that every entry of a target index to merge into
still exists. The engine starts round 1 for an image as soon as it has read it (`CarryReads.start`),
beside the configs; `finish` starts what was not started yet, waits, and plans.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional

from manifest_spec.carry.confirm import again_while_missing, missing_after_seen
from manifest_spec.carry.lookups import Lookups, parse_referrers_index, tags_or_none
from manifest_spec.carry.plan import CarryPlan, TargetState, plan_carry
from manifest_spec.carry.referrers import (
    Discovery,
    Reading,
    complete,
    fetch_listed,
    listed_manifest,
    manifest_or_none,
    read_tags,
    referrers_tag,
    start_discovery,
)
from manifest_spec.carry.settings import CarrySettings
from manifest_spec.carry.submit import Submit, later
from manifest_spec.errors import VerificationError
from manifest_spec.oci.index import IMAGE_TYPES, Descriptor
from manifest_spec.oci.manifest import Child, Manifest
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import MAX_CONFIG_BYTES, RegistryClient
from manifest_spec.registry.singleflight import when_all


@dataclass(frozen=True)
class Pending:
    """One image's first round in flight, at its source and in the target."""

    discovery: Discovery
    target_api: Future[Optional[list[Descriptor]]]


def subjects_of(children: Iterable[Child], target: Reference) -> list[Reference]:
    """Every manifest placed into the target from another repository or registry, once each."""
    found: dict[str, Reference] = {}
    for child in children:
        if (child.registry, child.repository) != (target.registry, target.repository):
            found.setdefault(child.manifest.digest, Reference(child.registry, child.repository, digest=child.manifest.digest))
    return list(found.values())


class CarryReads:
    """One spec's carry reads: started image by image (as the engine reads members), finished once."""

    def __init__(self, submit: Submit, target: Reference, settings: CarrySettings,
                 seen: Callable[[str], object]) -> None:
        """`seen` is told each artifact manifest's digest as soon as it is known (the engine asks then
        whether the target has it, instead of a round later)."""
        self.submit = submit
        self.seen = seen
        self.target = Reference(target.registry, target.repository)
        self.settings = settings
        self.lookups = Lookups(submit, settings.types)
        self.pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self.target_list: Optional[Future[Optional[frozenset[str]]]] = None  # read once, when a target tag is asked for
        self.target_found = threading.Event()  # some target tag read by name found a manifest

    def start(self, source: Reference) -> None:
        """Round 1 for one image from elsewhere (a reference by digest); once per digest."""
        if not self.settings.enabled:
            return
        with self._lock:
            if source.digest in self.pending:
                return
            self.pending[source.digest] = Pending(start_discovery(self.lookups, source), self.lookups.listing(self.target, source.digest))

    def finish(self, children: Iterable[Child]) -> Optional[CarryPlan]:
        """Read the rest and plan; None when carrying is off or nothing comes from elsewhere."""
        sources = subjects_of(children, self.target)
        if not self.settings.enabled or not sources:
            return None
        for ref in sources:
            self.start(ref)
        return self._finish([self.pending[ref.digest] for ref in sources])

    def _finish(self, pending: list[Pending]) -> CarryPlan:
        submit, target, types = self.submit, self.target, self.settings.types
        readings = [read_tags(submit, p.discovery) for p in pending]  # round 2 at the sources ...
        in_target = [self._read_target(p, r) for p, r in zip(pending, readings)]  # ... and in the target
        fetching = [fetch_listed(submit, r) for r in readings]  # round 3 ...
        self._tell([entry.digest for f in fetching for entry, _, _ in f.listed])
        api = all(self.lookups.has_api(target, p.target_api.result()) for p in pending)
        indexes = {} if api else {
            f.reading.discovery.source.digest: (index.result() if index is not None else None)
            for f, (index, _) in zip(fetching, in_target) if f.listed
        }
        checks = _entry_checks(submit, target, indexes)
        configs = _configs_to_merge(submit, target, readings, [cosign for _, cosign in in_target])
        self._tell([m.digest for r in readings for _, _, found in r.cosign for m in [found.result()] if m is not None])
        subjects = [complete(f, types) for f in fetching]  # ... waited for
        with_referrers = {s.digest for s in subjects if s.referrers}
        for subject_digest, tag, digest, exists in checks:
            if subject_digest in with_referrers and not exists.result():
                raise VerificationError(
                    f"target referrers tag {tag} lists {digest}, which the registry no longer has, so it would refuse the "
                    "index with the carried referrers added; remove that entry (or the tag), or push with --no-referrers"
                )
        cosign: dict[str, Optional[tuple[Manifest, bytes]]] = {}
        for subject, (_, current_tags) in zip(subjects, in_target):
            for artifact in subject.cosign:
                found = current_tags.get(artifact.tag)
                current = found.result() if found is not None else None
                cosign[artifact.tag] = None if current is None else (current, configs[artifact.tag].result() if artifact.tag in configs else b"")
        state = TargetState(api, {d: m for d, m in indexes.items() if d in with_referrers}, cosign)
        return plan_carry(target, subjects, state, types, tuple(self.lookups.warnings))

    def _tell(self, digests: list[str]) -> None:
        for digest in digests:
            self.seen(digest)

    def _read_target(self, pending: Pending, reading: Reading) -> tuple[Optional[Future[Optional[Manifest]]], dict[str, Future[Optional[Manifest]]]]:
        """The target's index and cosign tags for one image wherever the source may have something to add
        to them — asked for by name, not trusted to a tag list: what is merged into must be exactly what is there.
        A 404 by name is believed only when the target's tag list agrees (confirm.py): writing ours over a tag
        that a passing 404 hid would lose what others put there."""
        target = self.target
        where = f"{target.registry}/{target.repository}"
        index_tag = referrers_tag(pending.discovery.source.digest)
        may_list = reading.index is not None or pending.discovery.api.result() is not None
        wanted = ([index_tag] if may_list else []) + [t for t, _, _ in reading.cosign]
        with self._lock:
            if wanted and self.target_list is None:
                self.target_list = later(self.submit, target, tags_or_none, target.repository)
            listed = self.target_list
        # Each tag read twice at once (a passing 404 rarely strikes both), beside the tag list: no round added.
        reads = {t: tuple(later(self.submit, target, manifest_or_none, target.repository, t,
                                f"target {'referrers' if t == index_tag else 'cosign'} tag {where}:{t}") for _ in range(2))
                 for t in wanted}
        for pair in reads.values():
            for read in pair:
                read.add_done_callback(self._note_found)
        confirmed = {t: _confirmed(self.submit, target, t, pair, listed, self.target_found) for t, pair in reads.items()}
        return (confirmed[index_tag] if may_list else None), {t: confirmed[t] for t, _, _ in reading.cosign}

    def _note_found(self, read: Future[Optional[Manifest]]) -> None:
        if not read.cancelled() and read.exception() is None and read.result() is not None:
            self.target_found.set()  # the target repository exists: a tag list saying otherwise is wrong


def _confirmed(submit: Submit, target: Reference, tag: str, reads: tuple[Future[Optional[Manifest]], ...],
               listed: Optional[Future[Optional[frozenset[str]]]], exists: threading.Event) -> Future[Optional[Manifest]]:
    """What either read found; an absence only when the tag list agrees (a tag it shows is read again, an error
    if it stays missing; "no such repository" is read again if another read found something there)."""
    result: Future[Optional[Manifest]] = Future()
    what = f"target tag {target.registry}/{target.repository}:{tag}"
    def settle() -> None:
        try:
            found = next((m for m in (r.result() for r in reads) if m is not None), None)
            if found is not None or listed is None:
                result.set_result(found)
            else:
                listed.add_done_callback(check)
        except BaseException as e:
            result.set_exception(e)

    def check(tags: Future[Optional[frozenset[str]]]) -> None:
        try:
            names = tags.result()
            if names is not None and tag not in names:
                result.set_result(None)  # two reads agree: it is not there
                return
            again: Future[Optional[Manifest]]
            if names is not None:  # listed: read again, an error if it stays missing
                again = later(submit, target, _listed, target.repository, tag, what)
            elif exists.is_set():  # "no such repository", but another read found something there: read the list again
                again = later(submit, target, _recheck, target.repository, tag, what)
            else:  # no such repository: three reads agree
                result.set_result(None)
                return
        except BaseException as e:  # a failed list, or the run is ending (its pools shut)
            result.set_exception(e)
            return
        again.add_done_callback(lambda done: _settle(done, result))

    when_all(reads, settle)
    return result


def _listed(client: RegistryClient, repository: str, tag: str, what: str) -> Optional[Manifest]:
    return listed_manifest(client, repository, tag, what)


def _recheck(client: RegistryClient, repository: str, tag: str, what: str) -> Optional[Manifest]:
    """The tag list denied a repository another read has just found something in: read the list again."""
    names, reads = again_while_missing(lambda: tags_or_none(client, repository), what, client.timeout)
    if names is None:
        raise missing_after_seen(f"tags of {client.host}/{repository}", client.host, reads,
                                 "another read has just found a manifest in that repository")
    return listed_manifest(client, repository, tag, what) if tag in names else None


def _settle(source: Future[Optional[Manifest]], target: Future[Optional[Manifest]]) -> None:
    try:
        target.set_result(source.result())
    except BaseException as e:
        target.set_exception(e)


def _entry_checks(
    submit: Submit, target: Reference, indexes: Mapping[str, Optional[Manifest]]
) -> list[tuple[str, str, str, Future[bool]]]:
    """A HEAD for every entry of the target's indexes that may be merged into: the registry refuses an
    index naming a manifest it lacks, and dropping the entry to get past that is not ours to decide."""
    checks = []
    for subject, current in indexes.items():
        if current is None:
            continue
        tag = f"{target.registry}/{target.repository}:{referrers_tag(subject)}"
        for entry in parse_referrers_index(current.data, current.media_type, f"target referrers tag {tag}"):
            exists = later(submit, target, _still_there, target.repository, entry.digest, f"check {tag}")
            checks.append((subject, tag, entry.digest, exists))
    return checks


def _still_there(client: RegistryClient, repository: str, digest: str, what: str) -> bool:
    """Whether a manifest exists; a 404 is believed only when it stays (confirm.py)."""
    found, _ = again_while_missing(lambda: True if client.manifest_exists(repository, digest, what) else None, what, client.timeout)
    return found is not None


def _config(client: RegistryClient, repository: str, digest: str, what: str) -> bytes:
    """A cosign manifest's config blob (bounded, its digest checked by the client)."""
    return client.get_blob(repository, digest, MAX_CONFIG_BYTES, what)


def _configs_to_merge(
    submit: Submit, target: Reference, readings: list[Reading], in_target: list[dict[str, Future[Optional[Manifest]]]]
) -> dict[str, Future[bytes]]:
    """The config of each target cosign tag that holds another manifest than the source's (to merge into)."""
    configs = {}
    for reading, current_tags in zip(readings, in_target):
        for tag, _, source in reading.cosign:
            theirs = source.result()
            ours = current_tags[tag].result() if tag in current_tags else None
            if theirs is None or ours is None or ours.digest == theirs.digest:
                continue
            what = f"target cosign tag {target.registry}/{target.repository}:{tag}"
            if ours.media_type not in IMAGE_TYPES:
                raise VerificationError(f"{what}: holds {ours.media_type}, not a cosign manifest; refusing to merge into it")
            config = ours.json().get("config") or {}
            configs[tag] = later(submit, target, _config, target.repository, str(config.get("digest", "")), f"{what} config")
    return configs
