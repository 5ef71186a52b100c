"""Growth curves for tools/benchmark.py --growth: one process pushing N specs of 4 platforms
(N = 1, 10, 50, 200), and one spec of M members (M = 10, 100, 500: Windows builds with distinct
os.version), at 50 ms per request. Goals (issue 18): 200 specs in <= 3 s with sequential depth
<= 8; 500 members in <= 2 s; peak RSS <= 80 MB in both; wall per spec falling as N grows.
What limits each point is read from the run itself: our CPU near the wall time means our one
core (the interpreter lock); ours plus the proxy's and the registry's near all cores means the
machine; the most requests in flight reaching --jobs means that bound; none of these, round trips."""

from __future__ import annotations

import os
import time
from pathlib import Path

import benchpeers
from benchpeers import run_sequence
from support.faults import FaultProxy, Timing, sequential_depth
from support.images import push_image
from support.registry import Registry
from support.scenarios import seed_members, spec_data, write

LATENCY = 0.05
SPECS = (1, 10, 50, 200)
MEMBERS = (10, 100, 500)
JOBS = 64  # manifest-spec's default --jobs
CORES = os.cpu_count() or 1


def in_flight(timings: list[Timing]) -> int:
    """The most requests the proxy held at one moment."""
    events = sorted([(t.start, 1) for t in timings] + [(t.end, -1) for t in timings])
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


def windows_members(registry: Registry, repo: str, count: int) -> list[tuple[str, dict[str, str]]]:
    members = []
    for n in range(count):
        version = f"10.0.{17763 + n}.1"
        push_image(registry.url, repo, f"w{n}", os="windows", os_version=version, seed=f"{repo}|{n}")
        members.append((f"{repo}:w{n}", {"os": "windows", "architecture": "amd64", "os.version": version}))
    return members


def _registry_cpu(registry: Registry) -> float:
    """CPU seconds the registry process has used so far (utime + stime from /proc)."""
    if registry.process is None:
        return 0.0
    fields = Path(f"/proc/{registry.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def point(registry: Registry, proxy: FaultProxy, specs: list[str], env: dict[str, str], label: str, count: int, jobs: int = JOBS) -> None:
    proxy.forget()
    others = time.process_time() + _registry_cpu(registry)  # the proxy's threads run in this process
    cost = run_sequence([[benchpeers.PYTHON[0], "-m", "manifest_spec", "--plain-http", "--jobs", str(jobs), "push", "from-spec", *specs]], env)
    timings = list(proxy.timings)
    others = time.process_time() + _registry_cpu(registry) - others
    cores = (cost.cpu + others) / cost.wall  # the whole machine's work: client, proxy, registry
    if cost.errors:
        print(f"| {label} | failed: {cost.errors[0][:200]} |")
        return
    limit = (
        "our CPU (one core)" if cost.cpu / cost.wall > 0.8
        else f"the machine's {CORES} cores" if cores > 0.8 * CORES
        else f"--jobs ({jobs})" if in_flight(timings) >= jobs else "round trips"
    )
    print(f"| {label} | {cost.wall:.2f} s | {cost.wall / count * 1000:.1f} ms | {cost.cpu:.2f} s ({cost.cpu / cost.wall:.0%} of wall) | "
          f"{others:.2f} s | {len(timings)} | {sequential_depth(timings)} | {in_flight(timings)} | {cost.rss_mb:.1f} MB | {limit} |")


def growth(registry: Registry, proxy: FaultProxy, work: Path, env: dict[str, str]) -> None:
    proxy.delay = LATENCY
    print(f"\nGrowth at {LATENCY * 1000:.0f} ms per request, one process each (goals: 200 specs <= 3 s, depth <= 8; "
          "500 members <= 2 s; peak RSS <= 80 MB)\n")
    print("| push | wall | wall per spec or member | CPU | proxy + registry CPU | requests | depth | most in flight | peak RSS | limited by |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    host = proxy.host
    seeded = [seed_members(registry.url, f"growth/s{n}", 4) for n in range(max(SPECS))]
    for count, jobs in [(n, JOBS) for n in SPECS] + [(max(SPECS), 256)]:  # the last: is --jobs the bound?
        name = f"n{count}-j{jobs}"
        specs = [write(work / f"g{name}-{n}.yaml", spec_data(host, f"growth/s{n}:{name}", seeded[n], [f"latest-{name}"])) for n in range(count)]
        point(registry, proxy, specs, env, f"{count} specs × 4 platforms" + (f", --jobs {jobs}" if jobs != JOBS else ""), count, jobs)
    members = windows_members(registry, "growth/windows", max(MEMBERS))
    for count, jobs in [(n, JOBS) for n in MEMBERS] + [(max(MEMBERS), 256)]:
        spec = write(work / f"m{count}-{jobs}.yaml", spec_data(host, f"growth/windows:m{count}-j{jobs}", members[:count], []))
        point(registry, proxy, [spec], env, f"1 spec × {count} members" + (f", --jobs {jobs}" if jobs != JOBS else ""), count, jobs)
