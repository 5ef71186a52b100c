"""Command line: parse flags, call the core, map errors to exit codes. The only place that exits."""

from __future__ import annotations

import functools
import logging
import re
import sys
from dataclasses import replace
from typing import Any, Callable, TypeVar

import click

from manifest_spec import __version__, output
from manifest_spec.errors import ManifestSpecError, Problem, SpecError

F = TypeVar("F", bound=Callable[..., Any])
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_vars(values: tuple[str, ...]) -> dict[str, str]:
    """`--var NAME=VALUE` pairs; a malformed one is a usage error (exit 2)."""
    result = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not _VAR_RE.fullmatch(name):
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        result[name] = value
    return result


def handle_errors(func: F) -> F:
    """Turn our errors into one clear line and the documented exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("output_format")
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except ManifestSpecError as e:
            output.report_error(str(e), fmt)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            output.diagnostic("interrupted")
            sys.exit(130)
        except Exception as e:  # a bug: still one line, the traceback only with --debug
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
            output.report_error(f"unexpected {type(e).__name__}: {e} (a bug; --debug shows the traceback)", fmt)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class _Commands(click.Group):
    """Also offers `plan` and `lock` from cli_review, imported only when asked for (validate stays lean)."""

    LAZY = {"plan": "plan", "lock": "lock_command"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY:
            from manifest_spec import cli_review

            return getattr(cli_review, self.LAZY[name])  # type: ignore[no-any-return]
        return super().get_command(ctx, name)


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
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True, help="Seconds to wait for a registry to connect or answer.")
@click.pass_context
def main(ctx: click.Context, /, debug: bool, **options: Any) -> None:
    """Push multi-platform images (manifest lists / OCI indexes) from a YAML spec."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Only our own loggers at debug: they never log credentials, tokens or query strings.
    logging.getLogger("manifest_spec").setLevel(logging.DEBUG if debug else logging.WARNING)
    ctx.obj = {"debug": debug, **options}


@main.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} (wins over the environment).")
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--allow-unknown-platform", is_flag=True, help="Accept os/architecture/variant values not known to be real.")
@handle_errors
def validate(specs: tuple[str, ...], variables: tuple[str, ...], output_format: str, allow_unknown_platform: bool) -> None:
    """Check spec files offline: every problem of every file, as FILE:LINE:COL."""
    from manifest_spec.spec import load_spec

    scope = parse_vars(variables)
    results: list[tuple[str, list[Problem]]] = []
    for path in specs:
        try:
            load_spec(path, scope, allow_unknown_platform=allow_unknown_platform)
            results.append((path, []))
        except SpecError as e:
            results.append((path, e.problems))
    output.report_validation(results, output_format)
    sys.exit(1 if any(problems for _, problems in results) else 0)


def client_options(ctx: click.Context, target_registry: str) -> Any:
    """Registry options from the global flags; flag/env credentials belong to the target's registry."""
    import os

    from manifest_spec.credentials import Credentials
    from manifest_spec.registry import ClientOptions

    obj = ctx.find_root().obj
    username, password = obj["username"], obj["password"]
    if obj["password_stdin"]:
        if password is not None:
            raise click.UsageError("--password and --password-stdin exclude each other")
        password = sys.stdin.read().rstrip("\r\n")
    elif password is not None:
        output.diagnostic("warning: --password shows in process lists; prefer --password-stdin or MANIFEST_SPEC_PASSWORD")
    else:
        password = os.environ.get("MANIFEST_SPEC_PASSWORD")
    if password is not None and not username:
        raise click.UsageError("a password needs --username (or MANIFEST_SPEC_USERNAME)")
    if username and password is None:
        raise click.UsageError(f"--username {username} needs a password: --password-stdin, or MANIFEST_SPEC_PASSWORD")
    if obj["insecure"]:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        output.diagnostic("warning: --insecure: TLS certificates are not verified")
    return ClientOptions(
        plain_http=obj["plain_http"],
        insecure=obj["insecure"],
        credentials=Credentials(username, password) if username and password is not None else None,
        # Never "whatever registry the spec names": a spec edited in a pull request could
        # otherwise send the CI's password to a host of its author's choosing.
        credentials_host=api_host(obj["auth_registry"] or target_registry),
        docker_cfg=obj["docker_cfg"],
        certs_dir=obj["certs_dir"],
        timeout=obj["timeout"],
    )


def api_host(registry: str) -> str:
    from manifest_spec.reference import Reference

    return Reference(registry, "x").api_host


output_option = click.option(
    "--output", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: manifest-tool's `Digest: sha256:<hex> <size>` line; json: one object.",
)
REFERRER_KINDS = ("signature", "attestation", "sbom", "other")
referrers_options = [
    click.option("--no-referrers", is_flag=True, help="Do not carry members' signatures, attestations and SBOMs along."),
    click.option("--referrers-type", "referrers_types", multiple=True, metavar="TYPE",
                 help="Carry only these: signature, attestation, sbom, other, or an artifactType; repeatable."),
]
_push_options = [
    click.option("--ignore-missing", is_flag=True, help="Leave out members that do not exist (with a warning)."),
    click.option("--skip-platform-check", is_flag=True, help="Do not compare the spec's platforms with the image configs."),
    click.option("--dry-run", is_flag=True, help="Resolve, verify and build; print the index JSON and its digest; write nothing."),
    *referrers_options,
    output_option,
]


def carry_settings(no_referrers: bool, referrers_types: tuple[str, ...]) -> Any:
    """`--no-referrers` / `--referrers-type`: a kind word or a media type (`type/subtype`)."""
    from manifest_spec.carry import CarrySettings

    for value in referrers_types:
        if value not in REFERRER_KINDS and "/" not in value:
            raise click.BadParameter(f"{value!r} is neither {', '.join(REFERRER_KINDS)} nor an artifactType such as "
                                     "application/spdx+json", param_hint="--referrers-type")
    if no_referrers and referrers_types:
        raise click.UsageError("--no-referrers carries none; --referrers-type does not go with it")
    return CarrySettings(enabled=not no_referrers, types=frozenset(referrers_types))


def push_options(func: F) -> F:
    for option in reversed(_push_options):
        func = option(func)
    return func


@main.group()
@click.option("--type", "index_type", type=click.Choice(["docker", "oci"]), default=None,
              help="docker: manifest list (default); oci: OCI image index. Wins over the spec's type.")
@click.pass_context
def push(ctx: click.Context, index_type: str | None) -> None:
    """Push a manifest list / OCI index built from a spec or from arguments."""
    ctx.obj = {**ctx.find_root().obj, "index_type": index_type}


def push_settings(type_flag: str | None, spec: Any, ignore_missing: bool, skip_platform_check: bool, carry: Any = None) -> Any:
    from manifest_spec.push import PushSettings

    settings = PushSettings(index_type=type_flag or spec.type or "docker", ignore_missing=ignore_missing, check_platform=not skip_platform_check)
    return settings if carry is None else replace(settings, carry=carry)


def _run_push(ctx: click.Context, spec: Any, ignore_missing: bool, skip_platform_check: bool, output_format: str,
              dry_run: bool, carry: Any, lock_file: str | None = None) -> None:
    from manifest_spec import push as push_module
    from manifest_spec.lock import prepare_spec
    from manifest_spec.registry import ClientPool

    settings = push_settings(ctx.obj["index_type"], spec, ignore_missing, skip_platform_check, carry)
    with ClientPool(client_options(ctx, spec.image.registry)) as pool:
        prepared = prepare_spec(spec, settings, pool, lock_file, type_flag=ctx.obj["index_type"])
        for warning in prepared.resolution.skipped:
            output.diagnostic(f"warning: {warning}")
        if dry_run:
            from manifest_spec.plan import plan_prepared

            output.report_dry_run(plan_prepared(prepared, pool(spec.image)), output_format)
            return
        progress = output.copy_progress if sys.stderr.isatty() else None
        result = push_module.push_index(prepared, pool, progress)
    output.report_push(result, output_format)


@push.command("from-spec")
@click.argument("spec_file", metavar="SPEC")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} (wins over the environment).")
@click.option("--allow-unknown-platform", is_flag=True, help="Accept os/architecture/variant values not known to be real.")
@click.option("--locked", is_flag=True, help="Push exactly the member digests of the spec's lock file; refuse if spec and lock disagree.")
@click.option("--lock-file", default=None, metavar="PATH", help="The lock file for --locked (implies it) [default: SPEC's name + .lock].")
@push_options
@click.pass_context
@handle_errors
def from_spec(ctx: click.Context, spec_file: str, variables: tuple[str, ...], allow_unknown_platform: bool, locked: bool,
              lock_file: str | None, ignore_missing: bool, skip_platform_check: bool, dry_run: bool, no_referrers: bool,
              referrers_types: tuple[str, ...], output_format: str) -> None:
    """Push the index described by a YAML spec."""
    from manifest_spec.lock import lock_path
    from manifest_spec.spec import load_spec

    if (locked or lock_file) and ignore_missing:
        raise click.UsageError("--locked pushes exactly the locked digests; --ignore-missing does not go with it")
    spec = load_spec(spec_file, parse_vars(variables), allow_unknown_platform=allow_unknown_platform)
    lock_file = lock_file or (lock_path(spec_file) if locked else None)
    carry = carry_settings(no_referrers, referrers_types)
    _run_push(ctx, spec, ignore_missing, skip_platform_check, output_format, dry_run, carry, lock_file)


def _split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def spec_data_from_args(platforms: str, template: str, target: str, tags: str | None, annotations: str | None) -> dict[str, Any]:
    """manifest-tool's from-args: OS, ARCH and VARIANT in the template name each platform's image."""
    members = []
    for item in _split_list(platforms):
        parts = item.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise click.BadParameter(f"{item!r} is not os/arch or os/arch/variant", param_hint="--platforms")
        os_, arch, variant = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        # manifest-tool's order and count: the first ARCH, then the first OS, then VARIANT.
        image = template.replace("ARCH", arch, 1).replace("OS", os_, 1).replace("VARIANT", variant, 1)
        platform = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
        members.append({"image": image, "platform": platform})
    if not members:
        raise click.BadParameter("give at least one os/arch", param_hint="--platforms")
    data: dict[str, Any] = {"image": target, "manifests": members}
    if tags:
        data["tags"] = _split_list(tags)
    if annotations:
        pairs = {}
        for item in _split_list(annotations):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{item!r} is not key=value", param_hint="--annotations")
            pairs[key] = value
        data["annotations"] = pairs
    return data


@push.command("from-args")
@click.option("--platforms", required=True, help="Comma-separated os/arch[/variant] list, e.g. linux/amd64,linux/arm/v7.")
@click.option("--template", required=True, help="Source image name with OS, ARCH and VARIANT placeholders.")
@click.option("--target", required=True, help="Where to push the index, with its tag.")
@click.option("--tags", default=None, help="Comma-separated extra tags.")
@click.option("--annotations", default=None, help="Comma-separated key=value index annotations (OCI only).")
@push_options
@click.pass_context
@handle_errors
def from_args(ctx: click.Context, platforms: str, template: str, target: str, tags: str | None, annotations: str | None,
              ignore_missing: bool, skip_platform_check: bool, dry_run: bool, no_referrers: bool, referrers_types: tuple[str, ...],
              output_format: str) -> None:
    """Push an index whose members follow a name template (manifest-tool's from-args)."""
    from manifest_spec.spec import spec_from_data

    data = spec_data_from_args(platforms, template, target, tags, annotations)
    spec = spec_from_data(data, "from-args")
    _run_push(ctx, spec, ignore_missing, skip_platform_check, output_format, dry_run, carry_settings(no_referrers, referrers_types))


@main.command()
@click.argument("reference", metavar="REF")
@click.option("--raw", is_flag=True, help="Print the exact bytes the registry returned.")
@click.option("--to-spec", is_flag=True, help="Print a spec (members by digest, platforms, annotations) that reproduces the index.")
@output_option
@click.pass_context
@handle_errors
def inspect(ctx: click.Context, reference: str, raw: bool, to_spec: bool, output_format: str) -> None:
    """Show a manifest list / index (each entry's platform, digest, size, layers) or an image."""
    from manifest_spec.describe import describe
    from manifest_spec.reference import parse_reference
    from manifest_spec.registry import ClientPool

    ref = parse_reference(reference)
    if not ref.tag and not ref.digest:
        ref = ref.with_tag("latest")
    if to_spec:
        from manifest_spec.cli_review import inspect_to_spec

        inspect_to_spec(ctx, ref, reference, raw, output_format)
        return
    with ClientPool(client_options(ctx, ref.registry)) as pool:
        description = describe(ref, pool(ref), with_layers=not raw)
    output.report_inspect(description, output_format, raw)


def exits(func: F) -> F:
    """For commands defined in cli_review: the int they return is the exit status (exiting stays here)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sys.exit(func(*args, **kwargs))

    return wrapper  # type: ignore[return-value]
