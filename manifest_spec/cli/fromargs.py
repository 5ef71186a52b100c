"""The flags of `push|plan|lock from-args`: an index from the command line instead of a spec file.

Two forms: manifest-tool's (`--platforms` + `--template`, unchanged), and a list of images
(`IMAGE...` and/or `--images-from FILE|-`), each platform read from the image's config.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from manifest_spec.cli.common import options, unknown_platform_option

arguments_options = options(
    click.argument("images", nargs=-1, metavar="[IMAGE]..."),
    click.option("--target", required=True, help="Where to push the index, with its tag."),
    click.option("--images-from", default=None, metavar="FILE",
                 help="Read the images one a line (blank lines and # comments skipped); - reads standard input."),
    click.option("--tags", multiple=True, help="Comma-separated extra tags; repeatable."),
    click.option("--annotations", multiple=True, help="Comma-separated key=value index annotations (OCI only); repeatable."),
    click.option("--platforms", multiple=True,
                 help="manifest-tool's form: comma-separated os/arch[/variant] list, e.g. linux/amd64,linux/arm/v7; repeatable."),
    click.option("--template", default=None, help="manifest-tool's form: source image name with OS, ARCH and VARIANT placeholders."),
    unknown_platform_option,
)


def arguments_spec(ctx: click.Context, images: tuple[str, ...], target: str, images_from: str | None, tags: tuple[str, ...],
                   annotations: tuple[str, ...], platforms: tuple[str, ...], template: str | None,
                   allow_unknown_platform: bool, extra: dict[str, Any] | None = None) -> Any:
    """The flags → the one Spec they describe (api.from_args); usage errors exit 2."""
    from manifest_spec import api
    from manifest_spec.errors import UsageError

    given = bool(images or images_from)
    if template is not None or platforms:
        if given:
            raise click.UsageError("IMAGE arguments and --images-from list the images; --platforms/--template make them: use one form")
        if template is None or not platforms:
            raise click.UsageError("manifest-tool's form needs both --platforms and --template")
    elif not given:
        raise click.UsageError("give the images (IMAGE... or --images-from FILE), or --platforms with --template")
    stdin_text = None
    if images_from == "-":
        if ctx.find_root().obj.get("password_stdin"):
            raise click.UsageError("standard input (-) cannot hold both the image list and the --password-stdin password")
        stdin_text = sys.stdin.read()
    try:
        return api.from_args(target, images, images_from=images_from, stdin_text=stdin_text, tags=tags, annotations=annotations,
                             platforms=platforms, template=template, extra=extra,
                             settings=api.Settings(allow_unknown_platform=allow_unknown_platform))
    except UsageError as e:
        flag, sep, message = str(e).partition(": ")
        if sep and flag in ("--platforms", "--annotations"):
            raise click.BadParameter(message, param_hint=flag) from e  # as these flags always said it
        raise click.UsageError(str(e)) from e
