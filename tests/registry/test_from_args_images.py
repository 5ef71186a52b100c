"""`from-args` with a list of images (issue 19): the merge job of a matrix build in one command.

Each image given as an argument (or a line of --images-from) is a member without a platform:
its platform is read from its config, an index gives all its entries; errors name the argument.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.clirun import (
    assert_clean_failure,
    assert_ok,
    digest_line,
    entry_platforms,
    run_cli,
    served_document,
    tag_digest,
)
from support.images import push_image, push_index
from support.registry import Registry

BIN = Path(sys.executable).parent


def _three_arch_builds(registry: Registry, repo: str) -> list[str]:
    """What three matrix jobs leave behind: images pushed by digest only, no tag."""
    return [
        push_image(registry.url, repo, None, architecture="amd64").digest,
        push_image(registry.url, repo, None, architecture="arm64", variant="v8").digest,
        push_image(registry.url, repo, None, architecture="arm", variant="v7").digest,
    ]


def _readme_recipe() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = readme.split("**The merge job of a matrix build.**", 1)[1]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


def _run_recipe(registry: Registry, repo: str, folder: Path) -> subprocess.CompletedProcess[str]:
    recipe = (_readme_recipe().replace("registry.example.com/team/app", f"{registry.host}/{repo}")
              .replace("manifest-spec ", "manifest-spec --plain-http ").replace("cd digests", f"cd {folder}"))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", recipe], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_fan_in_from_a_directory_of_digest_files(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    digests = _three_arch_builds(registry, repo_name)
    folder = tmp_path / "digests"
    folder.mkdir()
    empty = _run_recipe(registry, repo_name, folder)  # no job finished: an error, never an empty index
    assert empty.returncode == 1 and "<stdin>:1: " in empty.stderr and "@sha256:*" in empty.stderr, empty.stderr
    for digest in digests:  # what each matrix job uploads: an empty file named by its digest
        (folder / digest.removeprefix("sha256:")).touch()
    done = _run_recipe(registry, repo_name, folder)  # the README's recipe, as written there
    assert done.returncode == 0, done.stderr
    document = served_document(registry.url, repo_name, "1.4.2")
    in_file_order = sorted(digests)  # the shell's * is sorted, and the index keeps the lines' order
    assert [e["digest"] for e in document["manifests"]] == in_file_order
    by_digest = dict(zip(digests, ({"architecture": "amd64", "os": "linux"},
                                   {"architecture": "arm64", "os": "linux", "variant": "v8"},
                                   {"architecture": "arm", "os": "linux", "variant": "v7"})))
    assert entry_platforms(document) == [by_digest[d] for d in in_file_order]  # read from each config
    assert done.stdout.startswith("Digest: sha256:")
    assert tag_digest(registry.url, repo_name, "latest") == tag_digest(registry.url, repo_name, "1.4.2")


def test_image_arguments_and_a_member_index_with_all_its_entries(registry: Registry, repo_name: str) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64", oci=True)
    arm64 = push_image(registry.url, repo_name, "arm64", architecture="arm64", oci=True)
    s390x = push_image(registry.url, repo_name, None, architecture="s390x", oci=True)
    built = push_index(registry.url, repo_name, "buildx", [amd64, arm64], attestations=True)
    result = run_cli("push", "--type", "oci", "from-args", "--target", f"{registry.host}/{repo_name}:multi",
                     f"{registry.host}/{repo_name}:buildx", f"{registry.host}/{repo_name}@{s390x.digest}")
    assert_ok(result)
    document = served_document(registry.url, repo_name, "multi")
    # As a spec member without a platform: every entry of the index, attestations kept, then the image.
    assert [e["digest"] for e in document["manifests"]] == [
        amd64.digest, arm64.digest, *(a.digest for a in built.attestations), s390x.digest]
    assert entry_platforms(document)[-1] == {"architecture": "s390x", "os": "linux"}


def test_images_from_a_file_with_comments_and_arguments_together(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64, arm64, armv7 = _three_arch_builds(registry, repo_name)
    listing = tmp_path / "images.txt"
    listing.write_text(f"# built by CI\n{registry.host}/{repo_name}@{arm64}\n\n  {registry.host}/{repo_name}@{armv7}  \n")
    result = run_cli("push", "from-args", "--target", f"{registry.host}/{repo_name}:multi", "--images-from", str(listing),
                     f"{registry.host}/{repo_name}@{amd64}", "--output", "json")
    assert_ok(result)
    out = json.loads(result.stdout)
    assert [m["digest"] for m in out["members"]] == [amd64, arm64, armv7]  # arguments first, then the file's lines


def test_errors_name_the_argument(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64 = push_image(registry.url, repo_name, None, architecture="amd64").digest
    again = push_image(registry.url, repo_name, None, architecture="amd64", seed=7).digest
    target = f"{registry.host}/{repo_name}:multi"
    duplicate = run_cli("push", "from-args", "--target", target, f"{registry.host}/{repo_name}@{amd64}",
                        f"{registry.host}/{repo_name}@{again}")
    assert_clean_failure(duplicate, "duplicate platform linux/amd64", f"argument 1 {registry.host}/{repo_name}@{amd64}",
                         f"argument 2 {registry.host}/{repo_name}@{again}")
    missing = run_cli("push", "from-args", "--target", target, f"{registry.host}/{repo_name}@{amd64}",
                      f"{registry.host}/{repo_name}:never-built")
    assert_clean_failure(missing, f"argument 2 {registry.host}/{repo_name}:never-built")
    listing = tmp_path / "digests.txt"
    listing.write_text(f"{registry.host}/{repo_name}@{amd64}\n{registry.host}/{repo_name}@sha256:*\n")
    bad_line = run_cli("push", "from-args", "--target", target, "--images-from", str(listing))
    assert_clean_failure(bad_line, f"{listing}:2: ", "sha256:*")
    assert tag_digest(registry.url, repo_name, "multi") is None


def test_an_attestation_or_an_unknown_platform_is_refused_by_argument(registry: Registry, repo_name: str) -> None:
    image = push_image(registry.url, repo_name, "amd64", oci=True)
    built = push_index(registry.url, repo_name, "buildx", [image], attestations=True)
    attestation = built.attestations[0].digest
    odd = push_image(registry.url, repo_name, "odd", architecture="aarch64").digest
    target = f"{registry.host}/{repo_name}:multi"
    refused = run_cli("push", "--type", "oci", "from-args", "--target", target, f"{registry.host}/{repo_name}@{attestation}")
    assert_clean_failure(refused, f"argument 1 {registry.host}/{repo_name}@{attestation}", "unknown/unknown")
    unknown = run_cli("push", "from-args", "--target", target, f"{registry.host}/{repo_name}:odd")
    assert_clean_failure(unknown, f"argument 1 {registry.host}/{repo_name}:odd", "'aarch64'", "arm64", "--allow-unknown-platform")
    assert tag_digest(registry.url, repo_name, "multi") is None
    allowed = run_cli("push", "from-args", "--allow-unknown-platform", "--target", target, f"{registry.host}/{repo_name}:odd")
    assert_ok(allowed)
    assert tag_digest(registry.url, repo_name, "multi") == digest_line(allowed)[0] != odd


def test_usage_errors_exit_2(registry: Registry, repo_name: str) -> None:
    target = f"{registry.host}/{repo_name}:multi"
    image = f"{registry.host}/{repo_name}:amd64"
    cases = [
        (("--target", target), "give the images"),
        (("--target", target, "--platforms", "linux/amd64", image), "use one form"),
        (("--target", target, "--template", "x:OS-ARCH"), "needs both --platforms and --template"),
        (("--target", target, "--images-from", "-", "--tags", ""), ""),
    ]
    for args, fragment in cases[:3]:
        result = run_cli("push", "from-args", *args)
        assert result.exit_code == 2, (args, result.output)
        assert fragment in result.stderr and "Traceback" not in result.output
    empty = run_cli("push", "from-args", *cases[3][0], input="\n# nothing\n")
    assert empty.exit_code == 2 and "give the images" in empty.stderr
    both = run_cli("--username", "u", "--password-stdin", "push", "from-args", "--target", target, "--images-from", "-", input="x\n")
    assert both.exit_code == 2 and "--password-stdin" in both.stderr


def test_repeated_platforms_and_tags_add_up_as_in_manifest_tool(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "linux-amd64")
    push_image(registry.url, repo_name, "linux-arm64", architecture="arm64")
    result = run_cli("push", "from-args", "--platforms", "linux/amd64", "--platforms", "linux/arm64",
                     "--template", f"{registry.host}/{repo_name}:OS-ARCH", "--target", f"{registry.host}/{repo_name}:multi",
                     "--tags", "a", "--tags", "b,c")
    assert_ok(result)
    digest, _ = digest_line(result)
    assert len(served_document(registry.url, repo_name, "multi")["manifests"]) == 2
    assert {tag_digest(registry.url, repo_name, t) for t in ("a", "b", "c")} == {digest}


def test_plan_lock_dry_run_and_locked_push_from_args(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    amd64, arm64, _ = _three_arch_builds(registry, repo_name)
    args = ("--target", f"{registry.host}/{repo_name}:multi", f"{registry.host}/{repo_name}@{amd64}",
            f"{registry.host}/{repo_name}@{arm64}")
    plan = run_cli("plan", "from-args", *args, "--output", "json", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    planned = json.loads(plan.stdout)
    assert planned["specs"][0]["spec"] == "from-args" and planned["specs"][0]["tags"][0]["action"] == "create"
    dry = run_cli("push", "from-args", *args, "--dry-run")
    assert_ok(dry)
    assert tag_digest(registry.url, repo_name, "multi") is None
    lock = tmp_path / "merge.lock"
    assert_ok(run_cli("lock", "from-args", *args, "--lock-file", str(lock)))
    locked = json.loads(lock.read_text())
    assert [m["digest"] for m in locked["members"]] == [amd64, arm64]
    assert_ok(run_cli("lock", "from-args", *args, "--lock-file", str(lock), "--check"))
    other = run_cli("lock", "from-args", *args[:-1], "--lock-file", str(lock), "--check")
    assert other.exit_code == 1 and "member(s)" in other.stdout
    pushed = run_cli("push", "from-args", *args, "--lock-file", str(lock))
    assert_ok(pushed)
    assert digest_line(pushed)[0] == locked["index"]["digest"] == tag_digest(registry.url, repo_name, "multi")
    refused = run_cli("push", "from-args", *args[:-1], "--lock-file", str(lock))
    assert_clean_failure(refused, "disagree")


def test_an_index_argument_with_two_entries_for_one_platform_says_what_to_give(registry: Registry, repo_name: str) -> None:
    first = push_image(registry.url, repo_name, None, oci=True)
    second = push_image(registry.url, repo_name, None, oci=True, seed=9)
    push_index(registry.url, repo_name, "twice", [first, second])
    result = run_cli("push", "--type", "oci", "from-args", "--target", f"{registry.host}/{repo_name}:multi",
                     f"{registry.host}/{repo_name}:twice")
    assert_clean_failure(result, f"argument 1 {registry.host}/{repo_name}:twice is an index with two entries for it",
                         "give instead the digest of the entry to take")
    assert tag_digest(registry.url, repo_name, "multi") is None
