"""Commands for reviewable pushes: `plan` and `lock` (from specs or from arguments); cli.main loads them on demand."""

from __future__ import annotations

from typing import Any

import click

from manifest_spec.cli.common import (
    carry_settings,
    exits,
    handle_errors,
    ignore_missing_option,
    index_options,
    load_specs,
    output_choice,
    referrers_options,
    reporter,
    run_settings,
    skip_platform_check_option,
    spec_arguments,
    type_option,
    unknown_platform_option,
    var_option,
)
from manifest_spec.cli.fromargs import arguments_options, arguments_spec

_type_option = type_option("docker or oci, as `push --type` (wins over the spec's type).")
_plan_output_option = click.option(
    "--output", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
    help="text for people, markdown for a pull-request comment, json for machines.")
_detailed_option = click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when a tag would change, 0 when none would (1: error).")


@click.command()
@spec_arguments()
@var_option
@_type_option
@click.option("--locked", is_flag=True, help="Plan what `push from-spec --locked` would push: each SPEC's lock file.")
@ignore_missing_option
@skip_platform_check_option
@unknown_platform_option
@_plan_output_option
@_detailed_option
@referrers_options
@click.pass_context
@handle_errors
@index_options
@exits
def plan(ctx: click.Context, specs: tuple[str, ...], variables: tuple[str, ...], index_type: str | None, locked: bool,
         ignore_missing: bool, skip_platform_check: bool, allow_unknown_platform: bool, output_format: str,
         detailed_exitcode: bool, no_referrers: bool, referrers_types: tuple[str, ...]) -> int:
    """Show what pushing each SPEC would change: per tag create/update/unchanged, per platform. Writes nothing.

    `plan from-args [IMAGE]... --target REF` plans a `push from-args` (see its --help)."""
    if locked and ignore_missing:
        raise click.UsageError("--locked plans exactly the locked digests; --ignore-missing does not go with it")
    loaded, settings = load_specs(specs, variables, allow_unknown_platform)
    return _plan(ctx, loaded, settings, output_format, detailed_exitcode, type_flag=index_type, ignore_missing=ignore_missing,
                 check_platform=not skip_platform_check, locked=locked, carry=carry_settings(no_referrers, referrers_types))


def _plan(ctx: click.Context, loaded: list[Any], settings: Any, output_format: str, detailed_exitcode: bool, **decided: Any) -> int:
    from manifest_spec import api

    plans = api.plan(loaded, run_settings(ctx, loaded, settings, **decided))
    reporter(output_format).plan(plans)
    return 2 if detailed_exitcode and any(p.changes for p in plans) else 0


@click.command("plan from-args")
@arguments_options
@_type_option
@click.option("--lock-file", default=None, metavar="PATH", help="Plan what `push from-args --lock-file PATH` would push.")
@ignore_missing_option
@skip_platform_check_option
@_plan_output_option
@_detailed_option
@referrers_options
@click.pass_context
@handle_errors
@index_options
@exits
def plan_from_args(ctx: click.Context, /, index_type: str | None, lock_file: str | None, ignore_missing: bool,
                   skip_platform_check: bool, output_format: str, detailed_exitcode: bool, no_referrers: bool,
                   referrers_types: tuple[str, ...], **arguments: Any) -> int:
    """Show what `push from-args` with these arguments would change. Writes nothing."""
    if lock_file and ignore_missing:
        raise click.UsageError("--lock-file plans exactly the locked digests; --ignore-missing does not go with it")
    loaded = [arguments_spec(ctx, **arguments)]
    return _plan(ctx, loaded, None, output_format, detailed_exitcode, type_flag=index_type, ignore_missing=ignore_missing,
                 check_platform=not skip_platform_check, locked=bool(lock_file), lock_file=lock_file,
                 carry=carry_settings(no_referrers, referrers_types))


@click.command("lock")
@spec_arguments()
@var_option
@_type_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming what drifted when a SPEC or a member tag moved since its lock.")
@skip_platform_check_option
@unknown_platform_option
@output_choice("text: one line per lock file written (or checked); json: the same as one object.")
@referrers_options
@click.pass_context
@handle_errors
@index_options
@exits
def lock_command(ctx: click.Context, specs: tuple[str, ...], variables: tuple[str, ...], index_type: str | None, check: bool,
                 skip_platform_check: bool, allow_unknown_platform: bool, output_format: str, no_referrers: bool,
                 referrers_types: tuple[str, ...]) -> int:
    """Write SPEC's lock file beside it (SPEC's name + .lock): the exact member digests a push would publish.

    `lock from-args [IMAGE]... --target REF --lock-file PATH` locks a `push from-args` (see its --help)."""
    from manifest_spec.specfile.document import STDIN

    if STDIN in specs:
        raise click.BadParameter("a spec on standard input (-) has no place beside it for a lock file: give its file name",
                                 param_hint="SPEC")
    loaded, settings = load_specs(specs, variables, allow_unknown_platform)
    return _lock(ctx, loaded, settings, check, output_format, type_flag=index_type, check_platform=not skip_platform_check,
                 carry=carry_settings(no_referrers, referrers_types))


@click.command("lock from-args")
@arguments_options
@_type_option
@click.option("--lock-file", required=True, metavar="PATH", help="The lock file to write (or check); arguments have no file to put it beside.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming what drifted when the arguments or a member moved since the lock.")
@skip_platform_check_option
@output_choice("text: one line for the lock file written (or checked); json: the same as one object.")
@referrers_options
@click.pass_context
@handle_errors
@index_options
@exits
def lock_from_args(ctx: click.Context, /, index_type: str | None, lock_file: str, check: bool, skip_platform_check: bool,
                   output_format: str, no_referrers: bool, referrers_types: tuple[str, ...], **arguments: Any) -> int:
    """Write (or --check) the lock of a `push from-args`: the exact member digests it would publish."""
    loaded = [arguments_spec(ctx, **arguments)]
    return _lock(ctx, loaded, None, check, output_format, type_flag=index_type, check_platform=not skip_platform_check,
                 lock_file=lock_file, carry=carry_settings(no_referrers, referrers_types))


def _lock(ctx: click.Context, loaded: list[Any], settings: Any, check: bool, output_format: str, **decided: Any) -> int:
    from manifest_spec import api

    settings = run_settings(ctx, loaded, settings, **decided)
    report = reporter(output_format)
    if check:
        checks = api.check_locks(loaded, settings)
        report.lock_check([(c.spec, c.lock, c.drift) for c in checks])
        return 1 if any(c.drift for c in checks) else 0
    written = api.lock(loaded, settings)
    report.locks([(w.spec, w.lock, w.index) for w in written])
    return 0
