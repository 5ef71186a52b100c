"""`from-args`: a spec from the command line — manifest-tool's template form, or a list of images.

Both become the same `Spec` a file would, checked by the same rules; each member given as an
argument (or a line of `--images-from`) is named by that argument in every later error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from manifest_spec.errors import InvalidReferenceError, Problem, SpecError, UsageError
from manifest_spec.oci.reference import parse_reference
from manifest_spec.specfile.document import MAX_BYTES, STDIN
from manifest_spec.specfile.spec import KNOWN, RUNNABLE, Spec, spec_from_data

ORIGIN = "from-args"  # how the run names the spec (there is no file)


def split_list(values: Sequence[str]) -> list[str]:
    """Repeatable, comma-separated flag values (`--tags a,b --tags c`), as manifest-tool reads them."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def annotation_pairs(values: Sequence[str]) -> dict[str, str]:
    """`--annotations k=v,k2=v2` (repeatable)."""
    pairs = {}
    for item in split_list(values):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--annotations: {item!r} is not key=value")
        pairs[key] = value
    return pairs


def template_data(platforms: Sequence[str], template: str, target: str) -> list[dict[str, Any]]:
    """manifest-tool's members: OS, ARCH and VARIANT in the template name each platform's image."""
    members = []
    for item in split_list(platforms):
        parts = item.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"--platforms: {item!r} is not os/arch or os/arch/variant")
        os_, arch, variant = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        # manifest-tool's order and count: the first ARCH, then the first OS, then VARIANT.
        image = template.replace("ARCH", arch, 1).replace("OS", os_, 1).replace("VARIANT", variant, 1)
        platform = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
        members.append({"image": image, "platform": platform})
    if not members:
        raise UsageError("--platforms: give at least one os/arch")
    return members


def read_image_list(path: str, stdin_text: str | None = None) -> list[tuple[str, str]]:
    """`--images-from FILE` (`-`: standard input, given as `stdin_text`): one image a line; blank
    lines and `#` comments skipped. Each as (how errors name it, the reference text)."""
    name = "<stdin>" if path == STDIN else path
    if path == STDIN:
        text = stdin_text or ""
    else:
        try:  # a FIFO is fine here: `--images-from <(printf ...)` is the point
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_BYTES + 1)
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError([Problem(name, 0, 0, "", f"cannot read the image list: {getattr(e, 'strerror', None) or e}")]) from e
    if len(text) > MAX_BYTES:
        raise SpecError([Problem(name, 0, 0, "", f"the image list is over {MAX_BYTES} bytes")])
    lines = [(f"{name}:{n}", line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    return [(origin, line) for origin, line in lines if line and not line.startswith("#")]


def images_spec(
    target: str,
    images: Sequence[tuple[str, str]],
    tags: Sequence[str] = (),
    annotations: dict[str, str] | None = None,
    *,
    extra: dict[str, Any] | None = None,
    allow_unknown_platform: bool = False,
) -> Spec:
    """A spec whose members are `images` (origin, reference), each platform read from its config
    (an index: all its entries). A reference that does not parse is named by its argument or line."""
    problems = []
    for origin, text in images:
        try:
            parse_reference(text)
        except InvalidReferenceError as e:
            problems.append(Problem(origin, 0, 0, "", str(e)))
    if problems:
        raise SpecError(problems)
    if not images:
        raise UsageError("give the images: IMAGE arguments, or --images-from FILE (- for standard input)")
    data = arguments_data(target, [{"image": text} for _, text in images], tags, annotations, extra)
    spec = spec_from_data(data, ORIGIN, allow_unknown_platform=allow_unknown_platform)
    members = tuple(
        replace(m, origin=f"{origin} {m.image}", config_platform=RUNNABLE if allow_unknown_platform else KNOWN)
        for m, (origin, _) in zip(spec.members, images)
    )
    return replace(spec, members=members)


def template_spec(
    platforms: Sequence[str], template: str, target: str, tags: Sequence[str] = (), annotations: dict[str, str] | None = None,
    *, extra: dict[str, Any] | None = None, allow_unknown_platform: bool = False,
) -> Spec:
    """manifest-tool's from-args (`--platforms`, `--template`) as a spec."""
    data = arguments_data(target, template_data(platforms, template, target), tags, annotations, extra)
    return spec_from_data(data, ORIGIN, allow_unknown_platform=allow_unknown_platform)


def arguments_data(
    target: str, members: list[dict[str, Any]], tags: Sequence[str], annotations: dict[str, str] | None,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"image": target, "manifests": members}
    if tags:
        data["tags"] = list(tags)
    if annotations:
        data["annotations"] = dict(annotations)
    return {**data, **(extra or {})}
