"""Apply issue 16's upload-protocol changes to the upload module given as argv[1]."""
import sys, re
p = sys.argv[1]
s = open(p).read()

def sub(old, new):
    global s
    assert s.count(old) == 1, old[:80]
    s = s.replace(old, new)

sub('CHUNK_BYTES = 8 * 1024 * 1024  # one PATCH each: memory stays at one chunk whatever the blob size\n',
'''# One PATCH each, so memory stays at one chunk whatever the blob size. 4 MiB, not more: GHCR refuses
# a larger PATCH with 416 REQUESTED_RANGE_NOT_SATISFIABLE "the request body is too large and exceeds the
# maximum permissible limit of 4.00MiB" (oras-project/rust-oci-client#35, fixed there by 4 MiB chunks
# in #37), so an 8 MiB chunk could never copy a layer over 4 MiB into it. Chunks rather than one
# streamed PATCH: a failed chunk's error names the limit, and memory stays bounded the same way.
CHUNK_BYTES = 4 * 1024 * 1024
UPLOADS_PATH = "/blobs/uploads/"
''')

sub('''def _abandon(target: RegistryClient, location: str, what: str) -> None:
    """Cancel an upload session (nothing is stored in it), so a repeat starts clean."""
    try:
        target.request("DELETE", location, what)
    except RegistryError:
        pass  # the error that brought us here is the one to report
''', '''def _abandon(target: RegistryClient, location: str, what: str) -> None:
    """Cancel an upload session we opened (nothing is stored in it), so a repeat starts clean. Only an
    upload URL is ever sent a DELETE: never a manifest or a blob, whatever a registry answered."""
    if not is_upload_url(location):
        return
    try:
        target.request("DELETE", location, what)  # any answer will do: ggcr says 400, sessions expire anyway
    except RegistryError:
        pass  # the error that brought us here is the one to report


def is_upload_url(location: str) -> bool:
    """An upload session's URL, as a POST/PATCH 202 gives it (`.../v2/<name>/blobs/uploads/<id>`)."""
    path = urlsplit(location).path
    return "/v2/" in path and UPLOADS_PATH in path and not path.endswith(UPLOADS_PATH)


def session_location(target: RegistryClient, response: requests.Response, previous: str, what: str) -> str:
    """The session URL an answer names; a missing Location keeps `previous` (ggcr's PATCH repeats it,
    the spec lets a registry omit nothing, some proxies strip it). One that is no upload URL is refused."""
    named = response.headers.get("Location")
    if not named:
        if previous:
            return previous
        raise unexpected(target, response, what, "202 Accepted with the upload session's Location")
    location = urljoin(response.url or target.base, named)
    if not is_upload_url(location):
        raise RegistryError(f"{what}: {target.host} answered {response.request.method if response.request else 'the upload'} "
                            f"with HTTP {response.status_code} and Location {urlsplit(location).path}, "
                            "not an upload session URL (/v2/<name>/blobs/uploads/<id>); nothing was written there")
    return location


def unexpected(target: RegistryClient, response: requests.Response, what: str, expected: str) -> RegistryError:
    """A write answered in a way the upload protocol does not allow: an error saying what was expected.
    An error status keeps fail()'s wording (and a 503 stays worth another try)."""
    if response.status_code >= 400:
        return target.transient(response, what)
    method = response.request.method if response.request is not None else "request"
    return RegistryError(f"{what}: {target.host} answered the {method} with HTTP {response.status_code} "
                         f"{response.reason or ''}".rstrip() + f"; the upload protocol expects {expected}",
                         status=response.status_code)
''')

sub('''    response = target.request("POST", f"/v2/{repository}/blobs/uploads/", what)
    if response.status_code != 202 or "Location" not in response.headers:
        raise target.transient(response, what)
    return urljoin(target.base, response.headers["Location"])
''', '''    response = target.request("POST", f"/v2/{repository}/blobs/uploads/", what)
    if response.status_code != 202:
        raise unexpected(target, response, what, "202 Accepted with the upload session's Location")
    return session_location(target, response, "", what)
''')

sub('''    response = target.request("PATCH", location, what, data=chunk, headers=headers)
    if response.status_code != 202 or "Location" not in response.headers:
        raise target.transient(response, what)
    return urljoin(target.base, response.headers["Location"])
''', '''    response = target.request("PATCH", location, what, data=chunk, headers=headers)
    # The spec says 202; any 2xx is the chunk taken (go-containerregistry's registry answers 204).
    if not 200 <= response.status_code < 300:
        raise unexpected(target, response, what, "202 Accepted for a chunk")
    return session_location(target, response, location, what)
''')

sub('''    if done.status_code not in (200, 201):  # the distribution spec says 201; some registries answer 200
        raise target.transient(done, what)
''', '''    if not 200 <= done.status_code < 300:  # the distribution spec says 201; some registries answer 200 or 204
        raise unexpected(target, done, what, "201 Created for the closing PUT")
''')

sub('from urllib.parse import urljoin\n', 'from urllib.parse import urljoin, urlsplit\n\nimport requests\n')
open(p, 'w').write(s)
