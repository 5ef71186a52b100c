"""`python -m manifest_spec` and the `manifest-spec` script: the CLI, then a quick exit."""

from __future__ import annotations

import atexit
import os
import sys


def run() -> None:
    """Run the CLI; once it is done and everything is flushed, skip the interpreter's teardown.

    Tearing down the modules a push imports (requests, urllib3, OpenSSL) costs ~50 ms per process,
    a tenth of a push at a distance. Exit handlers still run (logging flushes, temporary CA
    bundles are removed); only module clean-up, which writes nothing, is skipped.
    """
    # Started with a stream closed (`>&-`, `<&-`): Python leaves them None; what would go there
    # goes nowhere instead of failing with a traceback, and the exit code still tells.
    for name, mode in (("stdin", "r"), ("stdout", "w"), ("stderr", "w")):
        if getattr(sys, name) is None:  # a closed stdin reads as empty: `-` is then an empty spec
            setattr(sys, name, open(os.devnull, mode, encoding="utf-8"))
    if sys.argv[1:] == ["--version"]:
        _version()
    _without_http2_metadata()
    from manifest_spec.cli.main import main

    stdout = sys.stdout
    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if sys.stdout is not stdout:
        # click swaps stdout only when it met a closed pipe itself (`--help | true`) and then says 1;
        # end as `cat` does instead.
        from manifest_spec.cli.common import EXIT_STDOUT_CLOSED

        code = EXIT_STDOUT_CLOSED
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")  # what SystemExit("message") prints
        code = 1
    # Nothing is left to fail here: every command flushed its output in cli_common.handle_errors,
    # which also ends a closed stdout (exit 141), and click flushes (and guards) what it prints.
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code or 0)


def _without_http2_metadata() -> None:
    """urllib3 2's `urllib3/http2/__init__.py` imports importlib.metadata (with zipfile, csv, email
    and tempfile: ~9 ms, a tenth of a push's start-up) only to check h2's version when HTTP/2 is
    switched on, which manifest-spec never does; urllib3's connections need just `urllib3.http2.probe`.
    In this process (the CLI's, not a library user's) the package is registered without running
    that `__init__`, its submodules still importable; anything unexpected leaves urllib3 alone."""
    if "urllib3" in sys.modules or "urllib3.http2" in sys.modules:
        return
    import importlib.util
    import types

    try:
        spec = importlib.util.find_spec("urllib3")
    except (ImportError, ValueError):
        return
    places = list(spec.submodule_search_locations or []) if spec else []
    http2 = os.path.join(places[0], "http2") if places else ""
    if not os.path.isfile(os.path.join(http2, "probe.py")):
        return
    package = types.ModuleType("urllib3.http2", "HTTP/2 support of urllib3, its __init__ not run (manifest-spec's CLI)")
    package.__path__ = [http2]
    package.__package__ = "urllib3.http2"
    sys.modules["urllib3.http2"] = package


def _version() -> None:
    """click's own `--version` line, without importing click and the CLI (~50 ms) to print a constant;
    a closed pipe ends as `cat` does, a full disk says so (exit 1), as for every command."""
    from manifest_spec import __version__

    code = 0
    try:
        sys.stdout.write(f"manifest-spec, version {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141  # cli_common.EXIT_STDOUT_CLOSED, not imported for one number
    except OSError as e:
        sys.stderr.write(f"error: cannot write standard output: {e.strerror or e}\n")
        sys.stderr.flush()
        code = 1
    os._exit(code)


if __name__ == "__main__":
    run()
