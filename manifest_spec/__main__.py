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


if __name__ == "__main__":
    run()
