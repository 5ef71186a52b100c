"""One exchange, one verdict (issue 17): requests waiting for the same token share one exchange,
and when it fails for good every waiter fails at once with that error.

The hung token server is a local socket server that accepts and never answers (support/faults.py
SilentServer): loopback only, as the project's rules say.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from support.clirun import assert_clean_failure, write_spec
from support.clirun import run_cli as cli
from support.faults import SilentServer
from support.images import push_image
from support.registry import Registry
from support.specs import repo_spec
from support.tokenserver import TokenServer

from manifest_spec.registry.deadline import worst_case

ARCHES = ("amd64", "arm64", "ppc64le", "s390x")


def _spec(host: str, repo: str) -> dict[str, Any]:
    return repo_spec(host, repo, "v1", [(arch, arch) for arch in ARCHES])


def test_a_token_server_that_never_answers_fails_every_waiter_once(tmp_path: Path, repo_name: str) -> None:
    """Four members read at once all wait for one token; the token server accepts and never answers.
    One exchange (its tries), then every waiter fails with its error: the token requests the server
    saw are those of one exchange, not one exchange per waiter after the previous one failed."""
    with TokenServer(tmp_path / "tokens") as tokens, SilentServer() as silent:
        with Registry(tokens.registry_config(realm=f"http://{silent.host}/token")) as registry:
            session = tokens.bearer_session([(repo_name, "pull,push")])  # minted here, not asked of the realm
            for arch in ARCHES:
                push_image(registry.url, repo_name, arch, architecture=arch, session=session)
            started = time.monotonic()
            result = cli("--timeout", "2", "push", "from-spec", str(write_spec(tmp_path, _spec(registry.host, repo_name))))
            wall = time.monotonic() - started
        line = assert_clean_failure(result, f"{silent.host} did not answer within 2 s")
        assert "token" in line
        accepted = len(silent.accepted)
    print(f"token hang: {wall:.1f} s, {accepted} token connections: {line}")
    assert accepted <= 5, f"{accepted} token requests: one exchange is at most its 5 tries"
    assert wall < 15, f"{wall:.1f} s"  # the figure; the README's bound for this push is:
    assert wall <= worst_case(2, rounds=5)


def test_after_an_error_the_next_command_in_the_process_logs_again(registry: Registry, repo_name: str) -> None:
    """An error mutes the log lines that would follow it (the last line stays the error); the next
    command run in the same process (the API, a test) hears its own --debug lines again."""
    push_image(registry.url, repo_name, "amd64")
    failed = cli("--debug", "inspect", f"{registry.host}/{repo_name}:missing")
    assert failed.exit_code == 1 and failed.stderr.strip().splitlines()[-1].startswith("error: ")
    muted = [type(f).__name__ for h in logging.getLogger().handlers for f in h.filters]
    assert not logging.getLogger("manifest_spec").isEnabledFor(logging.DEBUG) and "_AfterVerdict" in muted
    again = cli("--debug", "inspect", f"{registry.host}/{repo_name}:amd64")
    assert again.exit_code == 0, again.stderr
    assert logging.getLogger("manifest_spec").isEnabledFor(logging.DEBUG)
    assert "_AfterVerdict" not in [type(f).__name__ for h in logging.getLogger().handlers for f in h.filters]
