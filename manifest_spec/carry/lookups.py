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

from manifest_spec.carry.submit import Submit, later
from manifest_spec.errors import ManifestSpecError, RegistryError, VerificationError
from manifest_spec.oci.index import OCI_INDEX, Descriptor, digest_of
from manifest_spec.oci.reference import Reference
from manifest_spec.registry.client import MAX_MANIFEST_BYTES, RegistryClient
from manifest_spec.registry.paging import pages

log = logging.getLogger(__name__)

MAX_PAGES = 50  # a referrers listing longer than this is not a supply chain, it is a flood
MAX_TAG_PAGES = 1000  # registries that page tag lists do so by 100 or more: 100 000 tags


def repository_tags(client: RegistryClient, repository: str) -> frozenset[str]:
    """Every tag of a repository (all `Link` pages); none when the repository does not exist (yet)."""
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
        if not (e.status == 404 and e.code == "NAME_UNKNOWN"):
            raise
    return frozenset(tags)


class Lookups:
    """Memoised reads for one carry; safe to call from several threads."""

    def __init__(self, submit: Submit, types: frozenset[str] = frozenset()) -> None:
        self.submit = submit
        self.types = types
        self._tags: dict[tuple[str, str], Future[frozenset[str]]] = {}
        self._probes: dict[str, Future[Optional[list[Descriptor]]]] = {}
        self._listings: dict[tuple[str, str, str], Future[Optional[list[Descriptor]]]] = {}
        self._lock = threading.Lock()

    def tags(self, where: Reference) -> Future[frozenset[str]]:
        key = (where.api_host, where.repository)
        with self._lock:
            if key not in self._tags:
                self._tags[key] = later(self.submit, where, repository_tags, where.repository)
            return self._tags[key]

    def listing(self, where: Reference, digest: str) -> Future[Optional[list[Descriptor]]]:
        """The referrers API's answer for `digest` in `where`'s repository (None: the registry has no API).
        The first asked on a registry goes out at once; later ones wait for it, and go out only if it has the API."""
        key = (where.api_host, where.repository, digest)
        with self._lock:
            if key in self._listings:
                return self._listings[key]
            probe = self._probes.get(where.api_host)
            if probe is None:
                probe = self._probes[where.api_host] = self._listings[key] = later(
                    self.submit, where, referrers_api, where.repository, digest, self.types
                )
                return probe
            result: Future[Optional[list[Descriptor]]] = Future()
            self._listings[key] = result

        def after_probe(done: Future[Optional[list[Descriptor]]]) -> None:
            try:
                if done.result() is None:
                    result.set_result(None)
                    return
            except BaseException as e:
                result.set_exception(e)
                return
            later(self.submit, where, referrers_api, where.repository, digest, self.types).add_done_callback(
                lambda asked: _settle_from(asked, result)
            )

        probe.add_done_callback(after_probe)
        return result


def _settle_from(source: Future[Optional[list[Descriptor]]], target: Future[Optional[list[Descriptor]]]) -> None:
    try:
        target.set_result(source.result())
    except BaseException as e:
        target.set_exception(e)


def referrers_api(client: RegistryClient, repository: str, digest: str, types: frozenset[str] = frozenset()) -> Optional[list[Descriptor]]:
    """GET /v2/<name>/referrers/<digest>; None when the registry has no referrers API (404, or not an index)."""
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
            # none (Go sniffs text/plain). A 200 that is not an index is no API (a catch-all web page).
            if not is_referrers_index(data):
                if page == 0:  # cannot tell: said without --debug, never a silent drop
                    log.warning("%s: answered 200 with %s that is not an OCI index; taken as no referrers API "
                                "(referrers are looked for through the tag schema only)", what,
                                response.headers.get("Content-Type") or "a body")
                    return None
                raise VerificationError(f"{what}: page {page + 1} is not an OCI index of referrers")
            entries += parse_referrers_index(data, OCI_INDEX, what)
            page += 1
    except RegistryError as e:
        if e.status == 404 and e.code == "NAME_UNKNOWN":
            return entries  # the API is there (a JSON error) but the repository is not, yet
        if e.status == 404 and page == 0:
            return None  # distribution 2.8.2: a plain 404, no API
        raise
    return entries


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
