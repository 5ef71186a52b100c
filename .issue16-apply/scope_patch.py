"""Issue 16's scope fallback: argv[1] = auth module, argv[2] = placement module."""
import sys
def patch(p, pairs):
    s = open(p).read()
    for old, new in pairs:
        assert s.count(old) == 1, (p, old[:70])
        s = s.replace(old, new)
    open(p, 'w').write(s)

patch(sys.argv[1], [(
'''        if insufficient or (self.credentials and method not in ("GET", "HEAD")):
            lacking = _lacking(scopes_for(response.request), _sent_authorization(response.request))
            todo = "check the account's permissions" if self.credentials else "log in (docker login, --username/--password-stdin)"
            detail = f"the token lacks {lacking} — {todo}"
''',
'''        if insufficient or (self.credentials and method not in ("GET", "HEAD")):
            scopes = scopes_for(response.request)
            lacking = _lacking(scopes, _sent_authorization(response.request))
            todo = "check the account's permissions" if self.credentials else "log in (docker login, --username/--password-stdin)"
            if len(scopes) > 1:  # some token services grant only one of the scopes asked (goharbor/harbor#2411): not the account's fault
                todo = f"the token service granted only part of the {len(scopes)} scopes asked in one request, or {todo}"
            detail = f"the token lacks {lacking} — {todo}"
            code = "INSUFFICIENT_SCOPE" if insufficient else "UNAUTHORIZED"
            return RegistryError(f"{method} {path}: {self.host} refused access {who}: {detail}", status=401, code=code)
''')])

patch(sys.argv[2], [(
'''            location = None
            if same_registry:
                # A blob the target already has answers 201 as well: no HEAD needed before it.
                location = client.mount_blob(target.repository, digest, child.repository, what)
                if location is None:
                    return
            elif client.blob_exists(target.repository, digest, what):
                return
''',
'''            location: Optional[str] = None
            if same_registry:
                # A blob the target already has answers 201 as well: no HEAD needed before it.
                location = mount_or_fallback(client, target.repository, digest, child.repository, what)
                if location is None:
                    return
            if location is None or location == REFUSED:
                if client.blob_exists(target.repository, digest, what):
                    return
                location = None
''')])
s = open(sys.argv[2]).read()
s = s.rstrip("\n") + '''


REFUSED = "refused"  # a mount refused for scope: no session open, the blob not placed


def mount_or_fallback(client: RegistryClient, repository: str, digest: str, source: str, what: str) -> Optional[str]:
    """mount_blob(); a mount refused 401 insufficient_scope gives REFUSED: the caller HEADs the blob and
    copies it with separate pull and push tokens, as docker does (moby/moby#20387). Token services that grant only one
    `scope` of a request (Harbor 1.1: goharbor/harbor#2411; GitLab: estesp/manifest-tool#53) refuse such a mount."""
    try:
        return client.mount_blob(repository, digest, source, what)
    except RegistryError as e:
        if e.status == 401 and e.code == "INSUFFICIENT_SCOPE":
            log.debug("%s: mount refused for scope, copying instead: %s", what, e)
            return REFUSED
        raise
'''
open(sys.argv[2], 'w').write(s)
