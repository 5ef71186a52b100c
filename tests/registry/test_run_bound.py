"""A bound for the whole run (issue 17): whatever the fault, a push ends within the README's bound,
`deadline.worst_case(timeout, rounds, MiB)`, with one clear line.

Each fault kind the suite injects is made permanent on the member's manifest GET (or the tag list
for the just-seen 404) at `--timeout 2`; the bound for a push that carries nothing is 5 rounds.
Besides the wall bound, a deterministic property: the number of tries the proxy saw stays within
what the retry window allows (a window of 2 timeouts cannot hold 5 tries that each wait 2 s).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from support.artifacts import push_signature
from support.clirun import assert_clean_failure, run_cli, write_spec
from support.faults import FaultProxy, Reply, drip, error, reset_connections, truncate
from support.images import push_image
from support.registry import Registry
from support.specs import repo_spec, spec

from manifest_spec.registry.deadline import worst_case

TIMEOUT = 2
ROUNDS = 5  # members, configs and child HEADs, mounts, child PUTs, the index (test_engine.py)
AMD64 = {"os": "linux", "architecture": "amd64"}


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # a held proxy thread lets go at the end of the test


def hold(until: threading.Event) -> object:
    """Accept, read the request, and never answer (until the test ends): a hung registry."""

    def fault(reply: Reply) -> Reply:
        until.wait(120)
        return reply

    return fault


FAULTS = {
    # kind: (fault, what the one line says)
    "silent": (None, "did not answer within 2 s"),
    "reset": (None, "reset the connection"),
    "503": (error(503, "UNAVAILABLE", "service unavailable"), "answered HTTP 503"),
    "429 Retry-After 30": (None, "answered HTTP 429"),
    "drip": (drip(1.0), "did not send the whole answer within 2 s"),
    "truncated": (truncate(10), "broke while reading the body"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_every_fault_kind_ends_within_the_bound(
    registry: Registry, repo_name: str, tmp_path: Path, released: threading.Event, kind: str
) -> None:
    push_image(registry.url, repo_name, "amd64")
    fault, says = FAULTS[kind]
    with FaultProxy(registry.host) as proxy:
        member = rf"^/v2/{repo_name}/manifests/amd64$"
        if kind == "silent":
            proxy.inject("GET", member, hold(released))  # type: ignore[arg-type]
        elif kind == "reset":
            reset_connections(proxy, "GET", member, times=1000)
        elif kind == "429 Retry-After 30":
            proxy.inject("GET", member, lambda r: error(429, "TOOMANYREQUESTS", "slow down")(r).with_header("Retry-After", "30"),
                         forward=False)
        else:
            assert fault is not None
            proxy.inject("GET", member, fault)
        the_spec = repo_spec(proxy.host, repo_name, "v1", [("amd64", AMD64)])
        started = time.monotonic()
        result = run_cli("--timeout", str(TIMEOUT), "push", "from-spec", str(write_spec(tmp_path, the_spec)))
        wall = time.monotonic() - started
        tries = proxy.requests("GET").count(f"/v2/{repo_name}/manifests/amd64")
    assert_clean_failure(result, says)
    bound = worst_case(TIMEOUT, ROUNDS)
    print(f"{kind}: {wall:.1f} s (bound {bound:g} s), {tries} tries")
    assert wall <= bound, f"{kind}: {wall:.1f} s over the bound {bound:g} s"
    if kind in ("silent", "drip"):
        assert tries <= 3, f"{tries} tries that each wait {TIMEOUT} s do not fit a window of {2 * TIMEOUT} s"


def test_a_just_seen_tag_list_that_stays_404_ends_within_the_bound(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """The carry's re-reads of a 404 on a just-seen thing live in the same window (4 rounds of 404s would not)."""
    source = f"{repo_name}-src"
    image = push_image(registry.url, source, "amd64", oci=True)
    push_signature(registry.url, source, image)
    with FaultProxy(registry.host) as proxy:
        proxy.inject("GET", rf"^/v2/{source}/tags/list", error(404, "NAME_UNKNOWN", "repository name not known to registry"), forward=False)
        the_spec = spec(f"{proxy.host}/{repo_name}:v1", (f"{proxy.host}/{source}:amd64", AMD64), type="oci")
        started = time.monotonic()
        result = run_cli("--timeout", "1", "push", "from-spec", str(write_spec(tmp_path, the_spec)))
        wall = time.monotonic() - started
        reads = proxy.requests("GET").count(f"/v2/{source}/tags/list")
    assert_clean_failure(result, "404 (not found)", "this run has just read manifests from")
    assert wall <= worst_case(1, rounds=8), f"{wall:.1f} s"
    # One read and 3 again (pauses 0.25, 0.5, 1 s: 1.75 s, inside the window of 2 s), not 4 per caller or per round.
    assert reads == 4, reads
