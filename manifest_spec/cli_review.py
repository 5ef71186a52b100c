"""Commands for reviewable pushes: `plan`, `lock`, and `inspect --to-spec`; cli.main loads them on demand."""

from __future__ import annotations

import json
from typing import Any, Iterator

import click

from manifest_spec import output
from manifest_spec.cli import carry_settings, client_options, exits, handle_errors, output_option, parse_vars, push_settings, referrers_options

_var_option = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} (wins over the environment).")
_type_option = click.option("--type", "index_type", type=click.Choice(["docker", "oci"]), default=None,
                            help="docker or oci, as `push --type` (wins over the spec's type).")
_unknown_option = click.option("--allow-unknown-platform", is_flag=True, help="Accept os/architecture/variant values not known to be real.")
_skip_option = click.option("--skip-platform-check", is_flag=True, help="Do not compare the spec's platforms with the image configs.")


def _referrers_options(func: Any) -> Any:
    for option in reversed(referrers_options):
        func = option(func)
    return func


def _load_specs(paths: tuple[str, ...], variables: tuple[str, ...], allow_unknown_platform: bool) -> list[Any]:
    from manifest_spec.spec import load_spec

    scope = parse_vars(variables)
    # Every spec is read and validated before the first request: a typo fails fast and offline.
    return [load_spec(path, scope, allow_unknown_platform=allow_unknown_platform) for path in paths]


def _pools(ctx: click.Context, specs: list[Any]) -> Iterator[tuple[Any, Any]]:
    """Each spec with a client pool; flag credentials go to one registry only (see --auth-registry)."""
    from manifest_spec.registry import ClientPool

    options = client_options(ctx, specs[0].image.registry)  # once: --password-stdin reads stdin
    registries = sorted({spec.image.registry for spec in specs})
    if options.credentials and len(registries) > 1 and not ctx.find_root().obj["auth_registry"]:
        raise click.UsageError(
            f"these specs push to {', '.join(registries)}; --username/--password belong to one registry: "
            "name it with --auth-registry, or let the docker config hold the credentials"
        )
    for spec in specs:
        with ClientPool(options) as pool:
            yield spec, pool


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@_var_option
@_type_option
@click.option("--locked", is_flag=True, help="Plan what `push from-spec --locked` would push: each SPEC's lock file.")
@click.option("--ignore-missing", is_flag=True, help="Leave out members that do not exist (with a warning).")
@_skip_option
@_unknown_option
@click.option("--output", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="text for people, markdown for a pull-request comment, json for machines.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when a tag would change, 0 when none would (1: error).")
@_referrers_options
@click.pass_context
@handle_errors
@exits
def plan(ctx: click.Context, specs: tuple[str, ...], variables: tuple[str, ...], index_type: str | None, locked: bool,
         ignore_missing: bool, skip_platform_check: bool, allow_unknown_platform: bool, output_format: str,
         detailed_exitcode: bool, no_referrers: bool, referrers_types: tuple[str, ...]) -> int:
    """Show what pushing each SPEC would change: per tag create/update/unchanged, per platform. Writes nothing."""
    from manifest_spec.lock import lock_path, prepare_spec
    from manifest_spec.plan import plan_prepared

    if locked and ignore_missing:
        raise click.UsageError("--locked plans exactly the locked digests; --ignore-missing does not go with it")
    carry = carry_settings(no_referrers, referrers_types)
    plans = []
    for spec, pool in _pools(ctx, _load_specs(specs, variables, allow_unknown_platform)):
        settings = push_settings(index_type, spec, ignore_missing, skip_platform_check, carry)
        prepared = prepare_spec(spec, settings, pool, lock_path(spec.path) if locked else None, type_flag=index_type)
        plans.append(plan_prepared(prepared, pool(spec.image)))
    output.report_plan(plans, output_format)
    return 2 if detailed_exitcode and any(p.changes for p in plans) else 0


@click.command("lock")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@_var_option
@_type_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 naming what drifted when a SPEC or a member tag moved since its lock.")
@_skip_option
@_unknown_option
@output_option
@_referrers_options
@click.pass_context
@handle_errors
@exits
def lock_command(ctx: click.Context, specs: tuple[str, ...], variables: tuple[str, ...], index_type: str | None, check: bool,
                 skip_platform_check: bool, allow_unknown_platform: bool, output_format: str, no_referrers: bool,
                 referrers_types: tuple[str, ...]) -> int:
    """Write SPEC's lock file beside it (SPEC's name + .lock): the exact member digests a push would publish."""
    from manifest_spec import lock as locks
    from manifest_spec.push import prepare

    carry = carry_settings(no_referrers, referrers_types)
    loaded = _load_specs(specs, variables, allow_unknown_platform)
    if check:
        results = [
            (spec.path, locks.lock_path(spec.path), locks.check_lock(spec, locks.lock_path(spec.path), pool, index_type))
            for spec, pool in _pools(ctx, loaded)
        ]
        output.report_lock_check(results, output_format)
        return 1 if any(drift for _, _, drift in results) else 0
    documents = []
    for spec, pool in _pools(ctx, loaded):
        settings = push_settings(index_type, spec, False, skip_platform_check, carry)
        prepared = prepare(spec, settings, pool)
        document = locks.lock_document(prepared, settings.index_type)
        documents.append((spec.path, locks.lock_path(spec.path), document, prepared.index))
    for _, path, document, _ in documents:  # written only once every spec resolved: all locks or none
        locks.write_lock(path, document)
    output.report_locks([(spec_path, path, index) for spec_path, path, _, index in documents], output_format)
    return 0


def inspect_to_spec(ctx: click.Context, ref: Any, text: str, raw: bool, output_format: str) -> None:
    """`inspect --to-spec REF`: print a spec that reproduces the index REF names."""
    from manifest_spec.registry import ClientPool
    from manifest_spec.tospec import index_to_spec, render_spec

    if raw:
        raise click.UsageError("--to-spec and --raw exclude each other")
    if not ref.tag:
        raise click.BadParameter(f"give the tag the spec should push to as well: {ref.name}:TAG@{ref.digest}", param_hint="REF")
    with ClientPool(client_options(ctx, ref.registry)) as pool:
        adopted = index_to_spec(ref, pool(ref))
    for warning in adopted.warnings:
        output.diagnostic(f"warning: {warning}")
    output.report_to_spec(json.dumps(adopted.data, indent=2) + "\n" if output_format == "json" else render_spec(adopted, text))
