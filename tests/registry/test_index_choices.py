"""Issue 19: index annotations from the images' labels, and buildx attestation entries kept or dropped.

Against the real registry: labels read from each member's config (agreeing, disagreeing, absent,
overridden by the spec), shown in plan and --dry-run, locked; attestation entries of a member
index kept (the default) or dropped — with what travels with them (the attestation manifests
copied into the target, and a signature made on one of them).
"""

from __future__ import annotations

import json
from pathlib import Path

from support.artifacts import cosign_tag, push_signature
from support.clirun import (
    assert_clean_failure,
    assert_ok,
    digest_line,
    push_spec,
    run_cli,
    served_document,
    tag_digest,
    write_spec,
)
from support.images import PushedIndex, list_tags, push_image, push_index
from support.registry import Registry
from support.specs import repo_spec, spec

DESCRIPTION = "org.opencontainers.image.description"
SOURCE = "org.opencontainers.image.source"


def _labelled(registry: Registry, repo: str, amd64: dict[str, str], arm64: dict[str, str]) -> None:
    push_image(registry.url, repo, "amd64", oci=True, labels=amd64)
    push_image(registry.url, repo, "arm64", architecture="arm64", oci=True, labels=arm64)


def _spec(registry: Registry, repo: str, **keys: object) -> dict[str, object]:
    return repo_spec(registry.host, repo, "v1", [("amd64", None), ("arm64", None)], type="oci", **keys)


# -- labels → annotations ----------------------------------------------------------------------


def test_agreeing_labels_become_index_annotations_shown_in_plan_and_dry_run(registry: Registry, repo_name: str,
                                                                            tmp_path: Path) -> None:
    same = {DESCRIPTION: "The app", SOURCE: "https://example.com/app", "other": "x"}
    _labelled(registry, repo_name, same, {**same, "other": "y"})
    spec = _spec(registry, repo_name, annotationsFromLabels=[DESCRIPTION, SOURCE])
    plan = run_cli("plan", str(write_spec(tmp_path, spec)))
    assert_ok(plan)
    assert f"annotation {DESCRIPTION}='The app' from the images' labels" in plan.stdout
    planned = json.loads(run_cli("plan", str(tmp_path / "spec.yaml"), "--output", "json").stdout)
    assert planned["specs"][0]["annotationsFromLabels"] == {DESCRIPTION: "The app", SOURCE: "https://example.com/app"}
    dry = run_cli("push", "from-spec", str(tmp_path / "spec.yaml"), "--dry-run")
    assert_ok(dry)
    assert f"dry run: annotation {SOURCE}='https://example.com/app' from the images' labels" in dry.stderr
    assert tag_digest(registry.url, repo_name, "v1") is None
    result = push_spec(tmp_path, spec)
    assert_ok(result)
    assert served_document(registry.url, repo_name, "v1")["annotations"] == {
        DESCRIPTION: "The app", SOURCE: "https://example.com/app"}  # "other" disagrees, but was not asked for


def test_disagreeing_or_missing_labels_are_an_error_naming_the_images(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _labelled(registry, repo_name, {DESCRIPTION: "The app"}, {DESCRIPTION: "The app (arm)"})
    result = push_spec(tmp_path, _spec(registry, repo_name, annotationsFromLabels=[DESCRIPTION]))
    assert_clean_failure(result, f"label {DESCRIPTION}: the images disagree",
                         f"manifests[0] {registry.host}/{repo_name}:amd64 says 'The app'",
                         f"manifests[1] {registry.host}/{repo_name}:arm64 says 'The app (arm)'")
    missing = push_spec(tmp_path, _spec(registry, repo_name, annotationsFromLabels=[SOURCE]))
    assert_clean_failure(missing, f"manifests[0] {registry.host}/{repo_name}:amd64, manifests[1] {registry.host}/{repo_name}:arm64 "
                                  "has no such label")
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_the_spec_value_wins_over_disagreeing_labels(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _labelled(registry, repo_name, {DESCRIPTION: "a", SOURCE: "s"}, {DESCRIPTION: "b", SOURCE: "s"})
    spec = _spec(registry, repo_name, annotationsFromLabels=[DESCRIPTION, SOURCE], annotations={DESCRIPTION: "Settled"})
    assert_ok(push_spec(tmp_path, spec))
    assert served_document(registry.url, repo_name, "v1")["annotations"] == {DESCRIPTION: "Settled", SOURCE: "s"}
    path = str(tmp_path / "spec.yaml")
    assert_ok(run_cli("lock", path))
    assert json.loads((tmp_path / "spec.lock").read_text())["annotationsFromLabels"] == {DESCRIPTION: "Settled", SOURCE: "s"}
    assert_ok(run_cli("lock", "--check", path))
    assert_ok(run_cli("push", "from-spec", "--locked", path))


def test_the_flag_on_from_args_and_docker_lists_refuse_it(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _labelled(registry, repo_name, {DESCRIPTION: "d"}, {DESCRIPTION: "d"})
    images = (f"{registry.host}/{repo_name}:amd64", f"{registry.host}/{repo_name}:arm64")
    result = run_cli("push", "--type", "oci", "from-args", "--target", f"{registry.host}/{repo_name}:v1", *images,
                     "--annotation-from-label", DESCRIPTION, "--output", "json")
    assert_ok(result)
    assert json.loads(result.stdout)["annotationsFromLabels"] == {DESCRIPTION: "d"}
    assert served_document(registry.url, repo_name, "v1")["annotations"] == {DESCRIPTION: "d"}
    docker = run_cli("push", "from-args", "--target", f"{registry.host}/{repo_name}:v2", *images,
                     "--annotation-from-label", DESCRIPTION)
    assert_clean_failure(docker, "annotationsFromLabels", "type: oci")
    invalid = run_cli("validate", str(write_spec(tmp_path, {**_spec(registry, repo_name, annotationsFromLabels=[DESCRIPTION]),
                                                             "type": "docker"})))
    assert invalid.exit_code == 1 and "annotationsFromLabels" in invalid.stdout


def test_labels_are_locked_like_any_other_input(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    _labelled(registry, repo_name, {DESCRIPTION: "d"}, {DESCRIPTION: "d"})
    path = str(write_spec(tmp_path, _spec(registry, repo_name)))
    assert_ok(run_cli("lock", path, "--annotation-from-label", DESCRIPTION))
    lock = json.loads((tmp_path / "spec.lock").read_text())
    assert lock["annotationsFromLabels"] == {DESCRIPTION: "d"}
    assert_ok(run_cli("lock", "--check", path, "--annotation-from-label", DESCRIPTION))
    drift = run_cli("lock", "--check", path)
    assert drift.exit_code == 1 and "annotations from labels [], locked" in drift.stdout
    refused = run_cli("push", "from-spec", "--locked", path)
    assert_clean_failure(refused, "disagree", "annotations from labels")
    pushed = run_cli("push", "from-spec", "--locked", path, "--annotation-from-label", DESCRIPTION)
    assert_ok(pushed)
    assert digest_line(pushed)[0] == lock["index"]["digest"]


# -- attestation entries -----------------------------------------------------------------------


def _buildx_index(registry: Registry, repo: str) -> PushedIndex:
    """What `docker buildx build --platform linux/amd64,linux/arm64 --push` leaves: an index with an
    attestation entry per platform, the amd64 one signed (cosign) as some pipelines do."""
    amd64 = push_image(registry.url, repo, None, oci=True)
    arm64 = push_image(registry.url, repo, None, architecture="arm64", oci=True)
    built = push_index(registry.url, repo, "1.0", [amd64, arm64], attestations=True)
    push_signature(registry.url, repo, built.attestations[0])
    return built


def test_attestation_entries_are_kept_by_default_with_what_travels_with_them(registry: Registry, repo_name: str,
                                                                              tmp_path: Path) -> None:
    built = _buildx_index(registry, f"{repo_name}-ci")
    the_spec = spec(f"{registry.host}/{repo_name}:v1", (f"{registry.host}/{repo_name}-ci:1.0", None), type="oci")
    assert_ok(push_spec(tmp_path, the_spec))
    entries = [e["digest"] for e in served_document(registry.url, repo_name, "v1")["manifests"]]
    attestations = [a.digest for a in built.attestations]
    assert entries == [e.digest for e in built.entries] + attestations
    for digest in attestations:  # copied into the target, and the signature made on one carried along
        assert tag_digest(registry.url, repo_name, digest) == digest
    assert cosign_tag(attestations[0], "sig") in list_tags(registry.url, repo_name)


def test_dropped_attestation_entries_are_neither_in_the_index_nor_carried(registry: Registry, repo_name: str,
                                                                          tmp_path: Path) -> None:
    built = _buildx_index(registry, f"{repo_name}-ci")
    the_spec = spec(f"{registry.host}/{repo_name}:v1", (f"{registry.host}/{repo_name}-ci:1.0", None), type="oci", attestations="drop")
    path = str(write_spec(tmp_path, the_spec))
    plan = run_cli("plan", path)
    assert_ok(plan)
    assert "2 attestation entries of member indexes dropped (attestations: drop)" in plan.stdout
    assert "signature" not in plan.stdout  # the attestation's signature would not travel either
    dry = json.loads(run_cli("push", "from-spec", path, "--dry-run", "--output", "json").stdout)
    assert dry["attestationsDropped"] == [a.digest for a in built.attestations]
    assert [e["digest"] for e in dry["index"]["manifests"]] == [e.digest for e in built.entries]
    assert_ok(run_cli("lock", path))
    assert json.loads((tmp_path / "spec.lock").read_text())["attestations"] == "drop"
    assert_ok(run_cli("push", "from-spec", "--locked", path))
    assert [e["digest"] for e in served_document(registry.url, repo_name, "v1")["manifests"]] == [e.digest for e in built.entries]
    for attestation in built.attestations:
        assert tag_digest(registry.url, repo_name, attestation.digest) is None
    assert not [t for t in list_tags(registry.url, repo_name) if t.endswith(".sig")]
    # The flag wins over the spec: kept again, and a lock made for drop refuses it.
    refused = run_cli("push", "from-spec", "--locked", path, "--attestations", "keep")
    assert_clean_failure(refused, "attestation entries: keep, locked drop")
    assert_ok(run_cli("push", "from-spec", path, "--attestations", "keep"))
    assert len(served_document(registry.url, repo_name, "v1")["manifests"]) == 4


def test_from_args_drops_them_too(registry: Registry, repo_name: str) -> None:
    built = _buildx_index(registry, repo_name)
    result = run_cli("push", "--type", "oci", "from-args", "--attestations", "drop", "--target", f"{registry.host}/{repo_name}:v1",
                     f"{registry.host}/{repo_name}:1.0")
    assert_ok(result)
    assert [e["digest"] for e in served_document(registry.url, repo_name, "v1")["manifests"]] == [e.digest for e in built.entries]
