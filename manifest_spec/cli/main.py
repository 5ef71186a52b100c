"""Command line: parse flags, call the core, map errors to exit codes. The only place that exits."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from typing import Any

import click

from manifest_spec import __version__
from manifest_spec.cli import output
from manifest_spec.cli.common import (
    carry_settings,
    handle_errors,
    ignore_missing_option,
    index_options,
    load_specs,
    open_logs,
    options,
    output_choice,
    output_option,
    parse_vars,
    referrers_options,
    registry_settings,
    reporter,
    run_settings,
    skip_platform_check_option,
    spec_arguments,
    type_option,
    unknown_platform_option,
    var_option,
)
from manifest_spec.cli.fromargs import arguments_options, arguments_spec

MAX_TIMEOUT = 3600.0


class _Seconds(click.FloatRange):
    """1 to MAX_TIMEOUT seconds; FloatRange alone lets nan through (every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if seconds != seconds:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


class _Commands(click.Group):
    """Also offers `plan` and `lock` from cli_review, imported only when asked for (validate stays lean)."""

    LAZY = {"plan": "plan", "lock": "lock_command"}
    FROM_ARGS = {"plan": "plan_from_args", "lock": "lock_from_args"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            from manifest_spec.cli import review as cli_review

            return getattr(cli_review, self.LAZY[name])  # type: ignore[no-any-return]
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """`plan from-args ...` and `lock from-args ...`, as `push from-args` (a spec file of that name: ./from-args)."""
        if len(args) > 1 and args[0] in self.FROM_ARGS and args[1] == "from-args":
            from manifest_spec.cli import review as cli_review

            return f"{args[0]} from-args", getattr(cli_review, self.FROM_ARGS[args[0]]), args[2:]
        return super().resolve_command(ctx, args)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="manifest-spec")
@click.option("--debug", is_flag=True, help="Log every registry request (secrets redacted) to stderr.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--plain-http", is_flag=True, help="Talk to the registry over http instead of https.")
@click.option("--username", envvar="MANIFEST_SPEC_USERNAME", default=None, help="Registry user name [env MANIFEST_SPEC_USERNAME].")
@click.option("--password", default=None, help="Registry password; visible in process lists: prefer --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password (or token) from standard input.")
@click.option("--auth-registry", envvar="MANIFEST_SPEC_AUTH_REGISTRY", default=None, metavar="HOST",
              help="The only registry the --username/--password (or env) credentials are sent to [default: the target's; env MANIFEST_SPEC_AUTH_REGISTRY].")
@click.option("--docker-cfg", default=None, help="Docker config directory or file for credentials [default: $DOCKER_CONFIG or ~/.docker].")
@click.option("--certs-dir", default=None, metavar="DIR", help="Where <host:port>/*.crt CAs and *.cert/*.key client pairs are [default: /etc/docker/certs.d].")
@click.option("--timeout", type=_Seconds(min=1, max=MAX_TIMEOUT), default=60.0, show_default=True,
              help=f"Seconds a registry request may take (plus as much again per MiB moved), 1 to {MAX_TIMEOUT:g}.")
@click.option("--jobs", type=click.IntRange(min=1, max=256), default=64, show_default=True, metavar="N",
              help="Requests in flight at once per registry host; a round of a push that does not fit costs another round trip.")
@click.pass_context
def main(ctx: click.Context, /, debug: bool, **options: Any) -> None:
    """Push multi-platform images (manifest lists / OCI indexes) from a YAML spec."""
    from manifest_spec.scrub import RedactingFormatter

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # tracebacks included: no secret in any log line
        handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    # Only our own loggers at debug: they never log credentials, tokens or query strings.
    logging.getLogger("manifest_spec").setLevel(logging.DEBUG if debug else logging.WARNING)
    open_logs()  # the last command's error muted the log lines that would have followed it
    ctx.obj = {"debug": debug, **options}


@main.command()
@spec_arguments()
@var_option
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@unknown_platform_option
@click.option("--skip-non-specs", is_flag=True,
              help="Skip YAML files without a top-level manifests: key (or a misspelling of it), e.g. a Helm Chart.yaml.")
@handle_errors
def validate(specs: tuple[str, ...], variables: tuple[str, ...], output_format: str, allow_unknown_platform: bool,
             skip_non_specs: bool) -> None:
    """Check spec files offline (- reads standard input): every problem of every file, as FILE:LINE:COL."""
    from manifest_spec import api

    settings = api.Settings(variables=parse_vars(variables), allow_unknown_platform=allow_unknown_platform)
    results = api.validate(specs, settings, skip_non_specs=skip_non_specs)
    reporter(output_format).validation([(r.file, r.problems) for r in results], {r.file for r in results if r.skipped})
    sys.exit(1 if any(r.problems for r in results) else 0)


@main.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of specs, for editors: manifest-spec schema > manifest-spec.schema.json"""
    from manifest_spec.specfile.spec import schema_text

    reporter("text").schema(schema_text())


push_options = options(
    ignore_missing_option,
    skip_platform_check_option,
    click.option("--dry-run", is_flag=True, help="Resolve, verify and build; print the index JSON and its digest; write nothing."),
    click.option("-q", "--quiet", is_flag=True, help="No progress on the terminal (it is drawn only when stderr is one)."),
    referrers_options,
    output_option,
)


@main.group()
@type_option("docker: manifest list (default); oci: OCI image index. Wins over the spec's type.")
@click.pass_context
def push(ctx: click.Context, index_type: str | None) -> None:
    """Push a manifest list / OCI index built from a spec or from arguments."""
    ctx.obj = {**ctx.find_root().obj, "index_type": index_type}


def _run_push(ctx: click.Context, specs: list[Any], settings: Any, *, dry_run: bool, quiet: bool, output_format: str) -> None:
    """The specs pushed (or planned: --dry-run) with `settings` completed by the global flags; reported by --output."""
    from manifest_spec import api
    from manifest_spec.cli import progress

    report = reporter(output_format)
    listener = progress.PushListener(progress.listener_for(sys.stderr, quiet=quiet or dry_run, output_format=output_format))
    try:
        settings = run_settings(ctx, specs, settings, listener=listener)
        if dry_run:
            report.dry_run(api.plan(specs, settings))
            return
        outcomes = api.push(specs, settings)
    finally:
        listener.close()
    if len(outcomes) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error  # one spec: exactly the error line it always had
    report.push(outcomes)
    if any(o.error is not None for o in outcomes):
        sys.exit(1)


@push.command("from-spec")
@spec_arguments("spec_files")
@var_option
@unknown_platform_option
@click.option("--locked", is_flag=True, help="Push exactly the member digests of each spec's lock file; refuse if spec and lock disagree.")
@click.option("--lock-file", default=None, metavar="PATH", help="The lock file for --locked (implies it; one SPEC only) [default: SPEC's name + .lock].")
@push_options
@click.pass_context
@handle_errors
@index_options
def from_spec(ctx: click.Context, spec_files: tuple[str, ...], variables: tuple[str, ...], allow_unknown_platform: bool, locked: bool,
              lock_file: str | None, ignore_missing: bool, skip_platform_check: bool, dry_run: bool, quiet: bool,
              no_referrers: bool, referrers_types: tuple[str, ...], output_format: str) -> None:
    """Push the index each YAML SPEC describes (- reads stdin); several SPECs are one run, all verified before any write."""
    if (locked or lock_file) and ignore_missing:
        raise click.UsageError("--locked pushes exactly the locked digests; --ignore-missing does not go with it")
    if lock_file and len(spec_files) > 1:
        raise click.UsageError("--lock-file names the lock of one spec; with several, --locked uses each SPEC's own lock")
    specs, settings = load_specs(spec_files, variables, allow_unknown_platform)
    settings = _push_settings(ctx, settings, ignore_missing, skip_platform_check, no_referrers, referrers_types,
                              locked=locked or bool(lock_file), lock_file=lock_file)
    _run_push(ctx, specs, settings, dry_run=dry_run, quiet=quiet, output_format=output_format)


def _push_settings(ctx: click.Context, settings: Any, ignore_missing: bool, skip_platform_check: bool, no_referrers: bool,
                   referrers_types: tuple[str, ...], **decided: Any) -> Any:
    """What the push flags decide, on top of the settings the specs were read with (None: from-args)."""
    from manifest_spec import api

    return replace(settings or api.Settings(), type_flag=ctx.obj["index_type"], ignore_missing=ignore_missing,
                   check_platform=not skip_platform_check, carry=carry_settings(no_referrers, referrers_types), **decided)


@push.command("from-args")
@arguments_options
@click.option("--lock-file", default=None, metavar="PATH", help="Push exactly the member digests of this lock (made by `lock from-args`).")
@push_options
@click.pass_context
@handle_errors
@index_options
def from_args(ctx: click.Context, /, lock_file: str | None, ignore_missing: bool, skip_platform_check: bool, dry_run: bool,
              quiet: bool, no_referrers: bool, referrers_types: tuple[str, ...], output_format: str, **arguments: Any) -> None:
    """Push an index of the IMAGEs given (each platform read from its config; an index: all its
    entries), or, as manifest-tool, of images named by --template for each of --platforms."""
    if lock_file and ignore_missing:
        raise click.UsageError("--lock-file pushes exactly the locked digests; --ignore-missing does not go with it")
    spec = arguments_spec(ctx, **arguments)
    settings = _push_settings(ctx, None, ignore_missing, skip_platform_check, no_referrers, referrers_types,
                              locked=bool(lock_file), lock_file=lock_file)
    _run_push(ctx, [spec], settings, dry_run=dry_run, quiet=quiet, output_format=output_format)


@main.command()
@click.argument("reference", metavar="REF")
@click.option("--raw", is_flag=True, help="Print the exact bytes the registry returned.")
@click.option("--to-spec", is_flag=True, help="Print a spec (members by digest, platforms, annotations) that reproduces the index.")
@click.option("--platform", "machine", default=None, metavar="OS/ARCH[/VARIANT][:OSVERSION]",
              help="Print only the digest of the entry a puller on this platform gets (as `crane digest --platform`).")
@output_choice("text: a listing of the index (or image), its entries and layers (with --platform: the digest); "
               "json: the same as one object.")
@click.pass_context
@handle_errors
def inspect(ctx: click.Context, reference: str, raw: bool, to_spec: bool, machine: str | None, output_format: str) -> None:
    """Show a manifest list / index (each entry's platform, digest, size, layers) or an image."""
    from manifest_spec import api

    report, ref = reporter(output_format), api.image_reference(reference)
    if machine is not None:
        from manifest_spec.oci.platforms import parse_platform

        if raw or to_spec:
            raise click.UsageError("--platform goes with neither --raw nor --to-spec")
        try:
            wanted = parse_platform(machine)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--platform") from e
        report.pulled(ref, api.inspect_platform(ref, wanted, registry_settings(ctx, ref.registry)))
    elif to_spec:
        if raw:
            raise click.UsageError("--to-spec and --raw exclude each other")
        if not ref.tag:
            raise click.BadParameter(f"give the tag the spec should push to as well: {ref.name}:TAG@{ref.digest}", param_hint="REF")
        adopted = api.to_spec(ref, registry_settings(ctx, ref.registry))
        for warning in adopted.warnings:
            output.diagnostic(f"warning: {warning}")
        report.to_spec(adopted, reference)
    elif raw:
        report.raw(api.inspect(ref, registry_settings(ctx, ref.registry), layers=False))
    else:
        report.inspect(api.inspect(ref, registry_settings(ctx, ref.registry)))
