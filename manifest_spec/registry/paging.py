"""Lists a registry answers in pages: each page's `Link: <url>; rel="next"` names the next one
(distribution's tag list and the OCI referrers API, distribution-spec "Listing Tags")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from manifest_spec.errors import VerificationError

if TYPE_CHECKING:
    from manifest_spec.registry.client import RegistryClient
    from manifest_spec.registry.httpclient import Response


def pages(client: RegistryClient, path: str, limit: int, what: str, max_pages: int, noun: str,
          **kwargs: Any) -> Iterator[tuple[Response, bytes]]:
    """GET `path`, then each page its answers link to: (response, body) each, at most `max_pages`
    (more is a VerificationError: "more than N pages of `noun`"); `kwargs` go with every GET."""
    url = path
    for _ in range(max_pages):
        response, data = client.get_body(url, limit, what, **kwargs)
        yield response, data
        following = response.links.get("next", {}).get("url")
        if not following:
            return
        url = urljoin(urljoin(client.base, url), following)
    raise VerificationError(f"{what}: more than {max_pages} pages of {noun}")
