"""Reads the images of one carry share: each repository's tag list, each registry's referrers-API answer.

A repository's tag list shows at once which of cosign's `sha256-<hex>.sig/.att/.sbom` tags and
which `<alg>-<hex>` referrers indexes exist for every image in it, so only those are fetched; and
whether a registry has the referrers API is asked once, with its first image, so a registry
without it (distribution 2.8.2) costs one request in all rather than one per image.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from typing import Optional
from urllib.parse import quote

from manifest_spec.carry.confirm import again_while_missing, missing_after_seen
from manifest_spec.carry.submit import Submit, later
from manifest_spec.errors import ManifestSpecError, RegistryError, VerificationError
from manifest_spec.oci.index import OCI_INDEX, Descriptor, digest_of
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import MAX_MANIFEST_BYTES, RegistryClient
from manifest_spec.registry.paging import pages

log = logging.getLogger(__name__)

MAX_PAGES = 50  # a referrers listing longer than this is not a supply chain, it is a flood
MAX_TAG_PAGES = 1000  # registries that page tag lists do so by 100 or more: 100 000 tags


def repository_tags(client: RegistryClient, repository: str, known: bool = False) -> frozenset[str]:
    """Every tag of a repository (all `Link` pages); none when the repository does not exist (yet).
    `known`: the run has just read manifests from it, so a 404 NAME_UNKNOWN is a passing fault: read
    again, and an error if it stays (never "no tags", which would carry nothing)."""
    if not known:
        return tags_or_none(client, repository) or frozenset()
    what = f"tags of {client.host}/{repository}"
    tags, reads = again_while_missing(lambda: tags_or_none(client, repository), what, client.timeout)
    if tags is None:
        raise missing_after_seen(what, client.host, reads, f"this run has just read manifests from {repository}")
    return tags


def tags_or_none(client: RegistryClient, repository: str) -> Optional[frozenset[str]]:
    """The tag list; None when the registry says the repository does not exist (404 NAME_UNKNOWN)."""
    what = f"tags of {client.host}/{repository}"
    tags: set[str] = set()
    try:
        for _response, data in pages(client, f"/v2/{repository}/tags/list", MAX_MANIFEST_BYTES, what, MAX_TAG_PAGES, "tags"):
            try:
                listed = json.loads(data).get("tags") or []
            except (ValueError, AttributeError) as e:
                raise VerificationError(f"{what}: not a tag list ({e})") from e
            tags.update(t for t in listed if isinstance(t, str))
    except RegistryError as e:
        if e.status == 404 and e.code == "NAME_UNKNOWN":
            return None
        raise
    return frozenset(tags)


class NoRepository(list[Descriptor]):
    """The API's answer for a repository that does not exist (yet): no referrers, and nothing shown about
    whether the registry has the API (a registry without it may say NAME_UNKNOWN as well)."""


API, NO_API, UNKNOWN = "api", "no-api", "unknown"


class Lookups:
    """Memoised reads for one carry; safe to call from several threads.

    Whether a registry has the referrers API is decided per registry once an answer proves it (an OCI
    index: it has; a plain 404: it has not) and per repository while none has: a missing repository or
    a 200 that is no index shows nothing about the others, so each repository then asks for itself."""

    def __init__(self, submit: Submit, types: frozenset[str] = frozenset()) -> None:
        self.submit = submit
        self.types = types
        self._tags: dict[tuple[str, str, bool], Future[frozenset[str]]] = {}
        self._probes: dict[str, Future[tuple[Optional[list[Descriptor]], str]]] = {}
        self._listings: dict[tuple[str, str, str], Future[Optional[list[Descriptor]]]] = {}
        self._proven: dict[str, bool] = {}
        self.warnings: list[str] = []  # what discovery could not tell, for the plan (never only under --debug)
        self._lock = threading.RLock()  # re-entered when a probe is answered before its callback is added

    def tags(self, where: Reference, known: bool = True) -> Future[frozenset[str]]:
        """`known`: the run read manifests from this repository (a source), so it exists."""
        key = (where.api_host, where.repository, known)
        with self._lock:
            if key not in self._tags:
                self._tags[key] = later(self.submit, where, repository_tags, where.repository, known)
            return self._tags[key]

    def has_api(self, where: Reference, answer: Optional[list[Descriptor]]) -> bool:
        """A listing's verdict: a missing repository takes the registry's, proven elsewhere in this run
        (unproven: no API, so the tag schema is written as well and nothing is findable only one way)."""
        if isinstance(answer, NoRepository):
            with self._lock:
                return self._proven.get(where.api_host, False)
        return answer is not None

    def listing(self, where: Reference, digest: str) -> Future[Optional[list[Descriptor]]]:
        """The referrers API's answer for `digest` in `where`'s repository (None: no API there). The first
        asked on a registry goes out at once; later ones wait for it, and go out unless it proved no API."""
        key = (where.api_host, where.repository, digest)
        with self._lock:
            if key in self._listings:
                return self._listings[key]
            result: Future[Optional[list[Descriptor]]] = Future()
            self._listings[key] = result
            probe = self._probes.get(where.api_host)
            first = probe is None
            if probe is None:
                probe = self._probes[where.api_host] = self._ask(where, digest)
        probe.add_done_callback(lambda done: _settle_from(done, result) if first else self._after_probe(done, where, digest, result))
        return result

    def _ask(self, where: Reference, digest: str) -> Future[tuple[Optional[list[Descriptor]], str]]:
        asked = later(self.submit, where, referrers_answer, where.repository, digest, self.types)
        asked.add_done_callback(lambda done: self._learn(where, done))
        return asked

    def _learn(self, where: Reference, done: Future[tuple[Optional[list[Descriptor]], str]]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        verdict = done.result()[1]
        with self._lock:
            if verdict in (API, NO_API):
                self._proven.setdefault(where.api_host, verdict == API)
            elif done.result()[0] is None:  # a 200 that is no index: said in the plan, not only under --debug
                self.warnings.append(_cannot_tell(where, self._proven.get(where.api_host)))

    def _after_probe(self, done: Future[tuple[Optional[list[Descriptor]], str]], where: Reference, digest: str,
                     result: Future[Optional[list[Descriptor]]]) -> None:
        try:
            if done.result()[1] == NO_API:
                result.set_result(None)
                return
        except BaseException as e:
            result.set_exception(e)
            return
        self._ask(where, digest).add_done_callback(lambda asked: _settle_from(asked, result))


def _cannot_tell(where: Reference, proven: Optional[bool]) -> str:
    elsewhere = " (other repositories of the registry serve it)" if proven else ""
    return (f"referrers of {where.registry}/{where.repository}: the referrers API answered 200 with something that is "
            f"not an OCI index{elsewhere}; only the referrers tag schema and cosign tags were read there, so referrers "
            "listed only by the API may be missing")


def _settle_from(source: Future[tuple[Optional[list[Descriptor]], str]], target: Future[Optional[list[Descriptor]]]) -> None:
    try:
        target.set_result(source.result()[0])
    except BaseException as e:
        target.set_exception(e)


def referrers_api(client: RegistryClient, repository: str, digest: str, types: frozenset[str] = frozenset()) -> Optional[list[Descriptor]]:
    """GET /v2/<name>/referrers/<digest>; None when the repository shows no referrers API (404, or not an index)."""
    return referrers_answer(client, repository, digest, types)[0]


def referrers_answer(client: RegistryClient, repository: str, digest: str,
                     types: frozenset[str] = frozenset()) -> tuple[Optional[list[Descriptor]], str]:
    """The referrers API's listing (None: none there) and what the answer proves about the registry:
    API (an OCI index, whatever its Content-Type), NO_API (a plain 404), UNKNOWN (a missing repository,
    a 200 that is no index: a catch-all web page, or a registry serving the API per repository)."""
    what = f"referrers of {client.host}/{repository}@{digest}"
    media_types = [t for t in types if "/" in t]
    # The filter is only a hint (registries MAY ignore it): the answer is filtered here as well.
    query = f"?artifactType={quote(media_types[0], safe='')}" if len(media_types) == 1 and len(types) == 1 else ""
    path = f"/v2/{repository}/referrers/{digest}{query}"
    entries: list[Descriptor] = []
    page = 0
    try:
        for response, data in pages(client, path, MAX_MANIFEST_BYTES, what, MAX_PAGES, "referrers", headers={"Accept": OCI_INDEX}):
            # Decided by content, not Content-Type: go-containerregistry's registry answers the index with
            # none (Go sniffs text/plain). A 200 that is not an index shows no API here (a catch-all web page).
            if not is_referrers_index(data):
                if page == 0:
                    log.debug("%s: answered 200 with %s, not an OCI index", what, response.headers.get("Content-Type") or "a body")
                    return None, UNKNOWN
                raise VerificationError(f"{what}: page {page + 1} is not an OCI index of referrers")
            entries += parse_referrers_index(data, OCI_INDEX, what)
            page += 1
    except RegistryError as e:
        if e.status == 404 and e.code == "NAME_UNKNOWN":
            return NoRepository(entries), (API if page else UNKNOWN)  # no referrers: the repository is not there (yet)
        if e.status == 404 and page == 0:
            return None, NO_API  # distribution 2.8.2: a plain 404, no API
        raise
    return entries, API


def is_referrers_index(data: bytes) -> bool:
    """The body parses as an OCI image index (mediaType, else schemaVersion 2 with a manifests list)."""
    try:
        body = json.loads(data)
    except ValueError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("manifests"), list):
        return False
    return body.get("mediaType", OCI_INDEX) == OCI_INDEX and body.get("schemaVersion") == 2


def parse_referrers_index(data: bytes, media_type: str, what: str) -> list[Descriptor]:
    """The descriptors of a referrers index (API answer or tag-schema tag); anything else is refused."""
    try:
        body = json.loads(data)
    except ValueError as e:
        raise VerificationError(f"{what}: not valid JSON ({e})") from e
    if media_type != OCI_INDEX or not isinstance(body, dict) or not isinstance(body.get("manifests"), list):
        raise VerificationError(f"{what}: holds {media_type or 'something'} {digest_of(data)}, not an OCI index of referrers")
    try:
        return [Descriptor.from_json(entry) for entry in body["manifests"]]
    except ManifestSpecError as e:  # a malformed descriptor
        raise VerificationError(f"{what}: {e}") from e
