"""Benchmark: how much the concurrent resolution saves against a registry with real latency.

    .venv/bin/python tests/benchmark.py [--latency 0.05] [--runs 3]

Starts the real registry, pushes 12 per-platform images, and puts a proxy in front that adds
`--latency` seconds to every answer (a registry across the internet, not on loopback). Then
it times `push from-spec` (resolve + verify + build + push, in-process) with the resolver's
pool at 1 worker (one member after another) and at its default size. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.faults import FaultProxy, Reply  # noqa: E402
from support.images import push_image  # noqa: E402
from support.registry import Registry  # noqa: E402

from manifest_spec import resolve  # noqa: E402
from manifest_spec.push import PushSettings, prepare, push_index  # noqa: E402
from manifest_spec.registry import ClientOptions, ClientPool  # noqa: E402
from manifest_spec.spec import load_spec  # noqa: E402

PLATFORMS = [
    ("amd64", ""), ("arm64", "v8"), ("arm", "v6"), ("arm", "v7"), ("386", ""), ("ppc64le", ""),
    ("s390x", ""), ("riscv64", ""), ("mips64le", ""), ("loong64", ""), ("amd64", "v3"), ("arm", "v5"),
]


def delayed(seconds: float):  # type: ignore[no-untyped-def]
    def fault(reply: Reply) -> Reply:
        time.sleep(seconds)
        return reply

    return fault


def one_push(spec_path: str, tag: str) -> float:
    spec = load_spec(spec_path, {"TAG": tag})
    started = time.perf_counter()
    with ClientPool(ClientOptions(plain_http=True)) as pool:
        push_index(prepare(spec, PushSettings(), pool), pool)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with Registry() as registry, FaultProxy(registry.host) as proxy, tempfile.TemporaryDirectory() as work:
        lines = [f"image: {proxy.host}/bench/app:${{TAG}}", "manifests:"]
        for arch, variant in PLATFORMS:
            tag = f"{arch}{variant}"
            push_image(registry.url, "bench/app", tag, architecture=arch, variant=variant or None, seed=tag)
            platform = f"{{os: linux, architecture: '{arch}'" + (f", variant: {variant}}}" if variant else "}")
            lines.append(f"  - {{image: {proxy.host}/bench/app:{tag}, platform: {platform}}}")
        spec_path = str(Path(work) / "bench.yaml")
        Path(spec_path).write_text("\n".join(lines) + "\n")
        for method in ("GET", "HEAD", "PUT", "POST"):
            proxy.inject(method, ".", delayed(args.latency))
        default_workers = resolve.MAX_WORKERS
        results = {}
        for workers in (1, default_workers):
            resolve.MAX_WORKERS = workers
            times = [one_push(spec_path, f"w{workers}-{run}") for run in range(args.runs)]
            results[workers] = statistics.median(times)
        resolve.MAX_WORKERS = default_workers
    print(f"{len(PLATFORMS)} members, {args.latency * 1000:.0f} ms added per request, median of {args.runs} runs\n")
    print("| resolver pool | push from-spec | speed-up |")
    print("|---|---|---|")
    for workers, seconds in results.items():
        print(f"| {workers} worker{'s' if workers > 1 else ''} | {seconds:.2f} s | {results[1] / seconds:.1f}× |")


if __name__ == "__main__":
    main()
