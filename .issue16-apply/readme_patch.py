import sys
p = sys.argv[1]
s = open(p).read()
section = open('/work/wt/issue-16-draft/.issue16-apply/readme_registries.md').read()
anchor = "## What is tested\n"
assert s.count(anchor) == 1
s = s.replace(anchor, section + anchor)
old = "Everything that talks to a registry runs against the real registry (CNCF distribution 2.8.2) on\nloopback;"
if old in s:
    s = s.replace(old, "Everything that talks to a registry runs against a real registry on loopback — CNCF distribution\n2.8.2, and the push, mount, cross-registry, plan, lock, inspect and dry-run tests against\ngo-containerregistry's registry too (`make go-tools` builds it offline from Debian's Go packages);")
else:
    print("README: 'What is tested' opening not found; edit by hand")
dev = "`make test` also installs what the packaging and editor tests drive for real:"
if dev in s:
    s = s.replace(dev, "`make test` builds the tests' second registry first: `make go-tools` installs Debian's `golang-go` and\n"
                  "`golang-github-google-go-containerregistry-dev` when missing (on Debian 12 from Debian's bookworm-backports,\n"
                  "which it adds to apt's sources) and builds go-containerregistry's registry and `crane` offline into\n"
                  "`.cache/go/bin/`. It " + dev[len("`make test` "):])
else:
    print("README: Development paragraph not found; edit by hand")
open(p, 'w').write(s)
