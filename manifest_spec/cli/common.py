"""What every command shares: flag parsing helpers, registry options, run settings, error mapping.

cli.py (the click group and its commands) and cli_review.py (plan, lock) both import this, so
neither imports the other's module at load time.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from dataclasses import replace
from typing import Any, Callable, NoReturn, Optional, TypeVar

import click

from manifest_spec.cli import output
from manifest_spec.errors import BatchError, ManifestSpecError

F = TypeVar("F", bound=Callable[..., Any])
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXIT_INTERRUPTED = 130  # 128 + SIGINT (Ctrl-C)
EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE: what the shell shows for `cat` in the same place


class _SpecFile(click.Path):
    """SPEC arguments: the shell completes file names; `-` is standard input. Nothing else is
    checked here: the spec reader says what is wrong with a path, in one line for every command."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from manifest_spec.specfile.document import (
            STDIN,  # here, not at load: `inspect` needs no YAML
        )

        root = ctx.find_root().obj if ctx else None
        if value == STDIN and root and root.get("password_stdin"):
            self.fail("standard input (-) cannot hold both the spec and the --password-stdin password: give the spec's file name", param, ctx)
        return super().convert(value, param, ctx)


SPEC_FILE = _SpecFile(allow_dash=True, readable=False)


def _stdin_once(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    from manifest_spec.specfile.document import STDIN

    if values.count(STDIN) > 1:
        raise click.BadParameter("standard input (-) holds one spec: give - at most once", ctx, param)
    return values


def spec_arguments(name: str = "specs") -> Callable[[F], F]:
    """The SPEC... arguments of every command that reads specs."""
    return click.argument(name, nargs=-1, required=True, metavar="SPEC...", type=SPEC_FILE, callback=_stdin_once)


def parse_vars(values: tuple[str, ...]) -> dict[str, str]:
    """`--var NAME=VALUE` pairs; a malformed one is a usage error (exit 2)."""
    result = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not _VAR_RE.fullmatch(name):
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        result[name] = value
    return result


def reporter(fmt: Optional[str]) -> output.Reporter:
    """The reporter for `--output FMT` (text when a command has no --output)."""
    if fmt == "json":
        from manifest_spec.cli.jsonout import JsonReporter

        return JsonReporter()
    return output.MarkdownReporter() if fmt == "markdown" else output.Reporter()


class _AfterVerdict(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("manifest_spec") or record.levelno >= logging.CRITICAL


def open_logs() -> None:
    """A command starts: its log lines are heard again (in-process callers run several commands)."""
    for handler in logging.getLogger().handlers:
        for verdict in [f for f in handler.filters if isinstance(f, _AfterVerdict)]:
            handler.removeFilter(verdict)


def _quiet_logs() -> None:
    """The verdict is out: requests still ending in the background (every waiter of a failed token
    exchange fails at once) log nothing after it, so the error stays the last line, with --debug too.
    The level stops new lines; the filter those already on their way; taking each handler's lock once
    lets a line being written finish before the error is."""
    logging.getLogger("manifest_spec").setLevel(logging.CRITICAL)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _AfterVerdict) for f in handler.filters):
            handler.addFilter(_AfterVerdict())
        handler.acquire()
        handler.release()


def handle_errors(func: F) -> F:
    """The one boundary between errors and exit codes: each `ManifestSpecError` becomes one clear
    line and the exit code its class names (errors.py); click's usage errors exit 2; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("output_format")
        try:
            try:
                return func(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a reader gone away (`| head -1`) shows here, not at exit
        except BrokenPipeError:
            _stdout_closed()
        except OSError as e:
            if not output.is_stdout_failure(e):
                raise_unexpected(e, fmt)
            # A full disk (`> /dev/full`): what was promised on stdout did not arrive; say so.
            output.drop_stdout()
            reporter(None).error(f"cannot write standard output: {e.strerror or e}")
            sys.exit(1)
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except ManifestSpecError as e:  # each class names its exit code (errors.py)
            _quiet_logs()
            if isinstance(e, BatchError):  # several specs failing: one line each, naming its file
                reporter(fmt).failures([(path, str(error)) for path, error in e.failures])
            else:
                reporter(fmt).error(str(e))
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            output.diagnostic("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except Exception as e:  # a bug: still one line, the traceback only with --debug
            raise_unexpected(e, fmt)

    return wrapper  # type: ignore[return-value]


def raise_unexpected(e: BaseException, fmt: Optional[str]) -> NoReturn:
    """A bug: still one line, the traceback only with --debug."""
    logging.getLogger(__name__).debug("unexpected error", exc_info=e)
    reporter(fmt).error(f"unexpected {type(e).__name__}: {e} (a bug; --debug shows the traceback)")
    sys.exit(1)


def _stdout_closed() -> NoReturn:
    """The reader of stdout went away: stop quietly, as `cat` does (no message, no traceback)."""
    # Python would flush the rest at exit and complain; whatever is left goes nowhere instead.
    output.drop_stdout()
    sys.exit(EXIT_STDOUT_CLOSED)


_HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def client_options(ctx: click.Context, target_registry: str) -> Any:
    """Registry options from the global flags; flag/env credentials belong to the target's registry."""
    from manifest_spec.registry.client import ClientOptions
    from manifest_spec.registry.credentials import Credentials

    obj = ctx.find_root().obj
    username, password = _flag_credentials(obj)
    auth_registry = obj["auth_registry"]
    if auth_registry is not None and not _HOST_RE.fullmatch(auth_registry):
        # Empty (an unset CI variable) would mean "every registry": the protection silently off.
        raise click.UsageError(
            f"--auth-registry (or MANIFEST_SPEC_AUTH_REGISTRY) {auth_registry!r} is not HOST or HOST:PORT, "
            "e.g. registry.example.com or 127.0.0.1:5000"
        )
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


def _flag_credentials(obj: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """--username and the password: --password-stdin, --password (with a warning) or the environment; UTF-8 only."""
    username, password = obj["username"], obj["password"]
    if obj["password_stdin"]:
        if password is not None:
            raise click.UsageError("--password and --password-stdin exclude each other")
        password = sys.stdin.read().rstrip("\r\n")
    elif password is not None:
        output.diagnostic("warning: --password shows in process lists; prefer --password-stdin or MANIFEST_SPEC_PASSWORD")
    else:
        password = os.environ.get("MANIFEST_SPEC_PASSWORD")
    for name, value in (("user name", username), ("password", password)):
        try:
            (value or "").encode("utf-8")
        except UnicodeEncodeError:
            raise click.UsageError(f"the {name} is not valid UTF-8; registries take UTF-8 credentials only") from None
    return username, password


def api_host(registry: str) -> str:
    from manifest_spec.oci.reference import Reference

    return Reference(registry, "x").api_host


def output_choice(help_text: str) -> Callable[[F], F]:
    """`--output text|json`, with help saying what text means for this command."""
    return click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help=help_text)


output_option = output_choice("text: manifest-tool's `Digest: sha256:<hex> <size>` line; json: one object.")


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator, in the order given (as if written one above the other)."""

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


# The options more than one command takes, each written once.
var_option = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set ${NAME} (wins over the environment).")
unknown_platform_option = click.option("--allow-unknown-platform", is_flag=True,
                                       help="Accept os/architecture/variant values not known to be real.")
skip_platform_check_option = click.option("--skip-platform-check", is_flag=True,
                                          help="Do not compare the spec's platforms with the image configs.")
ignore_missing_option = click.option("--ignore-missing", is_flag=True, help="Leave out members that do not exist (with a warning).")


def type_option(help_text: str) -> Callable[[F], F]:
    """`--type docker|oci`, with help saying how it reads for this command."""
    return click.option("--type", "index_type", type=click.Choice(["docker", "oci"]), default=None, help=help_text)


referrers_options = options(
    click.option("--no-referrers", is_flag=True, help="Do not carry members' signatures, attestations and SBOMs along."),
    click.option("--referrers-type", "referrers_types", multiple=True, metavar="TYPE",
                 help="Carry only these: signature, attestation, sbom, other, or an artifactType; repeatable."),
)


def carry_settings(no_referrers: bool, referrers_types: tuple[str, ...]) -> Any:
    """`--no-referrers` / `--referrers-type`: a kind word or a media type (`type/subtype`)."""
    from manifest_spec.carry.settings import CarrySettings

    if referrers_types:  # the carry code loads only for a push that carries from elsewhere
        from manifest_spec.carry.referrers import KINDS
    for value in referrers_types:
        if value not in KINDS and "/" not in value:
            raise click.BadParameter(f"{value!r} is neither {', '.join(KINDS)} nor an artifactType such as "
                                     "application/spdx+json", param_hint="--referrers-type")
    if no_referrers and referrers_types:
        raise click.UsageError("--no-referrers carries none; --referrers-type does not go with it")
    return CarrySettings(enabled=not no_referrers, types=frozenset(referrers_types))


_INDEX_CHOICES = "manifest_spec.index_choices"


def index_options(func: F) -> F:
    """`--annotation-from-label LABEL` and `--attestations keep|drop`, for every command that builds
    an index; kept in the context for run_settings, so the commands' own signatures stay as they are."""

    @functools.wraps(func)
    def wrapper(*args: Any, label_annotations: tuple[str, ...], attestations: Optional[str], **kwargs: Any) -> Any:
        if any(not label for label in label_annotations):
            raise click.BadParameter("a label name must not be empty", param_hint="--annotation-from-label")
        choices = {"label_annotations": tuple(dict.fromkeys(label_annotations)), "attestations": attestations}
        click.get_current_context().meta[_INDEX_CHOICES] = choices
        return func(*args, **kwargs)

    wrapper = click.option("--attestations", type=click.Choice(["keep", "drop"]), default=None,
                           help="keep (default) or drop the unknown/unknown attestation entries of member indexes; wins over the spec.")(wrapper)
    wrapper = click.option("--annotation-from-label", "label_annotations", multiple=True, metavar="LABEL",
                           help="Copy this label of the images' configs into the index annotations (OCI only); repeatable.")(wrapper)
    return wrapper  # type: ignore[return-value]


def registry_settings(ctx: click.Context, registry: str, settings: Any = None, **decided: Any) -> Any:
    """`settings` (None: api.Settings()) completed by the global flags: registry options (--password-stdin
    reads stdin; flag credentials belong to `registry`, see --auth-registry) and --jobs; and `decided`."""
    from manifest_spec import api

    options = client_options(ctx, registry)
    return replace(settings or api.Settings(), jobs=ctx.find_root().obj["jobs"], client=options, **decided)


def run_settings(ctx: click.Context, specs: list[Any], settings: Any = None, **decided: Any) -> Any:
    """The api.Settings of one run (the one its specs were loaded with, completed): flag credentials
    for one registry only. Progress is the push commands' own: they pass `listener=` and close it."""
    settings = registry_settings(ctx, specs[0].image.registry, settings, **{**ctx.meta.get(_INDEX_CHOICES, {}), **decided})
    registries = sorted({spec.image.registry for spec in specs})
    if settings.client.credentials and len(registries) > 1 and not ctx.find_root().obj["auth_registry"]:
        raise click.UsageError(
            f"these specs push to {', '.join(registries)}; --username/--password belong to one registry: "
            "name it with --auth-registry, or let the docker config hold the credentials"
        )
    return settings


def load_specs(paths: tuple[str, ...], variables: tuple[str, ...], allow_unknown_platform: bool) -> tuple[list[Any], Any]:
    """Every spec read and validated before the first request: a typo fails fast, offline, with all
    problems. Also the api.Settings they were read with, for run_settings to complete."""
    from manifest_spec import api

    settings = api.Settings(variables=parse_vars(variables), allow_unknown_platform=allow_unknown_platform)
    return api.load(paths, settings), settings


def exits(func: F) -> F:
    """For commands defined in cli_review: the int they return is the exit status (exiting stays here)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sys.exit(func(*args, **kwargs))

    return wrapper  # type: ignore[return-value]
