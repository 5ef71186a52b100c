"""`make demo`: a throwaway registry, small per-arch images, then manifest-spec on specs/*.yaml.

Run from the repository root with the project's virtualenv and the tests' `support` package:
`PYTHONPATH=tests .venv/bin/python tools/demo.py`. Nothing outside a temporary directory is
touched; the registry stops when the demo ends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# tests/support: on the path by PYTHONPATH=tests, as `make demo` runs this
from support.artifacts import push_attestation, push_sbom, push_signature
from support.images import push_image
from support.registry import Registry

from manifest_spec.specfile.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
TOOL = shutil.which("manifest-spec", path=str(Path(sys.executable).parent)) or "manifest-spec"


def run(*args: str, expect: int = 0) -> None:
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"\n$ manifest-spec {shown}", flush=True)
    result = subprocess.run([TOOL, *args])
    if result.returncode != expect:
        raise SystemExit(f"demo: `manifest-spec {shown}` exited {result.returncode}, not {expect}")
    if expect:
        print(f"(exit {result.returncode}, as it should)", flush=True)


def main() -> None:
    specs = sorted((ROOT / "specs").glob("*.yaml"))
    with Registry() as registry:
        print(f"demo: throwaway registry (docker-registry) on {registry.url}")
        variables = {"REGISTRY": registry.host}
        # The per-arch images a CI build would have pushed: one tiny image per spec member,
        # with the platform its config must carry (manifest-spec checks it).
        for seed, path in enumerate(specs):
            spec = load_spec(str(path), variables)
            for member in spec.members:
                p = member.platform
                assert p is not None, f"{path}: demo specs name every platform"
                push_image(
                    registry.url, member.image.repository, member.image.tag,
                    os=p.os, architecture=p.architecture, variant=p.variant or None,
                    os_version=p.os_version or None, os_features=list(p.os_features) or None,
                    oci=spec.type == "oci", seed=f"{seed}-{member.image}",
                )
            print(f"demo: pushed {len(spec.members)} per-arch images for {path.name}")
        var = f"REGISTRY={registry.host}"
        run("validate", "--var", var, *[str(p.relative_to(ROOT)) for p in specs])
        for path in specs:
            run("--plain-http", "push", "from-spec", "--var", var, str(path.relative_to(ROOT)))
        first = load_spec(str(specs[0]), variables)
        run("--plain-http", "inspect", str(first.image))
        pi = load_spec(str(ROOT / "specs" / "raspberry-pi.yaml"), variables)
        run("--plain-http", "inspect", str(pi.image.with_tag(pi.tags[0])))
        with tempfile.TemporaryDirectory() as work:
            show_mistakes(Path(work), registry.host)
            show_review(Path(work), registry.host)
            show_supply_chain(Path(work), registry)
    print("\ndemo: done; the registry is stopped and its storage removed")


def show_mistakes(work: Path, host: str) -> None:
    """What manifest-tool would push silently: a typo (the platform vanishes), a uname name,
    and an arm64 entry that points at an amd64 image."""
    print("\ndemo: two mistakes in a spec, each reported with its line")
    bad = work / "bad.yaml"
    bad.write_text(
        f"image: {host}/team/app:1.4.3\n"
        "manifests:\n"
        f"  - image: {host}/team/app:1.4.2-amd64\n"
        "    platform: {os: linux, architecure: amd64}\n"
        f"  - image: {host}/team/app:1.4.2-arm64\n"
        "    platform: {os: linux, architecture: aarch64}\n"
    )
    run("validate", str(bad), expect=1)
    print("\ndemo: a spec that passes validation but names the wrong image for arm64")
    wrong = work / "wrong.yaml"
    wrong.write_text(
        f"image: {host}/team/app:1.4.3\n"
        "manifests:\n"
        f"  - image: {host}/team/app:1.4.2-amd64\n"
        "    platform: {os: linux, architecture: arm64}\n"
    )
    run("--plain-http", "push", "from-spec", str(wrong), expect=1)


def show_review(work: Path, host: str) -> None:
    """The review workflow: lock the spec, plan against the registry, push exactly the lock."""
    spec = work / "app.yaml"
    shutil.copy(ROOT / "specs" / "app.yaml", spec)
    var = f"REGISTRY={host}"
    print("\ndemo: the review workflow on a copy of specs/app.yaml (already pushed above)")
    run("--plain-http", "lock", "--var", var, str(spec))
    run("--plain-http", "lock", "--check", "--var", var, str(spec))
    run("--plain-http", "plan", "--var", var, str(spec))
    run("--plain-http", "push", "from-spec", "--locked", "--var", var, str(spec))


def show_supply_chain(work: Path, registry: Registry) -> None:
    """Signatures, an attestation and an SBOM made where CI built the images travel with them."""
    print("\ndemo: per-arch images signed (cosign) and given an SBOM (oras) in ci/app, combined into team/signed")
    members = []
    for arch in ("amd64", "arm64"):
        image = push_image(registry.url, "ci/app", arch, architecture=arch, oci=True, seed="signed")
        push_signature(registry.url, "ci/app", image)  # cosign's sha256-<hex>.sig tag
        push_attestation(registry.url, "ci/app", image, referrer=True)  # an OCI 1.1 referrer
        push_sbom(registry.url, "ci/app", image, referrer=True)
        members.append(f"  - image: {registry.host}/ci/app:{arch}\n    platform: {{os: linux, architecture: {arch}}}\n")
    spec = work / "signed.yaml"
    spec.write_text(f"image: {registry.host}/team/signed:1.0\ntype: oci\nmanifests:\n" + "".join(members))
    run("--plain-http", "plan", str(spec))
    run("--plain-http", "push", "from-spec", str(spec))


if __name__ == "__main__":
    main()
