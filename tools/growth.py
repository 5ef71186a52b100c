"""Growth curves for tests/benchmark.py --growth: one process pushing N specs of 4 platforms
(N = 1, 10, 50, 200), and one spec of M members (M = 10, 100, 500: Windows builds with distinct
os.version), at 50 ms per request. Goals (issue 18): 200 specs in <= 3 s with sequential depth
<= 8; 500 members in <= 2 s; peak RSS <= 80 MB in both; wall per spec falling as N grows.
What limits each point is read from the run itself: CPU / wall near 1 means CPU-bound; the most
requests in flight at once reaching --jobs means the request bound; neither means round trips."""

from __future__ import annotations

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


def point(proxy: FaultProxy, specs: list[str], env: dict[str, str], label: str, count: int) -> None:
    proxy.forget()
    cost = run_sequence([[benchpeers.PYTHON[0], "-m", "manifest_spec", "--plain-http", "push", "from-spec", *specs]], env)
    timings = list(proxy.timings)
    if cost.errors:
        print(f"| {label} | failed: {cost.errors[0][:200]} |")
        return
    limit = "CPU" if cost.cpu / cost.wall > 0.8 else f"--jobs ({JOBS})" if in_flight(timings) >= JOBS else "round trips"
    print(f"| {label} | {cost.wall:.2f} s | {cost.wall / count * 1000:.1f} ms | {cost.cpu:.2f} s ({cost.cpu / cost.wall:.0%} of wall) | "
          f"{len(timings)} | {sequential_depth(timings)} | {in_flight(timings)} | {cost.rss_mb:.1f} MB | {limit} |")


def growth(registry: Registry, proxy: FaultProxy, work: Path, env: dict[str, str]) -> None:
    proxy.delay = LATENCY
    print(f"\nGrowth at {LATENCY * 1000:.0f} ms per request, one process each (goals: 200 specs <= 3 s, depth <= 8; "
          "500 members <= 2 s; peak RSS <= 80 MB)\n")
    print("| push | wall | wall per spec or member | CPU | requests | depth | most in flight | peak RSS | limited by |")
    print("|---|---|---|---|---|---|---|---|---|")
    host = proxy.host
    seeded = [seed_members(registry.url, f"growth/s{n}", 4) for n in range(max(SPECS))]
    for count in SPECS:
        specs = [write(work / f"g{count}-{n}.yaml", spec_data(host, f"growth/s{n}:n{count}", seeded[n], [f"latest-n{count}"])) for n in range(count)]
        point(proxy, specs, env, f"{count} specs × 4 platforms", count)
    members = windows_members(registry, "growth/windows", max(MEMBERS))
    for count in MEMBERS:
        spec = write(work / f"m{count}.yaml", spec_data(host, f"growth/windows:m{count}", members[:count], []))
        point(proxy, [spec], env, f"1 spec × {count} members", count)
