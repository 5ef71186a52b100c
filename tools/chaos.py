"""A campaign of randomized fault schedules (issue 17) against the real registry.

    PYTHONPATH=tests .venv/bin/python tools/chaos.py --minutes 30          # new seeds until the time is up
    PYTHONPATH=tests .venv/bin/python tools/chaos.py --seed 1234           # replay one seed
    PYTHONPATH=tests .venv/bin/python tools/chaos.py --seed 1234 --shrink  # and shrink it to the fewest faults that still fail

Every violation is printed with its seed as it is found; the end prints the summary the README
keeps (schedules per scenario, exits, faults injected by kind, violations). tests/support/chaos.py
says what a schedule is and what is checked. Seeds start at --first (default 1000: the suite's
fixed seeds are below it) so a campaign explores schedules the suite does not run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# tests/support: on the path by PYTHONPATH=tests, as `make chaos` runs this
from support.chaosrun import Registries, run_schedule, shrink, started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--seed", type=int, help="replay this seed only")
    parser.add_argument("--first", type=int, default=1000, help="first seed of a campaign")
    parser.add_argument("--shrink", action="store_true", help="shrink each failing schedule to the fewest faults that still fail")
    args = parser.parse_args()
    scenarios: Counter[str] = Counter()
    exits: Counter[int] = Counter()
    faults: Counter[str] = Counter()
    violations: list[tuple[int, str, list[str]]] = []
    walls: list[float] = []
    with tempfile.TemporaryDirectory() as work, started(Path(work)) as registries:
        _campaign(args, registries, Path(work), scenarios, exits, faults, violations, walls)
    _summary(scenarios, exits, faults, violations, walls)
    return 1 if violations else 0


def _campaign(args: argparse.Namespace, registries: Registries, work: Path, scenarios: Counter[str], exits: Counter[int],
              faults: Counter[str], violations: list[tuple[int, str, list[str]]], walls: list[float]) -> None:
    seeds = [args.seed] if args.seed is not None else None
    end = time.monotonic() + args.minutes * 60
    seed = args.first
    while (seeds is not None and seeds) or (seeds is None and time.monotonic() < end):
        current = seeds.pop() if seeds is not None else seed
        seed += 1
        outcome = run_schedule(registries, current, work)
        scenarios[outcome.scenario] += 1
        exits[outcome.exit_code] += 1
        faults.update(outcome.injected)  # a registry restart counts as a fault ("restart"); a client kill as "kill"
        if outcome.killed:
            faults["kill"] += 1
        walls.append(outcome.wall)
        if outcome.violations or args.seed is not None:
            print(f"seed {current} ({outcome.scenario}) exit {outcome.exit_code}{' killed' if outcome.killed else ''}"
                  f"{' registry restarted' if outcome.restarts else ''} in {outcome.wall:.1f} s "
                  f"(bound {outcome.bound:g} s), faults {dict(outcome.injected)}: {outcome.line}", flush=True)
        if outcome.violations:
            violations.append((current, outcome.scenario, outcome.violations))
            print(f"VIOLATION seed {current}: {outcome.violations}", flush=True)
            if args.shrink:
                smallest = shrink(registries, current, work)
                print(f"seed {current} shrunk to {len(smallest)} fault(s): {smallest}", flush=True)


def _summary(scenarios: Counter[str], exits: Counter[int], faults: Counter[str], violations: list[tuple[int, str, list[str]]],
             walls: list[float]) -> None:
    total = sum(scenarios.values())
    print(f"\n{total} schedules ({', '.join(f'{n} {s}' for s, n in sorted(scenarios.items()))}); "
          f"exit codes {dict(sorted(exits.items()))}; client kills {faults['kill']}, registry restarts {faults['restart']}; "
          f"{sum(faults.values())} faults injected "
          f"({', '.join(f'{k} {n}' for k, n in faults.most_common())}); longest run {max(walls, default=0):.1f} s; "
          f"{len(violations)} violation(s){': seeds ' + ', '.join(str(s) for s, _, _ in violations) if violations else ''}")


if __name__ == "__main__":
    sys.exit(main())
