"""Randomized fault schedules (issue 17): a fixed set of seeds, each a whole push through the chaos
proxies, checked by reading the real registries afterwards (support/chaosrun.py says what is checked).

A seed that once broke a promise stays here (FOUND) so it stays fixed; `make chaos MINUTES=30`
runs a campaign of new seeds and `tools/chaos.py --seed N` replays one.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import pytest
import requests
from support.chaosrun import PASSWORD, USER, Registries, run_schedule, started
from support.images import ACCEPT_ALL, push_image

FIXED = list(range(1, 31))  # every scenario, every auth (none, Basic, token), --debug and SIGKILLed runs among them
FOUND = [1139, 1418]  # seeds a campaign found breaking a promise (404 on the target .sig with its tag list 404 too), fixed
# Seeds whose schedule restarts the target registry, each at a request every run of it reaches: the signal
# and the request. 5 (a cross-registry copy) and 104 (`push --locked`, token auth) still end in exit 0.
RESTARTS = {5: ("SIGKILL", 8), 12: ("SIGKILL", 5), 104: ("SIGTERM", 10)}


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    with started(tmp_path_factory.mktemp("chaos")) as all_of_them:
        yield all_of_them


@pytest.mark.parametrize("seed", FIXED + FOUND + sorted(set(RESTARTS) - set(FIXED)))
def test_a_fault_schedule_breaks_no_promise(registries: Registries, tmp_path: Path, seed: int) -> None:
    outcome = run_schedule(registries, seed, tmp_path)
    print(f"seed {seed} {outcome.scenario}: exit {outcome.exit_code}{' (killed)' if outcome.killed else ''}"
          f"{' (registry restarted)' if outcome.restarts else ''} in {outcome.wall:.1f} s, faults {dict(outcome.injected)} {outcome.line}")
    assert not outcome.violations, f"seed {seed} ({outcome.scenario}): {outcome.violations}; last line: {outcome.line}"
    if seed in RESTARTS:
        how, at = RESTARTS[seed]
        assert ("target", "RESTART", how, at, "restart") in outcome.faults and outcome.restarts == 1, outcome.faults
        before, after = outcome.registry_pids
        assert before and after and before != after, "the registry process was not replaced"


def test_the_long_lived_registries_serve_after_a_restart(registries: Registries) -> None:
    """A schedule restarts whichever registry it targets: each comes back on its port with what it stored,
    its htpasswd file and its token auth config (realm, issuer, root certificate) in force."""
    assert registries.basic is not None and registries.token is not None and registries.tokens is not None
    token_session = registries.tokens.bearer_session([("restart/kept", "pull,push")])
    basic_session = requests.Session()
    basic_session.auth = (USER, PASSWORD)
    cases = [(registries.plain, requests.Session(), False), (registries.basic, basic_session, True),
             (registries.token, token_session, True)]
    for n, (registry, session, guarded) in enumerate(cases):
        image = push_image(registry.url, "restart/kept", f"v{n}", session=session, seed=f"restart{n}")
        assert registry.process is not None
        before = registry.process.pid
        registry.restart((signal.SIGTERM, signal.SIGKILL)[n % 2])
        assert registry.process is not None and registry.process.pid != before
        kept = session.get(f"{registry.url}/v2/restart/kept/manifests/v{n}", headers={"Accept": ACCEPT_ALL}, timeout=10)
        assert (kept.status_code, kept.headers.get("Docker-Content-Digest")) == (200, image.digest)
        anonymous = requests.get(f"{registry.url}/v2/restart/kept/manifests/v{n}", headers={"Accept": ACCEPT_ALL}, timeout=10)
        assert anonymous.status_code == (401 if guarded else 200)
