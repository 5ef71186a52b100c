"""Spec files: read, substitute variables, validate (schema + semantics) → frozen `Spec`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator, Optional

from manifest_spec.errors import InvalidReferenceError, Problem, SpecError
from manifest_spec.oci.platforms import Platform, platform_key, platform_problems
from manifest_spec.oci.reference import Reference, parse_reference
from manifest_spec.specfile.conforms import conforms, python_pattern
from manifest_spec.specfile.document import (
    Document,
    PathKey,
    json_path,
    read_document,
    read_source,
)

if TYPE_CHECKING:
    import jsonschema

TYPE_NAMES = ("docker", "oci")
ATTESTATION_CHOICES = ("keep", "drop")
MAX_MEMBERS = 500  # the largest real indexes (Windows os.versions x architectures, with attestations) hold a few hundred
# Member.config_platform: what the platform read from an image config must be. A spec's own
# members take it as it is (an attestation manifest named by inspect --to-spec is unknown/unknown);
# an image given as an argument must be one a puller can run (RUNNABLE), and a known one (KNOWN)
# unless --allow-unknown-platform, as a platform written in a spec must.
RUNNABLE, KNOWN = "runnable", "known"
_OCI_ONLY = "Docker manifest lists carry no annotations; set `type: oci` (or push with --type oci)"


@dataclass(frozen=True)
class Member:
    """One entry of `manifests:`; platform None means "take it from the image config"."""

    image: Reference
    platform: Optional[Platform]
    annotations: tuple[tuple[str, str], ...] = ()
    line: int = 0
    origin: str = ""  # how errors name it when it is not manifests[i] of a file: `argument 2 REF`, `FILE:3 REF`
    config_platform: str = ""  # "", RUNNABLE or KNOWN: see above


@dataclass(frozen=True)
class Spec:
    """A valid spec. `type` is None when the spec leaves it to --type (default docker)."""

    path: str
    image: Reference
    tags: tuple[str, ...]
    members: tuple[Member, ...]
    annotations: tuple[tuple[str, str], ...] = ()
    type: Optional[str] = None
    sha256: str = ""
    label_annotations: tuple[str, ...] = ()  # annotationsFromLabels: config labels copied into index annotations
    attestations: Optional[str] = None  # ATTESTATION_CHOICES; None: as the flag says, else keep

    @property
    def pushed_tags(self) -> tuple[str, ...]:
        """Every tag the index goes to, in push order: the target's first, each once."""
        return tuple(dict.fromkeys((self.image.tag, *self.tags)))


def schema_text() -> str:
    """The packaged JSON Schema as written (one copy: schemas/ at the top of the source tree).

    pkgutil asks the package's own loader (a directory, a zip, the editable finder) for the
    bytes; importlib.resources would do the same, but its import costs ~8 ms (tempfile, zipfile)
    that `validate` otherwise never pays."""
    import pkgutil

    data = pkgutil.get_data("manifest_spec.schemas", "manifest-spec.schema.json")
    if data is None:
        raise RuntimeError("manifest_spec.schemas has no loader that can read its files")  # not a normal install: a bug
    return data.decode("utf-8")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


def load_spec(
    path: str,
    variables: Mapping[str, str] | None = None,
    *,
    allow_unknown_platform: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Spec:
    """Read and validate one spec file (`-`: standard input); raises SpecError listing every problem in it."""
    name, raw = read_source(path)
    return parse_spec(raw, name, variables, allow_unknown_platform=allow_unknown_platform, environ=environ)


def parse_spec(
    raw: bytes,
    path: str,
    variables: Mapping[str, str] | None = None,
    *,
    allow_unknown_platform: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Spec:
    """Validate spec bytes; `--var` values win over the environment."""
    scope = {**(os.environ if environ is None else environ), **(variables or {})}
    doc = read_document(raw, scope)
    checker = _Checker(doc, path)
    for line, column, where, message in doc.problems:
        checker.problems.append(Problem(path, line, column, where, message))
    spec = checker.check(allow_unknown_platform, hashlib.sha256(raw).hexdigest())
    if checker.problems or spec is None:
        raise SpecError(sorted(checker.problems, key=lambda p: (p.line, p.column)))
    return spec


def spec_from_data(data: dict[str, Any], origin: str, *, allow_unknown_platform: bool = False) -> Spec:
    """Validate a spec built in memory (push from-args) by the same rules as a file."""
    checker = _Checker(Document(data=data), origin)
    spec = checker.check(allow_unknown_platform, hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest())
    if checker.problems or spec is None:
        raise SpecError(checker.problems)
    return spec


def check_type(spec: Spec, index_type: str) -> None:
    """Annotations exist only in OCI indexes; fail early rather than drop them silently."""
    problems = []
    if index_type == "docker":
        if spec.annotations:
            problems.append(Problem(spec.path, 0, 0, "annotations", _OCI_ONLY))
        if spec.label_annotations:
            problems.append(Problem(spec.path, 0, 0, "annotationsFromLabels", _OCI_ONLY))
        for i, member in enumerate(spec.members):
            if member.annotations:
                problems.append(Problem(spec.path, member.line, 0, f"manifests[{i}].annotations", _OCI_ONLY))
    if problems:
        raise SpecError(problems)


class _Checker:
    def __init__(self, doc: Document, path: str) -> None:
        self.doc = doc
        self.path = path
        self.problems: list[Problem] = []
        self._seen: set[Problem] = set()  # a list lookup made 30,000 unknown keys take minutes

    def add(self, where: PathKey, message: str, *, key: bool = False) -> None:
        line, column = self.doc.where(where, key=key)
        problem = Problem(self.path, line, column, json_path(where), message)
        if problem not in self._seen:  # jsonschema yields one `required` error per missing key
            self._seen.add(problem)
            self.problems.append(problem)

    def check(self, allow_unknown_platform: bool, sha256: str) -> Spec | None:
        data = self.doc.data
        if self.doc.problems and not isinstance(data, dict):
            return None
        if not isinstance(data, dict):
            self.add((), f"a spec is a mapping with image: and manifests:, got {_describe(data)}")
            return None
        if not conforms(data, load_schema()):
            # jsonschema only for a spec that may be invalid: ~50 ms of start-up spared otherwise
            for error in _validator()(load_schema()).iter_errors(data):
                self.schema_error(error)
        target = self.reference(data.get("image"), ("image",), target=True)
        manifests = data.get("manifests")
        if isinstance(manifests, list) and len(manifests) > MAX_MEMBERS:
            self.add(("manifests",), f"{len(manifests)} members; at most {MAX_MEMBERS} (the largest real indexes hold a few hundred)")
            return None
        entries = [(i, e) for i, e in enumerate(manifests if isinstance(manifests, list) else []) if isinstance(e, dict)]
        members = {i: self.member(entry, ("manifests", i), allow_unknown_platform) for i, entry in entries}
        self.check_duplicates(members)
        index_type = data.get("type") if data.get("type") in TYPE_NAMES else None
        if index_type == "docker":
            for key in ("annotations", "annotationsFromLabels"):
                if data.get(key):
                    self.add((key,), _OCI_ONLY, key=True)
            for i, entry in entries:
                if entry.get("annotations"):
                    self.add(("manifests", i, "annotations"), _OCI_ONLY, key=True)
        if self.problems or target is None:
            return None
        return Spec(
            path=self.path,
            image=target,
            tags=tuple(data.get("tags") or ()),
            members=tuple(m for m in members.values() if m is not None),
            annotations=_pairs(data.get("annotations")),
            type=index_type,
            sha256=sha256,
            label_annotations=_texts(data.get("annotationsFromLabels")),
            attestations=data.get("attestations") if data.get("attestations") in ATTESTATION_CHOICES else None,
        )

    def schema_error(self, error: jsonschema.ValidationError) -> None:
        import difflib  # only for an invalid spec, as jsonschema is

        where: PathKey = tuple(error.absolute_path)
        kind, value = error.validator, error.validator_value
        if where in self.doc.unreadable:
            return  # e.g. a `!foo` value read as null: the reader already said why
        if kind == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            for name in sorted(set(error.instance) - set(allowed)):
                close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
                self.add(where + (name,), f"unknown key {name!r}{hint}", key=True)
        elif kind == "required":
            for name in value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    if difflib.get_close_matches(name, list(error.instance), n=1, cutoff=0.6):
                        continue  # the misspelt key is reported as unknown, with this name as the fix
                    hint = ": a platform needs both os and architecture (or leave platform out)" if "os" in value else ""
                    self.add(where, f"missing required key {name!r}{hint}")
        elif kind == "type":
            self.add(where, f"expected {_TYPE_WORDS.get(value, value)}, got {_describe(error.instance)}")
        elif kind == "minItems":
            self.add(where, "list at least one image under manifests:")
        elif kind == "minLength" and "propertyNames" in error.schema_path:
            self.add(where, "annotation keys must not be empty")  # jsonschema reports the key's own check
        elif kind == "minLength":
            self.add(where, "must not be empty")
        elif kind == "enum":
            self.add(where, f"must be one of {', '.join(value)}, got {_describe(error.instance)}")
        elif kind == "pattern":
            self.add(where, f"invalid tag {error.instance!r}: a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
        elif kind == "propertyNames":
            self.add(where, "annotation keys must not be empty")
        else:
            self.add(where, error.message)

    def reference(self, text: Any, where: PathKey, *, target: bool = False) -> Reference | None:
        if not isinstance(text, str) or not text or where in self.doc.unreadable:
            return None  # the schema check (or the reader) said why
        try:
            ref = parse_reference(text)
        except InvalidReferenceError as e:
            self.add(where, str(e))
            return None
        if target and ref.digest:
            self.add(where, f"the target {text!r} must not have a digest (pushing gives the index a new one): write only a tag, e.g. {ref.name}:{ref.tag or '1.0'}")
            return None
        if target and not ref.tag:
            self.add(where, f"the target {text!r} needs a tag: the index is pushed to that tag, e.g. {ref.name}:1.0")
            return None
        return ref

    def member(self, entry: dict[str, Any], where: PathKey, allow_unknown: bool) -> Member | None:
        ref = self.reference(entry.get("image"), where + ("image",))
        if ref is not None and not ref.tag and not ref.digest:
            ref = ref.with_tag("latest")  # as docker and manifest-tool read a bare name
        platform = self.platform(entry.get("platform"), where + ("platform",), allow_unknown)
        line = self.doc.where(where)[0]
        if ref is None:
            return None
        return Member(ref, platform, _pairs(entry.get("annotations")), line)

    def platform(self, data: Any, where: PathKey, allow_unknown: bool) -> Platform | None:
        if not isinstance(data, dict) or not isinstance(data.get("os"), str) or not isinstance(data.get("architecture"), str):
            return None
        for oci, mt in (("os.version", "osversion"), ("os.features", "osfeatures")):
            if oci in data and mt in data:
                self.add(where + (mt,), f"give {oci!r} or {mt!r} (manifest-tool's spelling), not both", key=True)
        variant = data.get("variant")
        version = data.get("os.version", data.get("osversion")) or ""
        features = data.get("os.features", data.get("osfeatures")) or []
        platform = Platform(
            os=data["os"],
            architecture=data["architecture"],
            variant=variant if isinstance(variant, str) else "",
            os_version=version if isinstance(version, str) else "",
            os_features=tuple(f for f in features if isinstance(f, str)) if isinstance(features, list) else (),
        )
        if not allow_unknown:
            for field_name, message in platform_problems(platform):
                self.add(where + (field_name,), f"{message}; --allow-unknown-platform accepts it on purpose")
        return platform

    def check_duplicates(self, members: dict[int, Member | None]) -> None:
        seen: dict[tuple[Any, ...], int] = {}
        for i, member in members.items():
            if member is None or member.platform is None:
                continue
            key = platform_key(member.platform)
            if key in seen:
                first = seen[key]
                line = self.doc.where(("manifests", first))[0]
                self.add(
                    ("manifests", i, "platform"),
                    key=True,
                    message=f"duplicate platform {member.platform}: manifests[{first}] (line {line}) already has it; "
                    "a puller could get either image",
                )
            else:
                seen[key] = i


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    import jsonschema

    if validator.is_type(instance, "string") and not re.search(python_pattern(pattern), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=1)
def _validator() -> Any:
    """Draft 2020-12 with `pattern` run as Python must (python_pattern); the schema file stays
    standard JSON Schema (editors read it)."""
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})

_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a text value"}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(sorted((k, v) for k, v in value.items() if isinstance(v, str)))


def _texts(value: Any) -> tuple[str, ...]:
    """A list of strings, each once, in the order written."""
    return tuple(dict.fromkeys(v for v in value if isinstance(v, str))) if isinstance(value, list) else ()
