"""Several specs in one run: what each is prepared from (`Job`), their outcomes settled into
values or one error, and no tag given two contents. Imported once the first reads are answered,
not at start-up (tests/clients/test_startup.py)."""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar, Union

from manifest_spec.errors import BatchError, ConflictError, ManifestSpecError
from manifest_spec.push.engine import Outcome, Prepared, PushSettings
from manifest_spec.specfile.spec import Spec

T = TypeVar("T")
Job = Union[tuple[Spec, PushSettings], ManifestSpecError]  # what to prepare, or why it cannot be
Finish = Callable[[int, Prepared], Prepared]  # (position, prepared) → what it becomes (a lock applied)


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
