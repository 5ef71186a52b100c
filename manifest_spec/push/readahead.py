"""A member's reads sent from the answers' callbacks, as soon as what each depends on is in.

resolve_member() is plain sequential code that waits on each read in turn; run in one thread per
member it sent every read as early as the dependencies allow, but at a thread per member (10 for a
10-platform spec, 800 for 200 specs of 4). With the reads already out, sent from here (the same
requests: the scheduler sends each read once per run), the members of a spec are resolved one after
the other in a single thread, in no more round trips: each waits only on reads already in flight.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Callable, Optional

from manifest_spec.oci.index import IMAGE_TYPES, INDEX_TYPES, parse_index
from manifest_spec.oci.manifest import Manifest, is_attestation
from manifest_spec.push.resolve import ChildSeen, MemberResolver, fetch_manifest
from manifest_spec.push.scheduler import Scheduler
from manifest_spec.specfile.spec import Member

log = logging.getLogger(__name__)


def read_ahead(
    position: int, member: Member, scheduler: Scheduler, *, child_seen: Optional[ChildSeen] = None, drop_attestations: bool = False
) -> None:
    """Ask for the member's manifest; once in, for its entries (an index) or its config, and announce
    each child to `child_seen`, as MemberResolver does when it gets there. Checks are not made here:
    whatever fails is met again, and reported in spec order, by the member's own resolution."""
    ahead = MemberResolver(position, member, scheduler, True, child_seen, drop_attestations)
    fetch_manifest(scheduler, ahead.where, member.image.ref, ahead.name).add_done_callback(lambda f: _top_read(ahead, f))


def _top_read(ahead: MemberResolver, fetched: Future[Manifest]) -> None:
    top = _answer(fetched)
    try:
        if top is not None and top.media_type not in INDEX_TYPES:
            _image_read(ahead, ahead.name, False)(fetched)
        elif top is not None:
            entries = ahead.entries_taken(parse_index(top.data)[1])
            if all(entry.media_type in IMAGE_TYPES for entry in entries):  # else refused before any entry is read
                for entry in entries:
                    what = f"{ahead.name} entry {entry.digest[:19]}"
                    fetched_entry = fetch_manifest(ahead.scheduler, ahead.where, entry.digest, what)
                    fetched_entry.add_done_callback(_image_read(ahead, what, is_attestation(entry)))
    except Exception as e:  # noqa: BLE001 - the member's resolution meets it again and reports it
        log.debug("%s: read ahead stopped: %s", ahead.name, e)


def _image_read(ahead: MemberResolver, what: str, attestation: bool) -> Callable[[Future[Manifest]], None]:
    """Once an image manifest is in: its config asked for (not an attestation's), its child announced."""

    def read(fetched: Future[Manifest]) -> None:
        manifest = _answer(fetched)
        try:
            if manifest is not None and not attestation:
                ahead.config(manifest, what)
            if manifest is not None:
                ahead.child(manifest)
        except Exception as e:  # noqa: BLE001 - as above
            log.debug("%s: read ahead stopped: %s", what, e)

    return read


def _answer(fetched: Future[Manifest]) -> Optional[Manifest]:
    """A read's answer, or None when it failed or was cancelled (the member's resolution reports that)."""
    return None if fetched.cancelled() or fetched.exception() is not None else fetched.result()
