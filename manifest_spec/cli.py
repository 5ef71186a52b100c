"""Command line: parse flags, call the core, map errors to exit codes. The only place that exits."""

from __future__ import annotations

import functools
import logging
import re
import sys
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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="manifest-spec")
@click.option("--debug", is_flag=True, help="Log every registry request (secrets redacted) to stderr.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--plain-http", is_flag=True, help="Talk to the registry over http instead of https.")
@click.option("--username", default=None, help="Registry user name.")
@click.option("--password", default=None, help="Registry password (visible in process lists).")
@click.option("--docker-cfg", default=None, help="Docker config directory or file for credentials.")
@click.pass_context
def main(ctx: click.Context, debug: bool, **options: Any) -> None:
    """Push multi-platform images (manifest lists / OCI indexes) from a YAML spec."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
