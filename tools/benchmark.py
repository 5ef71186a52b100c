"""Benchmark: whole processes of manifest-spec and of its peers, against the real registry behind a delaying proxy.

    PYTHONPATH=tests .venv/bin/python tools/benchmark.py [--latency 0,5,50] [--runs 5] [--no-peers] [--growth] [--baseline COMMIT]

Scenarios (issue 8): a: 10 platforms + 3 extra tags, members in the target repository, first
push; b: the same index again (nothing to write); c: 10 platforms whose members live in other
repositories of the registry (mounts); d: 20 specs x 4 platforms (manifest-spec: one process;
manifest-tool: one per spec). The proxy adds each `--latency` (milliseconds) to every request:
0 and 5 are a CI runner beside its registry, 50 one across a continent. Peers (benchpeers.py)
run interleaved with manifest-spec, the same scenarios in the same minute: manifest-tool v2,
crane `index append`, buildah `manifest`, the docker CLI's `manifest` (through a TLS front: it
will not use plain HTTP). Per scenario and tool: wall (median, min-max), CPU, requests, sequential
depth (the longest chain of requests each sent after the previous one was answered), peak RSS,
exec -> first request, and the index digest (manifest-tool's must equal ours byte for byte).
`--growth` adds the growth curves (growth.py): N specs of 4 platforms, one spec of M members.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# benchpeers: beside this file (the script's folder); support: tests/support, by PYTHONPATH=tests as `make benchmark` runs this
import benchpeers
from benchpeers import (
    MANIFEST_TOOL,
    Push,
    install,
    install_commit,
    manifest_spec,
    peers,
    run_sequence,
)
from support.faults import FaultProxy, sequential_depth
from support.registry import Registry
from support.scenarios import EXTRA_TAGS, seed_members, spec_data, write
from support.tls import make_pki
from support.tlsfront import TLSFront

# As installed: pip compiles bytecode, so the processes may write and use it here as well.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"HOME": tempfile.gettempdir()}
OURS = "manifest-spec"
# Of manifest-tool's wall time, per (scenario, latency in ms): issue 8's goals at 50 ms, issue 18's nearer.
GOALS = {("a", 50): 0.25, ("b", 50): 0.20, ("c", 50): 0.15, ("d", 50): 0.07, ("a", 5): 0.35, ("c", 5): 0.30, ("a", 0): 1.0}
LIMITS = {"a": 4, "b": 2, "c": 5, "d": 4}
NAMES = {"a": "a: 10 platforms + 3 tags, first push", "b": "b: the same again", "c": "c: 10 platforms from other repos (mounts)",
         "d": "d: 20 specs × 4 platforms"}


@dataclass
class Figures:
    walls: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    requests: str = ""
    digests: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


@dataclass
class Bench:
    registry: Registry
    proxy: FaultProxy
    work: Path
    members: dict[str, list[tuple[str, dict[str, str]]]]
    results: dict[tuple[int, str, str], Figures] = field(default_factory=dict)

    def pushes(self, scenario: str, key: str) -> list[Push]:
        """Fresh targets for this tool, run and latency (`key`): every push but b's is a first push."""
        if scenario == "d":
            return [self._push(f"bench/d{n}", f"bench/d{n}:v1-{key}", ["latest-" + key], self.members[f"d{n}"], f"d{n}-{key}") for n in range(20)]
        # c: a new target repository every time, so its children are copied in every time (a first push).
        repo = f"bench/c/app-{key}" if scenario == "c" else "bench/a"
        tags = [f"{t}-{key}" for t in EXTRA_TAGS]
        return [self._push(repo, f"{repo}:v1-{key}", tags, self.members[scenario], f"{scenario}-{key}")]

    def _push(self, repo: str, target: str, tags: list[str], members: list[tuple[str, dict[str, str]]], name: str) -> Push:
        host = self.proxy.host
        spec = write(self.work / f"{name}.yaml", spec_data(host, target, members, tags))
        return Push(f"{host}/{target}", [f"{t}" for t in tags], [f"{host}/{ref}" for ref, _ in members], spec)

    def measure(self, latency: int, scenario: str, tool: str, commands: list[list[str]], pushes: list[Push]) -> None:
        figures = self.results.setdefault((latency, scenario, tool), Figures())
        self.proxy.forget()
        started_at = _now()
        cost = run_sequence(commands, ENV)
        timings = list(self.proxy.timings)
        if cost.errors:
            figures.errors.append(cost.errors[0])
            return
        figures.walls.append(cost.wall)
        figures.cpu.append(cost.cpu)
        figures.rss.append(cost.rss_mb)
        figures.depths.append(sequential_depth(timings))
        if timings:
            figures.first.append(min(t.start for t in timings) - started_at)
        figures.requests = ", ".join(f"{n} {m}" for m, n in sorted(collections.Counter(t.method for t in timings).items()))
        figures.digests.add(self.digest_of(pushes[0]))

    def digest_of(self, push: Push) -> str:
        from support.clirun import tag_digest

        repo, tag = push.target.split("/", 1)[1].rsplit(":", 1)
        return tag_digest(self.registry.url, repo, tag) or "none"


def _now() -> float:
    import time

    return time.monotonic()


def seed(registry: Registry) -> dict[str, list[tuple[str, dict[str, str]]]]:
    members = {"a": seed_members(registry.url, "bench/a", 10), "c": seed_members(registry.url, "bench/c", 10, own_repos=True)}
    members.update({f"d{n}": seed_members(registry.url, f"bench/d{n}", 4) for n in range(20)})
    return members


def run_round(bench: Bench, latency: int, run: int, tools: list[tuple[str, Callable[[list[Push]], list[list[str]]], bool]]) -> None:
    """a, b, c, d once for every tool, interleaved: load moves every tool's figures alike."""
    for scenario in ("a", "b", "c", "d"):
        for name, commands, tls in tools:
            if scenario == "d" and not name.startswith((OURS, "manifest-tool")):
                continue  # 20 specs x 8 processes each would take minutes per run
            key = f"{_slug(name)}-{latency}-{run}"
            pushes = bench.pushes("a" if scenario == "b" else scenario, key)
            bench.measure(latency, scenario, name, commands(pushes), pushes)


def _slug(name: str) -> str:
    return name.split()[0].replace("-", "").replace("@", "-")  # part of a tag: no '@'


def startup(runs: int) -> list[str]:
    """Whole-process figures that need no registry: the interpreter alone, --version, validate."""
    lines = []
    for label, command in [
        ("python -c pass", [benchpeers.PYTHON[0], "-c", "pass"]),
        # The floors set by the libraries it is built on: validate parses flags and reads YAML; a push also speaks HTTP.
        ("python -c 'import click, yaml'", [benchpeers.PYTHON[0], "-c", "import click, yaml"]),
        ("python -c 'import click, yaml, urllib3'", [benchpeers.PYTHON[0], "-c", "import click, yaml, urllib3"]),
        ("manifest-spec --version", [benchpeers.PYTHON[0], "-m", "manifest_spec", "--version"]),
        ("manifest-spec validate (one spec)", [benchpeers.PYTHON[0], "-m", "manifest_spec", "validate", str(benchpeers.ROOT / "specs" / "app.yaml")]),
        ("manifest-tool --version", [str(MANIFEST_TOOL), "--version"]),
    ]:
        if not Path(command[0]).is_file():
            continue
        walls = []
        for _ in range(runs * 3):
            cost = run_sequence([command], ENV)
            walls.append(cost.wall)
        lines.append(f"{label}: {statistics.median(walls) * 1000:.0f} ms (min {min(walls) * 1000:.0f})")
    return lines


def _med(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    return f"{statistics.median(values) * scale:.{digits}f}" if values else "–"


def report(bench: Bench, latencies: list[int], tools: list[str], skipped: dict[str, str]) -> None:
    for latency in latencies:
        print(f"\n{latency} ms added per request, whole processes, median of the runs (min–max)\n")
        print("| scenario | tool | wall | × of manifest-tool (goal) | CPU | requests | depth (limit) | peak RSS | exec → 1st request | index |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for scenario in ("a", "b", "c", "d"):
            ours = bench.results.get((latency, scenario, OURS))
            reference = bench.results.get((latency, scenario, "manifest-tool"))
            for tool in tools:
                figures = bench.results.get((latency, scenario, tool))
                if figures is None:
                    continue
                if figures.errors and not figures.walls:
                    print(f"| {NAMES[scenario]} | {tool} | failed: {figures.errors[0][:160]} |||||||| ")
                    continue
                ratio = ""
                if reference and reference.walls and figures.walls:
                    value = statistics.median(figures.walls) / statistics.median(reference.walls)
                    goal = GOALS.get((scenario, latency)) if tool == OURS else None
                    ratio = f"{value:.2f}" + (f" (≤ {goal:.2f} {'met' if value <= goal else 'NOT met'})" if goal else "")
                same = "–"
                if ours and ours.digests and figures.digests:
                    same = "ours" if tool == OURS else ("same" if figures.digests == ours.digests else "differs")
                    if len(figures.digests) > 1:
                        same += f" ({len(figures.digests)} digests)"
                print(f"| {NAMES[scenario]} | {tool} | {_med(figures.walls)} s ({min(figures.walls):.2f}–{max(figures.walls):.2f}) | {ratio} | "
                      f"{_med(figures.cpu, 1000, 0)} ms | {figures.requests} | {_med([float(d) for d in figures.depths], 1, 0)} ({LIMITS[scenario]}) | "
                      f"{max(figures.rss):.1f} MB | {_med(figures.first, 1000, 0)} ms | {same} |")
    for name, why in skipped.items():
        print(f"\n{name}: not run ({why})")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", default="0,5,50", help="milliseconds added to every request, comma separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="manifest-spec alone")
    parser.add_argument("--growth", action="store_true", help="also the growth curves (N specs, M members)")
    parser.add_argument("--editable", action="store_true", help="run this interpreter's (editable) copy, not a fresh install")
    parser.add_argument("--baseline", metavar="COMMIT", help="also run this commit of manifest-spec, interleaved, as 'manifest-spec@COMMIT'")
    args = parser.parse_args()
    if not args.editable:
        print(f"manifest-spec installed from this tree into {install()}")
    baseline = []
    if args.baseline:
        python = install_commit(args.baseline)
        print(f"manifest-spec {args.baseline} installed into {python}")
        baseline = [(f"{OURS}@{args.baseline}", lambda pushes, python=python: manifest_spec(pushes, python=python), False)]
    latencies = [int(x) for x in args.latency.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for line in startup(args.runs):
        print(line)
    with Registry() as registry, FaultProxy(registry.host, keep_alive=True) as proxy, tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        pki = make_pki(work / "pki")
        with TLSFront(proxy.host, pki.server_cert, pki.server_key) as front:
            bench = Bench(registry, proxy, work, seed(registry))
            found = [] if args.no_peers else peers(work, lambda ref: ref.replace(proxy.host, front.host, 1))
            skipped = {p.name: p.available for p in found if p.available}
            tools = [(OURS, manifest_spec, False), *baseline] + [(p.name, p.commands, p.tls) for p in found if not p.available]
            for latency in latencies:
                proxy.delay = latency / 1000
                for run in range(args.runs):
                    run_round(bench, latency, run, tools)
            report(bench, latencies, [name for name, _, _ in tools], skipped)
            if args.growth:
                from growth import growth

                growth(registry, proxy, work, ENV)
    print(f"\nload average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
