"""Signatures, attestations and SBOMs travel with members from other repositories and registries.

Against both real registries: distribution 2.8.2 (no referrers API: artifacts made in cosign's and
oras's exact formats (support/artifacts.py) are found through the `<alg>-<hex>` referrers tag schema
and cosign's `sha256-<hex>.sig/.att/.sbom` tags, and checked in the target by both schemes) and
go-containerregistry's, whose real referrers API lists them. Tests of the tag schema itself (merging
into a target's index, refusing a bad one), of request counts, and of our API imitation (paging,
filtering: ggcr does neither) run on distribution only, marked DISTRIBUTION_ONLY with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlencode

import pytest
import requests
from support.artifacts import (
    SPDX_JSON,
    PushedArtifact,
    add_to_referrers_tag,
    cosign_tag,
    push_attestation,
    push_sbom,
    push_signature,
    referrers_tag_entries,
)
from support.clirun import assert_clean_failure, assert_ok, digest_line, push_spec, run_cli, tag_digest, write_spec
from support.faults import FaultProxy, corrupt_body
from support.images import PushedImage, get_blob, get_manifest, list_tags, push_image, push_index
from support.referrers_api import ReferrersProxy
from support.registry import Registry, unique_repo_name
from support.specs import AMD64, Member, spec

pytestmark = pytest.mark.both_registries  # each test on CNCF distribution, then on go-containerregistry's

DISTRIBUTION_ONLY = pytest.mark.parametrize("registry", ["distribution"], indirect=True)


def on_ggcr(target: Registry) -> bool:
    return getattr(target, "kind", "") == "ggcr"


def target_entries(target: Registry, repo: str, digest: str) -> Optional[list[dict[str, Any]]]:
    """How the target lists the referrers of `digest`: ggcr through its referrers API, distribution
    through the `<alg>-<hex>` tag schema's index (None: no such index)."""
    if not on_ggcr(target):
        return referrers_tag_entries(target.url, repo, digest)
    answer = requests.get(f"{target.url}/v2/{repo}/referrers/{digest}", timeout=10)
    assert answer.status_code == 200, answer.status_code
    entries: list[dict[str, Any]] = json.loads(answer.content)["manifests"]
    return entries


def mount_path(repo: str, digest: str, source_repo: str) -> str:
    """A cross-repository blob mount, as the client sends it (OCI distribution spec, "Mounting a blob
    from another repository")."""
    return f"/v2/{repo}/blobs/uploads/?" + urlencode({"mount": digest, "from": source_repo})


def signed_image(registry: Registry, repo: str, seed: str = "x") -> tuple[PushedImage, dict[str, PushedArtifact]]:
    """An image with every kind in both placements: three OCI 1.1 referrers and three cosign tags."""
    image = push_image(registry.url, repo, "amd64", oci=True, seed=seed)
    artifacts = {
        "sig-referrer": push_signature(registry.url, repo, image, referrer=True),
        "att-referrer": push_attestation(registry.url, repo, image, referrer=True),
        "sbom-referrer": push_sbom(registry.url, repo, image, referrer=True),
        "sig-tag": push_signature(registry.url, repo, image),
        "att-tag": push_attestation(registry.url, repo, image),
        "sbom-tag": push_sbom(registry.url, repo, image, referrer=False),
    }
    return image, artifacts


def spec_for(source: Registry, source_repo: str, target: Registry, target_repo: str) -> dict[str, object]:
    return spec(f"{target.host}/{target_repo}:v1", (f"{source.host}/{source_repo}:amd64", AMD64), type="oci")


def assert_arrived(target: Registry, repo: str, image: PushedImage, artifacts: dict[str, PushedArtifact]) -> None:
    """Findable by both schemes, each manifest byte-identical and its blobs beside it."""
    entries = target_entries(target, repo, image.digest)
    assert entries is not None, "no referrers tag index in the target"
    referrers = [a for name, a in artifacts.items() if name.endswith("-referrer")]
    assert {e["digest"] for e in entries} == {a.digest for a in referrers}
    for artifact in referrers:
        entry = next(e for e in entries if e["digest"] == artifact.digest)
        assert entry["size"] == artifact.size
        assert on_ggcr(target) or entry["artifactType"] == artifact.artifact_type  # ggcr lists config.mediaType
    for artifact in artifacts.values():
        data, _, digest = get_manifest(target.url, repo, artifact.tag or artifact.digest)
        assert (data, digest) == (artifact.manifest_bytes, artifact.digest)
        for blob in artifact.blobs:
            get_blob(target.url, repo, blob)  # verified by digest


@pytest.mark.parametrize("where", ["same registry", "other registry"])
def test_members_arrive_with_their_referrers_and_cosign_tags(
    registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path, where: str
) -> None:
    source = registry if where == "same registry" else other_registry
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(source, source_repo)
    result = push_spec(tmp_path, spec_for(source, source_repo, registry, repo_name))
    assert_ok(result)
    digest_line(result)  # stdout is still manifest-tool's one line
    assert f"carried 2 signatures, 2 attestations, 2 SBOMs of 1 image into {registry.host}/{repo_name}" in result.stderr
    assert_arrived(registry, repo_name, image, artifacts)
    for suffix in ("sig", "att", "sbom"):
        assert tag_digest(registry.url, repo_name, cosign_tag(image.digest, suffix)) is not None


@DISTRIBUTION_ONLY  # merging into the target's tag-schema index
def test_an_existing_referrers_index_and_cosign_tag_in_the_target_are_merged(
    registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    # The target already has the image, another SBOM listed in its referrers index, and its own signature.
    push_image(registry.url, repo_name, None, oci=True, seed="x")
    theirs = push_sbom(registry.url, repo_name, image, referrer=True, name="scanned-later")
    their_signature = push_signature(registry.url, repo_name, image, note="release-team")
    before = referrers_tag_entries(registry.url, repo_name, image.digest)
    assert before is not None and [e["digest"] for e in before] == [theirs.digest]

    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(result)
    entries = referrers_tag_entries(registry.url, repo_name, image.digest)
    assert entries is not None
    assert entries[0] == before[0], "an entry already there was changed or dropped"
    assert {e["digest"] for e in entries} == {theirs.digest} | {a.digest for n, a in artifacts.items() if n.endswith("-referrer")}
    # cosign's .sig in the target now holds both signatures: theirs first, ours appended.
    data, _, merged_digest = get_manifest(registry.url, repo_name, cosign_tag(image.digest, "sig"))
    merged = json.loads(data)
    assert merged["layers"] == their_signature.document["layers"] + artifacts["sig-tag"].document["layers"]
    config = json.loads(get_blob(registry.url, repo_name, merged["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in merged["layers"]]
    assert len(config["history"]) == 2
    assert f"merged with the target's {their_signature.digest[:19]}: kept 1 layer, added 1 layer" in result.stderr
    # Pushing again finds everything in place: no tag of the carry is written twice.
    again = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(again)
    assert tag_digest(registry.url, repo_name, cosign_tag(image.digest, "sig")) == merged_digest
    assert "already holds everything carried; not written" in again.stderr


def test_no_referrers_copies_none(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name), "--no-referrers")
    assert_ok(result)
    assert "carried" not in result.stderr
    assert list_tags(registry.url, repo_name) == ["v1"]
    for artifact in artifacts.values():
        assert tag_digest(registry.url, repo_name, artifact.digest) is None


def test_referrers_type_carries_only_those(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name),
                       "--referrers-type", "sbom", "--referrers-type", "application/vnd.dev.cosign.artifact.sig.v1+json")
    assert_ok(result)
    assert "carried 1 signature, 2 SBOMs of 1 image" in result.stderr
    entries = target_entries(registry, repo_name, image.digest) or []
    assert {e["digest"] for e in entries} == {artifacts["sbom-referrer"].digest, artifacts["sig-referrer"].digest}
    referrers_index = [] if on_ggcr(registry) else [cosign_tag(image.digest, "")]  # the API needs no tag
    assert sorted(list_tags(registry.url, repo_name)) == sorted(["v1", cosign_tag(image.digest, "sbom"), *referrers_index])


def test_a_bad_referrers_type_is_a_usage_error(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    result = push_spec(tmp_path, spec_for(registry, "t/x", registry, repo_name), "--referrers-type", "signatures")
    assert result.exit_code == 2 and "--referrers-type" in result.stderr and "Traceback" not in result.output


def test_members_of_the_target_repository_carry_nothing(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    image, _ = signed_image(registry, repo_name)
    result = push_spec(tmp_path, spec_for(registry, repo_name, registry, repo_name))
    assert_ok(result)
    assert "carried" not in result.stderr  # they are already beside the index


def test_dry_run_lists_what_would_be_carried_and_writes_nothing(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name), "--dry-run")
    assert_ok(result)
    assert "would carry 2 signatures, 2 attestations, 2 SBOMs of 1 image" in result.stderr
    for artifact in artifacts.values():
        assert artifact.digest in result.stderr
    index_line = f"{cosign_tag(image.digest, '')}: referrers index would be created (3 entries)"
    assert (index_line in result.stderr) is not on_ggcr(registry)
    assert list_tags(registry.url, repo_name) == []
    as_json = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name), "--dry-run", "--output", "json")
    assert_ok(as_json)
    carried = json.loads(as_json.stdout)["referrers"]
    assert carried["counts"] == {"signature": 2, "attestation": 2, "sbom": 2, "other": 0}
    listed = {a["digest"]: a for s in carried["subjects"] for a in s["artifacts"]}
    assert set(listed) == {a.digest for a in artifacts.values()}
    assert listed[artifacts["sig-tag"].digest]["tag"] == cosign_tag(image.digest, "sig")
    assert {t["tag"]: t["action"] for t in carried["tags"]} == {
        cosign_tag(image.digest, s): "create" for s in ("sig", "att", "sbom", *([] if on_ggcr(registry) else [""]))
    }


@DISTRIBUTION_ONLY  # the tag schema's index itself
def test_a_tag_schema_index_that_is_not_an_index_is_refused_before_any_write(
    registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    source_repo = unique_repo_name("source")
    image, _ = signed_image(registry, source_repo)
    # The target's sha256-<hex> tag holds a plain image: merging into it would destroy it.
    push_image(registry.url, repo_name, cosign_tag(image.digest, ""), oci=True, seed="unrelated")
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert result.exit_code == 1 and "not an OCI index of referrers" in result.stderr, result.stderr
    assert sorted(list_tags(registry.url, repo_name)) == [cosign_tag(image.digest, "")]  # nothing else written


def test_add_to_referrers_tag_keeps_entries(registry: Registry, repo_name: str) -> None:
    """The test support itself: the index it maintains only grows."""
    image = push_image(registry.url, repo_name, None, oci=True)
    first = push_signature(registry.url, repo_name, image, referrer=True)
    second = push_sbom(registry.url, repo_name, image, referrer=True)
    add_to_referrers_tag(registry.url, repo_name, image.digest, first.descriptor())
    assert [e["digest"] for e in referrers_tag_entries(registry.url, repo_name, image.digest) or []] == [first.digest, second.digest]
    assert run_cli("--version").exit_code == 0


# -- the referrers API ------------------------------------------------------------------------
# distribution 2.8.2 has no referrers API (it answers 404), so this path goes through a proxy that
# serves the API from the registry's own stored manifests (support/referrers_api.py).


@DISTRIBUTION_ONLY  # our API imitation over distribution
def test_the_referrers_api_path_through_a_proxy_that_serves_it(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="api")
    # Left out of the tag-schema index: only the API can find these.
    signature = push_signature(registry.url, source_repo, image, referrer=True, listed=False)
    sbom = push_sbom(registry.url, source_repo, image, referrer=True, listed=False)
    assert referrers_tag_entries(registry.url, source_repo, image.digest) is None
    with ReferrersProxy.around(registry) as proxy:
        the_spec = spec(f"{proxy.host}/{repo_name}:v1", (f"{proxy.host}/{source_repo}:amd64", AMD64), type="oci")
        result = push_spec(tmp_path, the_spec)
        assert_ok(result)
        assert "carried 1 signature, 1 SBOM of 1 image" in result.stderr
        assert "referrer (referrers-api)" in result.stderr
        assert "the target serves the referrers API" in result.stderr
        seen = proxy.requests("GET")
        assert f"/v2/{source_repo}/referrers/{image.digest}" in seen
        # The tag schema's index is asked for beside the API (no extra round trip when there is no API);
        # it does not exist here, so only the API can have listed them.
        # In the target, pushing each manifest with its subject was enough: the API lists them, no tag written.
        listed = requests.get(f"http://{proxy.host}/v2/{repo_name}/referrers/{image.digest}", timeout=10).json()
        assert {e["digest"] for e in listed["manifests"]} == {signature.digest, sbom.digest}
        assert list_tags(registry.url, repo_name) == ["v1"]

        # The filter is sent to the API (and applied here too, since a registry may ignore it).
        filtered = push_spec(tmp_path, {**the_spec, "image": f"{proxy.host}/{repo_name}-sbom:v1"}, "--referrers-type", SPDX_JSON)
        assert_ok(filtered)
        assert SPDX_JSON in proxy.filters and "carried 1 SBOM of 1 image" in filtered.stderr


# -- plan, lock, lock --check, push --locked --------------------------------------------------


def test_plan_lists_what_would_be_carried(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    path = write_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(run_cli("push", "from-spec", str(path), "--no-referrers"))
    # The index tag is already right, but a push would still carry: that is a change.
    text = run_cli("plan", str(path), "--detailed-exitcode")
    assert text.exit_code == 2, text.output
    assert "would carry 2 signatures, 2 attestations, 2 SBOMs of 1 image" in text.stdout
    assert f"{cosign_tag(image.digest, 'sig')}: cosign tag would be copied" in text.stdout
    to_write = 3 if on_ggcr(registry) else 4  # the referrers index tag only without the API
    assert f"No index changes: 1 tag(s) already hold their index; {to_write} tag(s) to write for carried referrers." in text.stdout
    markdown = run_cli("plan", str(path), "--output", "markdown")
    assert "<summary>would carry 2 signatures, 2 attestations, 2 SBOMs of 1 image" in markdown.stdout
    as_json = json.loads(run_cli("plan", str(path), "--output", "json").stdout)
    assert as_json["changes"] is True
    assert as_json["specs"][0]["referrers"]["counts"]["signature"] == 2
    assert_ok(run_cli("push", "from-spec", str(path)))
    after = run_cli("plan", str(path), "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert "already holds everything carried; not written" in after.stdout
    assert run_cli("plan", str(path), "--no-referrers", "--output", "json").exit_code == 0


def lock_file(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "spec.lock").read_text())


def test_lock_records_them_and_push_locked_carries_exactly_those(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="locked")
    reviewed = [push_signature(registry.url, source_repo, image, referrer=True), push_signature(registry.url, source_repo, image)]
    path = write_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(run_cli("lock", str(path)))
    recorded = lock_file(tmp_path)["referrers"]
    assert recorded == {"types": [], "subjects": [{"image": f"{registry.host}/{source_repo}@{image.digest}", "artifacts": [
        {"digest": reviewed[0].digest, "kind": "signature", "artifactType": reviewed[0].artifact_type},
        {"digest": reviewed[1].digest, "kind": "signature", "artifactType": reviewed[1].artifact_type,
         "tag": cosign_tag(image.digest, "sig")},
    ]}]}
    assert_ok(run_cli("lock", str(path), "--check"))

    late = push_sbom(registry.url, source_repo, image, referrer=True)  # after the review
    check = run_cli("lock", str(path), "--check")
    assert check.exit_code == 1
    assert f"sbom {late.digest} of {registry.host}/{source_repo}@{image.digest} was added since the lock" in check.stdout

    result = run_cli("push", "from-spec", "--locked", str(path))
    assert_ok(result)
    assert "carried 2 signatures of 1 image" in result.stderr
    entries = target_entries(registry, repo_name, image.digest) or []
    assert [e["digest"] for e in entries] == [reviewed[0].digest]  # not the late SBOM
    assert tag_digest(registry.url, repo_name, late.digest) is None


def test_a_signature_replaced_since_the_lock_is_reported_and_not_pushed(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="replaced")
    locked = push_signature(registry.url, source_repo, image)
    path = write_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(run_cli("lock", str(path)))
    now = push_signature(registry.url, source_repo, image, note="re-signed")  # the .sig tag moves
    check = run_cli("lock", str(path), "--check", "--output", "json")
    assert check.exit_code == 1
    drift = json.loads(check.stdout)["locks"][0]["drift"]
    assert drift == [f"{cosign_tag(image.digest, 'sig')} of {registry.host}/{source_repo}@{image.digest} now holds {now.digest}, "
                     f"locked {locked.digest} (a signature added or replaced since the lock)"]
    result = run_cli("push", "from-spec", "--locked", str(path))
    assert_clean_failure(result, f"the locked signature {locked.digest}", "relock")
    assert list_tags(registry.url, repo_name) == []  # refused before any write


def test_push_locked_refuses_a_lock_that_reviewed_no_referrers(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, _ = signed_image(registry, source_repo)
    path = write_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(run_cli("lock", str(path), "--no-referrers"))
    assert "referrers" not in lock_file(tmp_path)
    assert_clean_failure(run_cli("push", "from-spec", "--locked", str(path)), "records no signatures", "--no-referrers")
    assert_ok(run_cli("push", "from-spec", "--locked", str(path), "--no-referrers"))
    assert list_tags(registry.url, repo_name) == ["v1"]


# -- order of writes, verification, stale listings ------------------------------------------------


@DISTRIBUTION_ONLY  # ggcr never mounts: the first push's early mounts open upload sessions while reading
def test_everything_is_read_before_the_first_write_and_referrers_go_in_before_the_tags_move(
    registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    with FaultProxy(registry.host) as proxy:
        the_spec = spec(f"{proxy.host}/{repo_name}:v1", (f"{proxy.host}/{source_repo}:amd64", AMD64), type="oci", tags=["latest"])
        assert_ok(push_spec(tmp_path, the_spec))
        seen = proxy.seen
        with_query = proxy.seen_with_query
    # A first push mounts the member's blobs while it reads (a link in the target repository,
    # invisible until a manifest names it); those mounts are the only requests before everything
    # is read that are not reads: no manifest, no tag, no upload session, no uploaded byte.
    mounts = {mount_path(repo_name, digest, source_repo) for digest in (image.config_digest, *image.layer_digests)}
    writes = [i for i, (method, path) in enumerate(with_query) if method not in ("GET", "HEAD") and path not in mounts]
    reads_of_source = [i for i, (method, path) in enumerate(seen) if method == "GET" and path.startswith(f"/v2/{source_repo}/")]
    assert max(reads_of_source) < min(writes), "something was written before all of the source was read"
    posts = [path for method, path in with_query if method == "POST"]
    assert mounts <= set(posts) and all("?mount=" in path for path in posts)  # the image's blobs and the carried ones: mounted, none uploaded
    puts = [path.rsplit("/", 1)[1] for method, path in seen if method == "PUT" and "/manifests/" in path]
    first_index_tag = puts.index("v1")
    carried = {a.digest for a in artifacts.values()} | {cosign_tag(image.digest, s) for s in ("", "sig", "att", "sbom")}
    assert carried <= set(puts[:first_index_tag]), "a referrer or cosign tag was written after the index tag moved"
    assert puts[first_index_tag:] == ["v1", "latest"]


@DISTRIBUTION_ONLY  # ggcr never mounts: the first push's early mounts open upload sessions while reading
def test_a_corrupt_referrer_fails_the_push_before_any_write(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image, artifacts = signed_image(registry, source_repo)
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", f"/manifests/{artifacts['att-referrer'].digest}", corrupt_body())
        the_spec = spec(f"{proxy.host}/{repo_name}:v1", (f"{proxy.host}/{source_repo}:amd64", AMD64), type="oci")
        result = push_spec(tmp_path, the_spec)
        assert_clean_failure(result, f"referrer {artifacts['att-referrer'].digest}")
        # Nothing was written but what a first push mounts while it reads: links to the member's own
        # blobs (a mounted blob is not a change anyone can see); no manifest, no tag, no upload.
        mounts = {mount_path(repo_name, digest, source_repo) for digest in (image.config_digest, *image.layer_digests)}
        assert {path for method, path in proxy.seen_with_query if method not in ("GET", "HEAD")} <= mounts
    assert list_tags(registry.url, repo_name) == []


def delete_manifest(registry: Registry, repo: str, digest: str) -> None:
    """The registry's own DELETE (storage.delete is enabled in tests): the manifest is gone, listings are not."""
    assert requests.delete(f"{registry.url}/v2/{repo}/manifests/{digest}", timeout=10).status_code == 202


@DISTRIBUTION_ONLY  # deletes on distribution's disk; ggcr's API lists only what exists
def test_a_listed_referrer_that_no_longer_exists_is_left_out_with_a_warning(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="stale")
    signature = push_signature(registry.url, source_repo, image, referrer=True)
    gone = push_sbom(registry.url, source_repo, image, referrer=True)
    delete_manifest(registry, source_repo, gone.digest)  # deleted by a client that left its index entry behind
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(result)
    assert f"warning: {gone.digest}, listed as a referrer of {registry.host}/{source_repo}@{image.digest}, does not exist" in result.stderr
    assert [e["digest"] for e in referrers_tag_entries(registry.url, repo_name, image.digest) or []] == [signature.digest]


@DISTRIBUTION_ONLY  # the target's tag-schema index
def test_a_stale_entry_in_the_targets_index_is_refused_before_any_write(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """distribution refuses an index naming a manifest it lacks; dropping the entry is not this tool's call."""
    source_repo = unique_repo_name("source")
    image, _ = signed_image(registry, source_repo)
    stale = push_sbom(registry.url, repo_name, image, referrer=True)
    delete_manifest(registry, repo_name, stale.digest)
    before = tag_digest(registry.url, repo_name, cosign_tag(image.digest, ""))
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_clean_failure(result, f"lists {stale.digest}, which the registry no longer has", "--no-referrers")
    assert list_tags(registry.url, repo_name) == [cosign_tag(image.digest, "")]
    assert tag_digest(registry.url, repo_name, cosign_tag(image.digest, "")) == before


@DISTRIBUTION_ONLY  # paging: our imitation (ggcr does not page)
def test_the_referrers_api_is_read_page_by_page(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="pages")
    pushed = [push_signature(registry.url, source_repo, image, referrer=True, listed=False, note=str(n)) for n in range(3)]
    with ReferrersProxy.around(registry) as proxy:
        proxy.page_size = 1
        the_spec = spec(f"{proxy.host}/{repo_name}:v1", (f"{proxy.host}/{source_repo}:amd64", AMD64), type="oci")
        result = push_spec(tmp_path, the_spec)
        assert_ok(result)
        assert "carried 3 signatures of 1 image" in result.stderr
        assert proxy.requests("GET").count(f"/v2/{source_repo}/referrers/{image.digest}") == 3
        listed = requests.get(f"http://{proxy.host}/v2/{repo_name}/referrers/{image.digest}", timeout=10)
        assert "next" in listed.links  # the target's answer is paged too: one entry of three
    assert all(tag_digest(registry.url, repo_name, p.digest) == p.digest for p in pushed)


def test_from_args_takes_the_referrers_flags(registry: Registry, repo_name: str) -> None:
    source_repo = unique_repo_name("source")
    image, _ = signed_image(registry, source_repo)
    result = run_cli("push", "--type", "oci", "from-args", "--platforms", "linux/amd64", "--template",
                     f"{registry.host}/{source_repo}:ARCH", "--target", f"{registry.host}/{repo_name}:v1",
                     "--referrers-type", "attestation")
    assert_ok(result)
    assert "carried 2 attestations of 1 image" in result.stderr
    assert cosign_tag(image.digest, "sig") not in list_tags(registry.url, repo_name)


def test_a_target_cosign_tag_that_is_not_a_cosign_manifest_is_refused_before_any_write(
    registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    source_repo = unique_repo_name("source")
    image = push_image(registry.url, source_repo, "amd64", oci=True, seed="odd")
    push_signature(registry.url, source_repo, image)
    child = push_image(registry.url, repo_name, None, oci=True, seed="odd-child")
    push_index(registry.url, repo_name, cosign_tag(image.digest, "sig"), [child])  # someone's index under cosign's tag
    before = tag_digest(registry.url, repo_name, cosign_tag(image.digest, "sig"))
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_clean_failure(result, "not a cosign manifest; refusing to merge into it")
    assert tag_digest(registry.url, repo_name, cosign_tag(image.digest, "sig")) == before
    assert "v1" not in list_tags(registry.url, repo_name)


# -- round trips -------------------------------------------------------------------------------
# Sequential depth is a property of the code (see test_engine.py): a proxy adds a fixed delay to
# every request and counts the chains.


def two_members_from_elsewhere(registry: Registry, host: str, repo_name: str, tmp_path: Path, *, signed: bool) -> Path:
    members: list[Member] = []
    for n, arch in enumerate(("amd64", "arm64")):
        source = unique_repo_name(f"depth-{arch}")
        image = push_image(registry.url, source, arch, architecture=arch, oci=True, seed=f"depth-{signed}")
        if signed:
            push_signature(registry.url, source, image)
            push_sbom(registry.url, source, image, referrer=True)
        members.append((f"{host}/{source}:{arch}", arch))
    return write_spec(tmp_path, spec(f"{host}/{repo_name}:v1", *members, type="oci"))


@DISTRIBUTION_ONLY  # request rounds counted on distribution
@pytest.mark.parametrize("signed, first, again", [(False, 5, 2), (True, 8, 4)])
def test_round_trips_of_a_push_that_carries(registry: Registry, repo_name: str, tmp_path: Path, signed: bool, first: int, again: int) -> None:
    with FaultProxy(registry.host, delay=0.1) as slow:
        path = two_members_from_elsewhere(registry, slow.host, repo_name, tmp_path, signed=signed)
        slow.forget()
        assert_ok(run_cli("push", "from-spec", str(path)))
        # Nothing to carry: (1) members, (2) configs + child HEADs + the tag lists and referrers-API probe
        # beside them, (3) mounts, (4) child PUTs, (5) the index — as without carrying. Something to
        # carry: + (3) the indexes and cosign tags the lists show, (4) the listed manifests and the
        # carried manifests' HEADs, then the carry's tags after the child PUTs, before the index.
        assert slow.depth() <= first, sorted(slow.timings, key=lambda t: t.start)
        slow.forget()
        assert_ok(run_cli("push", "from-spec", str(path)))
        assert slow.depth() <= again, sorted(slow.timings, key=lambda t: t.start)
        assert slow.requests("PUT") == [] and slow.requests("POST") == []


def test_nothing_found_says_nothing(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """Carrying is on, but a push of unsigned images prints exactly what it printed before."""
    source_repo = unique_repo_name("source")
    push_image(registry.url, source_repo, "amd64", oci=True, seed="unsigned")
    result = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name))
    assert_ok(result)
    digest_line(result)
    assert result.stderr == ""
    as_json = push_spec(tmp_path, spec_for(registry, source_repo, registry, repo_name), "--output", "json")
    assert json.loads(as_json.stdout)["referrers"]["counts"] == {"signature": 0, "attestation": 0, "sbom": 0, "other": 0}


def test_two_specs_carrying_different_signatures_for_one_image_into_one_repository_are_refused(
    registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    # The same image in two source repositories, each signed there (the signatures name their repository).
    first, second = f"{repo_name}/ci", f"{repo_name}/ci2"
    image = push_image(registry.url, first, "amd64", oci=True, seed="same")
    assert push_image(registry.url, second, "amd64", oci=True, seed="same").digest == image.digest
    push_signature(registry.url, first, image)
    push_signature(registry.url, second, image)
    target = f"{repo_name}/app"
    specs = []
    for n, source in enumerate((first, second)):
        the_spec = spec(f"{registry.host}/{target}:v{n}", (f"{registry.host}/{source}:amd64", AMD64), type="oci")
        specs.append(str(write_spec(tmp_path, the_spec, f"s{n}.yaml")))

    result = run_cli("push", "from-spec", *specs)

    line = assert_clean_failure(result, specs[0], specs[1], f"sha256-{image.digest.split(':')[1]}.sig", "nothing was written")
    assert "different content" in line
    assert list_tags(registry.url, target) == []


@DISTRIBUTION_ONLY  # the referrers tag is written only without the API
def test_an_extra_tag_named_like_a_carried_tag_is_refused(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    source = f"{repo_name}/ci"
    image, _ = signed_image(registry, source)
    referrers_tag = f"sha256-{image.digest.split(':')[1]}"
    the_spec = {**spec_for(registry, source, registry, f"{repo_name}/app"), "tags": [referrers_tag]}

    result = push_spec(tmp_path, the_spec)

    assert_clean_failure(result, f"{registry.host}/{repo_name}/app:{referrers_tag}", "different content", "nothing was written")
    assert list_tags(registry.url, f"{repo_name}/app") == []
