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
    from manifest_spec.cli import main

    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is not None and not isinstance(code, int):
        sys.stderr.write(f"{code}\n")  # what SystemExit("message") prints
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        code = code or 1
    atexit._run_exitfuncs()
    os._exit(code or 0)


if __name__ == "__main__":
    run()
