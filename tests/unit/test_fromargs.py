"""`from-args` arguments → a Spec, offline (issue 19): lists as manifest-tool splits them, image
lists with comments, and errors that name the argument or the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from manifest_spec.errors import SpecError, UsageError
from manifest_spec.specfile.fromargs import (
    annotation_pairs,
    images_spec,
    read_image_list,
    split_list,
    template_spec,
)
from manifest_spec.specfile.spec import KNOWN, RUNNABLE


def test_repeated_and_comma_separated_values_add_up() -> None:
    assert split_list(["a", "b, c", " ", "d,"]) == ["a", "b", "c", "d"]
    assert annotation_pairs(["k=v,k2=v=2", "k3="]) == {"k": "v", "k2": "v=2", "k3": ""}
    with pytest.raises(UsageError, match="--annotations: 'nokey' is not key=value"):
        annotation_pairs(["nokey"])


def test_an_image_list_skips_blank_lines_and_comments_and_names_each_line(tmp_path: Path) -> None:
    listing = tmp_path / "digests.txt"
    listing.write_text("# from the build jobs\n\nreg.example/app@sha256:" + "a" * 64 + "\n  reg.example/app:arm64  \n")
    assert read_image_list(str(listing)) == [(f"{listing}:3", "reg.example/app@sha256:" + "a" * 64),
                                             (f"{listing}:4", "reg.example/app:arm64")]
    assert read_image_list("-", "x/y:1\n") == [("<stdin>:1", "x/y:1")]
    with pytest.raises(SpecError, match="cannot read the image list"):
        read_image_list(str(tmp_path))


def test_images_become_members_without_a_platform_named_by_their_argument() -> None:
    spec = images_spec("reg.example/app:1", [("argument 1", "reg.example/app:amd64"), ("list:2", "reg.example/app")],
                       ["latest"], {"k": "v"})
    assert [m.platform for m in spec.members] == [None, None]
    assert [m.origin for m in spec.members] == ["argument 1 reg.example/app:amd64", "list:2 reg.example/app:latest"]
    assert {m.config_platform for m in spec.members} == {KNOWN}
    assert spec.tags == ("latest",) and spec.annotations == (("k", "v"),) and spec.path == "from-args"
    relaxed = images_spec("reg.example/app:1", [("argument 1", "reg.example/app:amd64")], allow_unknown_platform=True)
    assert relaxed.members[0].config_platform == RUNNABLE


def test_bad_references_are_named_by_argument_and_no_images_is_a_usage_error() -> None:
    with pytest.raises(SpecError) as caught:
        images_spec("reg.example/app:1", [("argument 1", "reg.example/app:ok"), ("argument 2", "Reg/App"), ("f:3", "a@sha256:*")])
    assert [str(p).split(":")[0] for p in caught.value.problems] == ["argument 2", "f"]
    with pytest.raises(UsageError, match="give the images"):
        images_spec("reg.example/app:1", [])


def test_the_template_form_is_manifest_tools() -> None:
    spec = template_spec(["linux/amd64", "linux/arm/v7"], "reg.example/app:OS-ARCHVARIANT", "reg.example/app:1")
    assert [str(m.image) for m in spec.members] == ["reg.example/app:linux-amd64", "reg.example/app:linux-armv7"]
    assert [str(m.platform) for m in spec.members] == ["linux/amd64", "linux/arm/v7"]
    with pytest.raises(UsageError, match="--platforms: 'linux' is not os/arch"):
        template_spec(["linux"], "x:OS", "reg.example/app:1")


def _resolution(*labels: tuple[str, dict[str, str]]) -> Any:
    from manifest_spec.oci.manifest import Manifest
    from manifest_spec.oci.reference import parse_reference
    from manifest_spec.push.resolve import Resolution, ResolvedMember
    from manifest_spec.specfile.spec import Member

    ref = parse_reference("reg.example/app:1")
    members = tuple(
        ResolvedMember(i, Member(ref, None), ref, (), (), Manifest(b"{}", "x", "sha256:" + "0" * 64),
                       labels=((what, tuple(sorted(found.items()))),))
        for i, (what, found) in enumerate(labels)
    )
    return Resolution(members, ())


def test_labels_agree_or_the_spec_settles_them_else_every_image_is_named() -> None:
    from dataclasses import replace

    from manifest_spec.errors import VerificationError
    from manifest_spec.push.engine import labels_to_annotations

    spec = replace(images_spec("reg.example/app:1", [("argument 1", "reg.example/app:a")]), label_annotations=("d", "s"))
    agree = _resolution(("amd64", {"d": "x", "s": "y"}), ("arm64", {"d": "x", "s": "y", "other": "z"}))
    assert labels_to_annotations(spec, agree) == (("d", "x"), ("s", "y"))
    differ = _resolution(("amd64", {"d": "x", "s": "y"}), ("arm64", {"d": "w", "s": "y"}), ("s390x", {"s": "y"}))
    with pytest.raises(VerificationError) as caught:
        labels_to_annotations(spec, differ)
    assert "label d: the images disagree (amd64 says 'x'; arm64 says 'w'; s390x has no such label)" in str(caught.value)
    settled = replace(spec, annotations=(("d", "given"),))
    assert labels_to_annotations(settled, differ) == (("s", "y"),)  # the spec's value is not read from the labels
