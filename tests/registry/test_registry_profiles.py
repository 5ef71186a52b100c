"""Registry profiles: documented vendor behaviour, imitated by a proxy in front of a real registry
(each imitation cites its source in support/profiles.py), and the flows a user runs through it.
No profile may end in a traceback, a false success, a silent drop or an open upload session."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from support.clirun import assert_ok, digest_line, push_spec, run_cli, served_document, write_spec
from support.faults import FaultProxy
from support.ggcr import GgcrRegistry
from support.images import get_blob, get_manifest, push_image
from support.profiles import MiB, honour_one_scope, refuse_large_patches, watch_uploads
from support.registry import Registry, unique_repo_name
from support.specs import AMD64, spec
from support.tokenserver import TokenServer, grants

NINE_MIB = 9 * MiB


def cross_registry_spec(source_host: str, source_repo: str, target_host: str, target_repo: str) -> dict[str, object]:
    return spec(f"{target_host}/{target_repo}:v1", (f"{source_host}/{source_repo}:amd64", AMD64), type="oci")


def test_a_layer_over_4_mib_is_copied_into_a_ghcr_like_target(registry: Registry, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("ghcr")
    image = push_image(ggcr.url, source_repo, "amd64", oci=True, layer_size=NINE_MIB)
    with FaultProxy(registry.host) as ghcr:
        refused = refuse_large_patches(ghcr)
        ledger = watch_uploads(ghcr)
        result = push_spec(tmp_path, cross_registry_spec(ggcr.host, source_repo, ghcr.host, target_repo))
        assert_ok(result)
        patches = ghcr.requests("PATCH")
    digest, _ = digest_line(result)
    assert refused == [], "a chunk over GHCR's 4 MiB limit was sent"
    assert len(patches) >= 3  # the 9 MiB layer went in 4 MiB chunks
    assert ledger.opened and not ledger.left_open
    assert served_document(registry.url, target_repo, "v1")["manifests"][0]["digest"] == image.digest
    assert get_blob(registry.url, target_repo, image.layer_digests[0]) == get_blob(ggcr.url, source_repo, image.layer_digests[0])
    assert served_document(registry.url, target_repo, digest)["mediaType"].endswith("index.v1+json")


def test_a_layer_over_4_mib_is_copied_into_ggcr_whose_patch_answers_204(registry: Registry, ggcr: GgcrRegistry, tmp_path: Path) -> None:
    source_repo, target_repo = unique_repo_name("src"), unique_repo_name("ggcr")
    image = push_image(registry.url, source_repo, "amd64", oci=True, layer_size=NINE_MIB, seed="to-ggcr")
    with FaultProxy(ggcr.host) as proxy:
        ledger = watch_uploads(proxy)
        assert_ok(push_spec(tmp_path, cross_registry_spec(registry.host, source_repo, proxy.host, target_repo)))
    assert ledger.opened and not ledger.left_open and ledger.deleted == []
    assert served_document(ggcr.url, target_repo, "v1")["manifests"][0]["digest"] == image.digest


ALICE, ALICE_PW = "alice", "alice-pw-1"


@pytest.fixture(scope="module", params=["push", "pull"], ids=["harbor-keeps-push", "gitlab-keeps-pull"])
def first_scope_tokens(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("tokens"), users={ALICE: ALICE_PW},
                         policy=grants({ALICE: [("team/*", "pull,push")]}))
    with server:
        honour_one_scope(server, request.param)
        yield server


def test_a_mount_refused_for_scope_falls_back_to_a_copy_with_separate_tokens(first_scope_tokens: TokenServer, tmp_path: Path) -> None:
    with Registry(first_scope_tokens.registry_config()) as harbor:
        source, target = unique_repo_name("src", prefix="team"), unique_repo_name("dst", prefix="team")
        image = push_image(harbor.url, source, "amd64", session=first_scope_tokens.bearer_session([(source, "pull,push")]))
        first_scope_tokens.reset_records()
        with FaultProxy(harbor.host) as proxy:
            ledger = watch_uploads(proxy)
            the_spec = spec(f"{proxy.host}/{target}:v1", (f"{proxy.host}/{source}:amd64", AMD64))
            result = run_cli("--username", ALICE, "--password-stdin", "push", "from-spec", str(write_spec(tmp_path, the_spec)), input=ALICE_PW + "\n")
            assert_ok(result)
            mounts = [p for p in proxy.requests("POST")]
        assert ledger.opened and not ledger.left_open
        reader = first_scope_tokens.bearer_session([(target, "pull")])
        assert get_manifest(harbor.url, target, image.digest, session=reader)[0] == image.manifest_bytes
        for blob in (image.config_digest, *image.layer_digests):
            get_blob(harbor.url, target, blob, session=reader)
        assert mounts
