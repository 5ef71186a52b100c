"""Benchmark: whole `manifest-spec push` processes against the real registry behind a delaying proxy.

    .venv/bin/python tools/benchmark.py [--latency 0.05] [--runs 7]

Scenarios (issue 8): a: 10 platforms + 3 extra tags, members in the target repository, first
push; b: the same spec again (nothing to write); c: 10 platforms whose members live in other
repositories of the registry (mounts); d: 20 specs x 4 platforms in one process. The proxy
adds `--latency` seconds to every request (a registry across the internet, not on loopback).
Per scenario it prints the wall time (median, min-max), requests by method, and the sequential
depth (the longest chain of requests each sent after the previous one was answered, from the
proxy's timestamps) beside the physical limit; then exec -> first request and CPU per push.
manifest-tool is not installed here: its column is the issue's measurement on this machine.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # its `support` package

from support.faults import FaultProxy, sequential_depth  # noqa: E402
from support.registry import Registry  # noqa: E402
from support.scenarios import EXTRA_TAGS, seed_members, spec_data, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# As installed: pip compiles bytecode, so the processes may write and use it here as well.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"HOME": tempfile.gettempdir()}
# From issue 8 (median of 7, 50 ms): manifest-tool v2's wall time for each scenario.
MANIFEST_TOOL = {"a": 2.07, "b": 1.84, "c": 4.37, "d": 15.4, "d128": 15.4}
LIMIT = {"a": 4, "b": 2, "c": 5, "d": 4, "d128": 4}
GOAL = {"a": 0.25, "b": 0.20, "c": 0.15, "d": 0.07, "d128": 0.07}  # of manifest-tool's wall time


@dataclass
class Figures:
    walls: list[float] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    first_request: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    exit_after: list[float] = field(default_factory=list)
    methods: dict[str, int] = field(default_factory=dict)


def run_push(proxy: FaultProxy, specs: list[str], run: str, figures: Figures, *flags: str) -> None:
    proxy.forget()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "manifest_spec", "--plain-http", *flags, "push", "from-spec", *specs, "--var", f"RUN={run}"],
        cwd=ROOT, capture_output=True, text=True, check=False, env=ENV,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"push failed: {done.stderr}")
    timings = list(proxy.timings)
    figures.walls.append(wall)
    figures.depths.append(sequential_depth(timings))
    figures.first_request.append(min(t.start for t in timings) - started)
    figures.exit_after.append(wall - (max(t.end for t in timings) - started))
    figures.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    figures.methods = dict(sorted(collections.Counter(t.method for t in timings).items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every request")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, Figures] = {name: Figures() for name in ("a", "b", "c", "d", "d128")}
    with Registry() as registry, FaultProxy(registry.host, keep_alive=True) as proxy, tempfile.TemporaryDirectory() as temp:
        work, host = Path(temp), proxy.host
        # ${RUN} makes every run of a, c and d a first push (new tags, new target repositories).
        run_tags = [f"{tag}${{RUN}}" for tag in EXTRA_TAGS]
        spec_a = write(work / "a.yaml", spec_data(host, "bench/a:v1${RUN}", seed_members(registry.url, "bench/a", 10), run_tags))
        spec_c = write(work / "c.yaml", spec_data(host, "bench/c/app${RUN}:v1", seed_members(registry.url, "bench/c", 10, own_repos=True), run_tags))
        specs_d = [
            write(work / f"d{n}.yaml", spec_data(host, f"bench/d{n}:v1${{RUN}}", seed_members(registry.url, f"bench/d{n}", 4), ["latest${RUN}"]))
            for n in range(20)
        ]
        proxy.delay = args.latency
        for n in range(args.runs):
            run_push(proxy, [spec_a], f"-{n}", results["a"])
            run_push(proxy, [spec_a], f"-{n}", results["b"])  # the same again: nothing to write
            run_push(proxy, [spec_c], f"-{n}", results["c"])
            run_push(proxy, specs_d, f"-{n}", results["d"])
            run_push(proxy, specs_d, f"-{n}-j", results["d128"], "--jobs", "128")
    print(f"{args.latency * 1000:.0f} ms added per request, whole processes, median of {args.runs} (min–max)\n")
    print("| scenario | manifest-tool (issue) | manifest-spec | × of manifest-tool (goal) | requests | sequential depth (limit) |")
    print("|---|---|---|---|---|---|")
    names = {"a": "a: 10 platforms + 3 tags, first push", "b": "b: the same again", "c": "c: 10 platforms from other repos (mounts)",
             "d": "d: 20 specs × 4 platforms, one process", "d128": "d with --jobs 128"}
    for name, figures in results.items():
        wall = statistics.median(figures.walls)
        requests = ", ".join(f"{count} {method}" for method, count in figures.methods.items())
        print(f"| {names[name]} | {MANIFEST_TOOL[name]:.2f} s | {wall:.2f} s ({min(figures.walls):.2f}–{max(figures.walls):.2f}) | "
              f"{wall / MANIFEST_TOOL[name]:.2f} (≤ {GOAL[name]:.2f}) | {requests} | {statistics.median(figures.depths):g} ({LIMIT[name]}) |")
    a = results["a"]
    print(f"\nscenario a: exec → first request {statistics.median(a.first_request):.3f} s, last answer → exit "
          f"{statistics.median(a.exit_after):.3f} s, CPU per push {statistics.median(a.cpu):.3f} s")


if __name__ == "__main__":
    main()
