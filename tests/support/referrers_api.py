"""The OCI 1.1 referrers API in front of a real registry that has none.

CNCF distribution 2.8.2 answers `GET /v2/<name>/referrers/<digest>` with a plain 404, so the
referrers-API path of a client cannot be tested against it directly. This proxy answers that one
request from the registry's own content — it reads every manifest revision the registry stored
for the repository (its filesystem storage, where manifests pushed by digest are listed too) and
lists those whose `subject` is the digest, as the distribution spec describes: an OCI index of
descriptors with `artifactType` (else the config's media type) and the manifest's annotations,
filtered by `?artifactType=` with `OCI-Filters-Applied: artifactType`. Every other request goes
to the registry unchanged (it is a FaultProxy, so faults can be added as well).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, quote, urlsplit

from support.faults import FaultProxy, Reply, _Rule
from support.registry import Registry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_REFERRERS_RE = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass
class ReferrersProxy(FaultProxy):
    """A FaultProxy whose `GET …/referrers/<digest>` is answered from `storage` (the registry's root)."""

    storage: Optional[Path] = None
    filters: list[Optional[str]] = field(default_factory=list)  # the artifactType of each referrers request
    page_size: Optional[int] = None  # answer in pages of this many, linked by `Link: <…?last=…>; rel="next"`

    @classmethod
    def around(cls, registry: Registry) -> ReferrersProxy:
        assert registry.root is not None, "start the registry first"
        return cls(upstream=registry.host, storage=registry.root / "storage" / "docker" / "registry" / "v2")

    def _rule_for(self, method: str, path: str) -> Optional[_Rule]:
        parts = urlsplit(path)
        match = _REFERRERS_RE.match(parts.path)
        if method != "GET" or match is None:
            return super()._rule_for(method, path)
        with self._lock:
            self.seen.append((method, parts.path))
        query = parse_qs(parts.query)
        wanted = query.get("artifactType", [None])[0]
        with self._lock:
            self.filters.append(wanted)
        reply = self.answer(match["name"], match["digest"], wanted, query.get("last", [""])[0])
        return _Rule(method, re.compile(""), lambda _: reply, None, forward=False)

    def answer(self, name: str, digest: str, artifact_type: Optional[str], last: str = "") -> Reply:
        assert self.storage is not None
        revisions = self.storage / "repositories" / name / "_manifests" / "revisions" / "sha256"
        if not revisions.is_dir():
            body = json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry",
                                           "detail": {"name": name}}]}).encode()
            return Reply(404, (("Content-Type", "application/json"),), body)
        entries = []
        for revision in sorted(revisions.iterdir()):
            entry = self.referrer_entry(revision.name, digest)
            if entry is not None and (artifact_type is None or entry["artifactType"] == artifact_type):
                entries.append(entry)
        headers: tuple[tuple[str, str], ...] = (("Content-Type", OCI_INDEX),)
        if last:
            entries = entries[[e["digest"] for e in entries].index(last) + 1:]
        if self.page_size is not None and len(entries) > self.page_size:
            entries = entries[: self.page_size]
            filter_query = f"&artifactType={quote(artifact_type, safe='')}" if artifact_type else ""
            headers += (("Link", f'</v2/{name}/referrers/{digest}?last={entries[-1]["digest"]}{filter_query}>; rel="next"'),)
        if artifact_type is not None:
            headers += (("OCI-Filters-Applied", "artifactType"),)
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        return Reply(200, headers, body)

    def referrer_entry(self, hex_digest: str, subject: str) -> Optional[dict[str, Any]]:
        assert self.storage is not None
        data = (self.storage / "blobs" / "sha256" / hex_digest[:2] / hex_digest / "data").read_bytes()
        try:
            manifest = json.loads(data)
        except ValueError:
            return None
        if not isinstance(manifest, dict) or (manifest.get("subject") or {}).get("digest") != subject:
            return None
        entry: dict[str, Any] = {
            "mediaType": manifest.get("mediaType", ""),
            "digest": f"sha256:{hex_digest}",
            "size": len(data),
            "artifactType": manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType", ""),
        }
        if manifest.get("annotations"):
            entry["annotations"] = manifest["annotations"]
        return entry
