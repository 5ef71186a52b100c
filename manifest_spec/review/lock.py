"""Lock files: the exact member digests a spec resolved to, checked for drift, pushed as locked."""

from __future__ import annotations

import json
import os
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

from manifest_spec.carry.lock import (
    LockedCarry,
    carry_drift,
    carry_lock_json,
    read_carry_lock,
    restrict_to_lock,
)
from manifest_spec.carry.submit import Submit
from manifest_spec.errors import LockError, VerificationError, json_kind
from manifest_spec.oci.index import BuiltIndex, Descriptor, descriptor_json
from manifest_spec.oci.platforms import platform_json
from manifest_spec.oci.reference import DIGEST_RE, Reference
from manifest_spec.push.engine import Prepared
from manifest_spec.specfile.document import STDIN, STDIN_NAME
from manifest_spec.specfile.spec import Spec

LOCK_VERSION = 1
_RELOCK = "run `manifest-spec lock {spec}` and review the diff"


@dataclass(frozen=True)
class LockedMember:
    """One member as a lock file pins it."""

    image: str  # the member reference after ${VAR} substitution, as the spec names it
    digest: str


@dataclass(frozen=True)
class Lock:
    """A lock file, read: the spec it belongs to and the index it pins."""

    path: str
    spec_sha256: str
    target: str
    tags: tuple[str, ...]
    index_type: str
    index_digest: str
    members: tuple[LockedMember, ...]
    carry: Optional[LockedCarry] = None  # the signatures, attestations, SBOMs reviewed to travel along
    label_annotations: tuple[str, ...] = ()  # the labels copied into index annotations (spec and flag)
    attestations: str = "keep"


def lock_path(spec_path: str) -> str:
    """`specs/app.yaml` → `specs/app.lock`: beside the spec, so a reviewer sees both in one diff."""
    if spec_path in (STDIN, STDIN_NAME):
        raise LockError("a spec on standard input (-) has no place beside it for a lock file: give its file name, or --lock-file")
    root, ext = os.path.splitext(spec_path)
    return (root if ext in (".yaml", ".yml", ".json") else spec_path) + ".lock"


def _entry_json(d: Descriptor) -> dict[str, Any]:
    entry = descriptor_json(d, platform=platform_json(d.platform))  # a lock's keys are sorted on writing
    if d.annotations:
        entry["annotations"] = dict(d.annotations)
    return entry


def lock_document(prepared: Prepared, index_type: str) -> dict[str, Any]:
    """The lock's content: spec hash, substituted references, each member's digest, size, type, platform."""
    spec = prepared.spec
    members = []
    for resolved in prepared.resolution.members:
        only = resolved.descriptors[0] if len(resolved.descriptors) == 1 else None
        if only is not None and only.digest == resolved.source.digest:
            entry = _entry_json(only)
        else:  # an index member: record the index itself, then the entries taken from it
            entry = descriptor_json(resolved.manifest, platform=platform_json(resolved.member.platform),
                                    entries=[_entry_json(d) for d in resolved.descriptors])
        members.append({"image": str(resolved.member.image), **entry})
    carried = carry_lock_json(prepared.carry)
    return {
        **({"referrers": carried} if carried is not None else {}),
        # Only when used: a lock of a spec without them stays byte for byte what it was.
        **({"annotationsFromLabels": _label_values(prepared)} if spec.label_annotations else {}),
        **({"attestations": spec.attestations} if spec.attestations == "drop" else {}),
        "lockVersion": LOCK_VERSION,
        "spec": {"file": os.path.basename(spec.path), "sha256": spec.sha256},
        "target": str(spec.image),
        "tags": list(dict.fromkeys(spec.tags)),
        "type": index_type,
        "index": descriptor_json(prepared.index),
        "members": members,
    }


def _label_values(prepared: Prepared) -> dict[str, str]:
    """Each label asked for, with the value the index got: from the images, or the spec's own."""
    given = {**dict(prepared.spec.annotations), **dict(prepared.from_labels)}
    return {key: given[key] for key in prepared.spec.label_annotations if key in given}


def render_lock(document: dict[str, Any]) -> str:
    """Deterministic: sorted keys, two-space indent, one trailing newline; JSON, hence also YAML."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class LockWritten:
    """A lock file written next to its spec, and the index it pins."""

    spec: str
    lock: str
    index: BuiltIndex


@dataclass(frozen=True)
class LockCheck:
    """A lock file compared with what a push would publish now."""

    spec: str
    lock: str
    drift: list[str]  # empty: the lock still describes what a push would publish


def write_locks(prepared: list[Prepared], paths: list[str], index_types: list[str]) -> list[LockWritten]:
    """Each prepared spec's lock written to its path: documents first, then the files (all or none, as far as a disk allows)."""
    documents = [lock_document(p, index_type) for p, index_type in zip(prepared, index_types)]
    for path, document in zip(paths, documents):
        write_lock(path, document)
    return [LockWritten(p.spec.path, path, p.index) for p, path in zip(prepared, paths)]


def write_lock(path: str, document: dict[str, Any]) -> None:
    # Write then rename, so an interrupted run never leaves half a lock for CI to trust.
    temporary = path + ".tmp"
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as f:
            f.write(render_lock(document))
        os.replace(temporary, path)
    except OSError as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise LockError(f"{path}: cannot write the lock: {e.strerror or e}") from e


def read_lock(path: str, spec_path: str) -> Lock:
    """Parse a lock file; a missing or malformed one is a LockError that says how to make it."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as e:
        raise LockError(f"{path}: no lock file; {_RELOCK.format(spec=spec_path)}") from e
    except (OSError, ValueError) as e:
        raise LockError(f"{path}: cannot read the lock ({e}); {_RELOCK.format(spec=spec_path)}") from e
    def field(path_: str, kind: type, value: Any = data, prefix: str = "") -> Any:
        """The value at a dotted path, of the given JSON type, else a LockError naming the field."""
        for key in path_.split("."):
            if not isinstance(value, dict) or key not in value:
                raise LockError(f"{path}: not a manifest-spec lock (no `{prefix}{path_}`); {_RELOCK.format(spec=spec_path)}")
            value = value[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            kinds = f"`{prefix}{path_}` is {json_kind(value)}, not {json_kind(kind())}"
            raise LockError(f"{path}: not a manifest-spec lock ({kinds}); {_RELOCK.format(spec=spec_path)}")
        return value

    version = field("lockVersion", int)
    if version != LOCK_VERSION:
        raise LockError(f"{path}: lockVersion {version!r} is not {LOCK_VERSION}; {_RELOCK.format(spec=spec_path)}")
    tags, members = field("tags", list), field("members", list)
    for i, member in enumerate(members):
        field(f"members.{i}", dict, {"members": {str(i): member}})
        field("image", str, member, f"members[{i}].")
        field("digest", str, member, f"members[{i}].")
    if not all(isinstance(t, str) for t in tags):
        raise LockError(f"{path}: not a manifest-spec lock (`tags` holds a non-text value); {_RELOCK.format(spec=spec_path)}")
    return Lock(
        path=path,
        spec_sha256=field("spec.sha256", str),
        target=field("target", str),
        tags=tuple(tags),
        index_type=field("type", str),
        index_digest=field("index.digest", str),
        members=tuple(LockedMember(m["image"], m["digest"]) for m in members),
        carry=read_carry_lock(data.get("referrers") if isinstance(data, dict) else None, path),
        label_annotations=tuple(field("annotationsFromLabels", dict)) if "annotationsFromLabels" in data else (),
        attestations=field("attestations", str) if "attestations" in data else "keep",
    )


def disagreements(spec: Spec, lock: Lock, index_type: Optional[str] = None) -> list[str]:
    """What differs between a spec (after ${VAR} substitution) and its lock; [] when they agree."""
    found = []
    if spec.sha256 != lock.spec_sha256:
        found.append(f"{spec.path} changed since it was locked (sha256 {spec.sha256[:12]}, locked {lock.spec_sha256[:12]})")
    if str(spec.image) != lock.target:
        found.append(f"the target is {spec.image}, locked {lock.target} (another ${{VAR}} value?)")
    if tuple(dict.fromkeys(spec.tags)) != lock.tags:
        found.append(f"the tags are {list(spec.tags)}, locked {list(lock.tags)}")
    if index_type is not None and index_type != lock.index_type:
        found.append(f"--type {index_type}, but the lock was made for {lock.index_type}")
    if sorted(spec.label_annotations) != sorted(lock.label_annotations):
        found.append(f"annotations from labels {list(spec.label_annotations)}, locked {list(lock.label_annotations)}")
    if (spec.attestations or "keep") != lock.attestations:
        found.append(f"attestation entries: {spec.attestations or 'keep'}, locked {lock.attestations}")
    images = [str(m.image) for m in spec.members]
    locked = [m.image for m in lock.members]
    if len(images) != len(locked):
        found.append(f"the spec has {len(images)} member(s), the lock {len(locked)}")
    else:
        found += [f"manifests[{i}] is {now}, locked {was}" for i, (now, was) in enumerate(zip(images, locked)) if now != was]
        # A member the spec pins by digest must be locked at that digest, or --locked would
        # publish something the spec (the reviewed file) never named.
        found += [
            f"manifests[{i}] pins {member.image.digest}, but the lock says {entry.digest}"
            for i, (member, entry) in enumerate(zip(spec.members, lock.members))
            if member.image.digest and member.image.digest != entry.digest
        ]
    return found


Head = Callable[[Reference, str, str], Future[Optional[Descriptor]]]  # (image, tag or digest, what) → what it holds


def member_drift(spec: Spec, lock: Lock, head: Head) -> list[str]:
    """Members whose reference now points at another digest than the locked one, or at nothing."""
    asked = [head(m.image, m.image.ref, f"check manifests[{i}] {m.image}") for i, m in enumerate(spec.members)]
    drift = []
    for i, (member, locked, answer) in enumerate(zip(spec.members, lock.members, asked)):
        current = answer.result()
        if current is None:
            drift.append(f"manifests[{i}] {member.image} no longer exists (locked {locked.digest})")
        elif current.digest != locked.digest:
            drift.append(f"manifests[{i}] {member.image} now points at {current.digest}, locked {locked.digest}")
    return drift


def check_lock(spec: Spec, path: str, head: Head, index_type: Optional[str] = None, submit: Optional[Submit] = None) -> list[str]:
    """`lock --check`: every way the lock no longer describes what a push would publish (with `submit`,
    also a signature, attestation or SBOM added, replaced or gone since)."""
    try:
        lock = read_lock(path, spec.path)
    except LockError as e:
        return [str(e)]
    found = disagreements(spec, lock, index_type)
    if len(spec.members) != len(lock.members):
        return found  # members cannot be paired up: asking the registry would only add noise
    return found + member_drift(spec, lock, head) + (carry_drift(lock.carry, submit) if submit is not None else [])


def pinned_spec(spec: Spec, lock: Lock, type_flag: Optional[str] = None) -> Spec:
    """The spec with every member pinned to its locked digest (offline; refused when spec and lock disagree).
    Pinning by digest makes resolution GET exactly the locked manifests (verified by hash), whatever the tags
    say now. What the lock fixes beside the digests (type, carried kinds): api.Settings.push_settings."""
    found = disagreements(spec, lock, type_flag)
    if found:
        raise LockError(f"{spec.path} and {lock.path} disagree: {'; '.join(found)}; {_RELOCK.format(spec=spec.path)}")
    bad = [m.digest for m in lock.members if not DIGEST_RE.fullmatch(m.digest)]
    if bad:
        raise LockError(f"{lock.path}: {bad[0]!r} is not a sha256 or sha512 digest; {_RELOCK.format(spec=spec.path)}")
    members = tuple(
        replace(member, image=member.image.with_digest(locked.digest)) for member, locked in zip(spec.members, lock.members)
    )
    return replace(spec, members=members)


def apply_lock(prepared: Prepared, lock: Lock) -> Prepared:
    """The index built from the locked digests must be the one the lock recorded; and only the
    signatures, attestations and SBOMs the lock names travel."""
    if prepared.index.digest != lock.index_digest:
        raise VerificationError(
            f"the index built from the locked digests is {prepared.index.digest}, but {lock.path} says {lock.index_digest}; "
            f"{_RELOCK.format(spec=prepared.spec.path)}"
        )
    if prepared.carry is None:
        return prepared
    return replace(prepared, carry=restrict_to_lock(prepared.carry, lock.carry, lock.path))


