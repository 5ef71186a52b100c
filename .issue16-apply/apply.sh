#!/bin/bash
# Apply issue 16's phase-2 work onto the worktree after the "Move into subpackages" merge.
set -euo pipefail
cd /work/wt/issue-16
S=/work/wt/issue-16-draft
UPLOAD=$(grep -rl "^def copy_blob" manifest_spec); API=$(grep -rl "^def referrers_api" manifest_spec)
AUTH=$(grep -rl "    def refused(self" manifest_spec); PLACE=$(grep -rl "^class Placer" manifest_spec)
echo "$UPLOAD $API $AUTH $PLACE"
python3 /work/wt/issue-16-draft/.issue16-apply/upload_patch.py $UPLOAD
python3 /work/wt/issue-16-draft/.issue16-apply/referrers_patch.py $API
python3 /work/wt/issue-16-draft/.issue16-apply/scope_patch.py $AUTH $PLACE
grep -q "^from manifest_spec.errors import .*RegistryError" $PLACE || \
  sed -i '0,/^from manifest_spec\./s//from manifest_spec.errors import RegistryError\nfrom manifest_spec./' $PLACE
git mv tests/test_ggcr_registry.py tests/registry/test_ggcr_registry.py
cp $S/tests/support/profiles.py tests/support/profiles.py
cp $S/tests/support/ggcr.py tests/support/ggcr.py
for f in test_registry_profiles test_upload_protocol test_ggcr_referrers; do cp $S/tests/$f.py tests/registry/$f.py; done
python3 - <<'PY'
p='tests/conftest.py'
s=open(p).read()
anchor='from support.registry import Registry, RegistryNotFoundError, unique_repo_name\n'
assert anchor in s
s=s.replace(anchor, 'from support.ggcr import ggcr_registry  # noqa: F401  (the second registry, session-wide)\n'+anchor)
open(p,'w').write(s)
for m in ["test_push","test_cross_registry","test_plan","test_lock","test_inspect","test_dry_run"]:
    p=f"tests/registry/{m}.py"
    s=open(p).read()
    line="from support.ggcr import registry_on_both as registry  # noqa: F401  (each test on both registries)\n"
    i=s.find("\nfrom support.")
    assert i>=0, m
    s=s[:i+1]+line+s[i+1:]
    open(p,'w').write(s)
PY
python3 /work/wt/issue-16-draft/.issue16-apply/readme_patch.py README.md
echo applied
