"""Randomized fault schedules (issue 17), in the spirit of Jepsen: one integer seed gives a scenario
and, for every request the client sends, a decision (pass, delay, reset, truncate, drip, 5xx/429
with or without Retry-After, a transient 404, a 307 to another host name, a wrong digest header).
After the run the real registry is read directly (not through the proxy) and the promises checked.

A plain seeded generator, not hypothesis: a decision is a hash of (seed, method, path with upload
ids blanked, occurrence), so the same seed gives the same faults whatever order concurrent
requests arrive in, and a run replays from its seed alone (`tools/chaos.py --seed N`). Hypothesis
would draw decisions in arrival order, which concurrency makes differ between runs, so its
shrinking would chase a moving target; shrinking here is a loop that drops one fault kind at a
time and keeps what still fails (`shrink`).

Imitated vendor behaviour, each documented: transient 404 after a write (distribution/distribution#2794,
eventual consistency on S3), 429 with Retry-After (Docker Hub rate limits, docs.docker.com
"Docker Hub usage and limits"), 307 to blob storage on another host (distribution's
`redirect` storage middleware; GCR/ECR serve blobs from another host), resets and 503s from load
balancers (AWS ELB 503 "Service Unavailable" on surge queue overflow).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import requests
from click.testing import CliRunner
from support.faults import FaultProxy, Reply, _Rule, drip, error, truncate
from support.images import ACCEPT_ALL, push_image
from support.artifacts import cosign_tag, push_sbom, push_signature

from manifest_spec.cli.main import main
from manifest_spec.registry.deadline import worst_case

KINDS = ("delay", "truncate", "drip", "503", "503-retry-after", "429-retry-after", "500", "404", "307", "digest")
SCENARIOS = ("members", "mounts", "carry")
_UPLOAD_ID = re.compile(r"/blobs/uploads/[^/?]+")


def request_key(method: str, path: str, blank: str) -> tuple[str, str]:
    """A request's identity: its path without query, upload session id or the run's own name part."""
    return method, _UPLOAD_ID.sub("/blobs/uploads/ID", path.split("?")[0]).replace(blank, "")


def decide(seed: int, key: tuple[str, str], occurrence: int, rate: float, kinds: tuple[str, ...]) -> Optional[str]:
    """The fault (or None) for this request: a pure function of the seed and the request's identity."""
    digest = hashlib.sha256(f"{seed}|{key[0]}|{key[1]}|{occurrence}".encode()).digest()
    number = int.from_bytes(digest[:8], "big") / 2**64
    if number >= rate or not kinds:
        return None
    return kinds[int(number / rate * len(kinds)) % len(kinds)]


def _not_found(path: str) -> Reply:
    code = "NAME_UNKNOWN" if "/tags/list" in path else "BLOB_UNKNOWN" if "/blobs/" in path else "MANIFEST_UNKNOWN"
    return error(404, code, "unknown (a replica that has not seen it yet)")(Reply(502, (), b""))


@dataclass
class ChaosProxy(FaultProxy):
    """The fault proxy with a seeded decision for every request instead of hand-made rules."""

    seed: int = 0
    rate: float = 0.15
    kinds: tuple[str, ...] = KINDS
    blank: str = "\0"  # the run's part of repository names, left out of decisions (same seed, same faults)
    injected: Counter[str] = field(default_factory=Counter)
    occurrences: Counter[tuple[str, str]] = field(default_factory=Counter)

    def _rule_for(self, method: str, path: str) -> Optional[_Rule]:
        with self._lock:
            self.seen.append((method, path.split("?")[0]))
            key = request_key(method, path, self.blank)
            self.occurrences[key] += 1
            kind = decide(self.seed, key, self.occurrences[key], self.rate, self.kinds)
            if kind is not None:
                self.injected[kind] += 1
        if kind is None:
            return None
        return _Rule(method, re.compile("."), self._fault(kind, path), None, kind not in ("503", "500", "404", "307", "429-retry-after"))

    def _fault(self, kind: str, path: str) -> Any:
        port = self.host.rsplit(":", 1)[1]
        faults: dict[str, Any] = {
            "delay": lambda r: (time.sleep(0.3), r)[1],
            "truncate": truncate(7),
            "drip": drip(0.02),
            "503": error(503, "UNAVAILABLE", "service unavailable"),
            "503-retry-after": lambda r: error(503, "UNAVAILABLE", "busy")(r).with_header("Retry-After", "1"),
            "429-retry-after": lambda r: error(429, "TOOMANYREQUESTS", "slow down")(r).with_header("Retry-After", "1"),
            "500": error(500, "UNKNOWN", "internal error"),
            "404": lambda r: _not_found(path),
            "307": lambda r: Reply(307, (("Location", f"http://localhost:{port}{path}"),), b""),
            "digest": lambda r: r.with_header("Docker-Content-Digest", "sha256:" + "0" * 64) if r.header("Docker-Content-Digest") else r,
        }
        return faults[kind]


@dataclass
class Outcome:
    seed: int
    scenario: str
    exit_code: int
    wall: float
    bound: float
    injected: Counter[str]
    violations: list[str]
    line: str = ""


def _pulls(url: str, repo: str, ref: str) -> Optional[str]:
    """None when the manifest at `ref` (and, for an index, every child) and every blob it names is there; else why not."""
    answer = requests.get(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT_ALL}, timeout=30)
    if answer.status_code != 200:
        return f"{repo}:{ref} answers {answer.status_code}"
    document = json.loads(answer.content)
    for child in document.get("manifests") or []:
        why = _pulls(url, repo, child["digest"])
        if why:
            return why
    for blob in [document.get("config") or {}, *(document.get("layers") or [])]:
        if blob.get("digest"):
            got = requests.get(f"{url}/v2/{repo}/blobs/{blob['digest']}", timeout=30)
            if got.status_code != 200 or "sha256:" + hashlib.sha256(got.content).hexdigest() != blob["digest"]:
                return f"{repo} blob {blob['digest'][:19]} answers {got.status_code}"
    return None


def _tag(url: str, repo: str, tag: str) -> Optional[str]:
    answer = requests.head(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT_ALL}, timeout=30)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


@dataclass
class World:
    """What one scenario put in the registry before the run, to check against afterwards."""

    repo: str
    spec: dict[str, Any]
    bystander: str  # an image in the target repository the spec does not name (sharing a layer)
    theirs: Optional[str] = None  # a signature already in the target's .sig tag (someone else's)
    carried_tag: Optional[str] = None


def build(url: str, host: str, seed: int, scenario: str, run: str) -> World:
    repo = f"chaos/s{seed}{run}"
    oci = seed % 2 == 0
    members = []
    sources = [repo] if scenario == "members" else [f"chaos/s{seed}{run}-src"]
    for arch in ("amd64", "arm64"):
        image = push_image(url, sources[0], arch, architecture=arch, oci=oci or scenario == "carry", seed=f"chaos{seed}{arch}")
        members.append({"image": f"{host}/{sources[0]}:{arch}", "platform": {"os": "linux", "architecture": arch}})
    push_image(url, repo, "bystander", architecture="amd64", oci=oci or scenario == "carry", seed=f"chaos{seed}amd64")  # shares its layer
    world = World(repo, {"image": f"{host}/{repo}:v1", "type": "oci" if oci or scenario == "carry" else "docker", "manifests": members}, "bystander")
    if scenario == "carry":
        push_signature(url, sources[0], image)
        push_sbom(url, sources[0], image, referrer=True)
        push_image(url, repo, None, architecture="arm64", oci=True, seed=f"chaos{seed}arm64")
        world.theirs = push_signature(url, repo, image, note="someone-else").document["layers"][0]["digest"]
        world.carried_tag = cosign_tag(image.digest, "sig")
    return world


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["--plain-http", *args])


def check(url: str, world: World, result: Any, before: Optional[str], proxy: ChaosProxy) -> list[str]:
    """The promises, read from the real registry."""
    bad = []
    out, err = result.stdout, result.stderr
    if "Traceback" in out + err or (result.exception is not None and not isinstance(result.exception, SystemExit)):
        bad.append(f"traceback / exception {result.exception!r}")
    deletes = [p for m, p in proxy.seen if m == "DELETE" and "/blobs/uploads/" not in p]
    if deletes:
        bad.append(f"DELETE of something not an upload session: {deletes}")
    why = _pulls(url, world.repo, world.bystander)
    if why:
        bad.append(f"an image the spec does not name no longer pulls: {why}")
    now = _tag(url, world.repo, "v1")
    if result.exit_code == 0:
        printed = out.split()[1] if out.startswith("Digest: ") else None
        if printed is None or printed != now:
            bad.append(f"exit 0 but v1 holds {now}, printed {printed}")
        elif _pulls(url, world.repo, "v1"):
            bad.append(f"exit 0 but v1 incomplete: {_pulls(url, world.repo, 'v1')}")
        if world.carried_tag and _tag(url, world.repo, world.carried_tag) is None:
            bad.append("exit 0 but the signature was not carried")
    else:
        lines = err.strip().splitlines()
        if result.exit_code != 1 or len(lines) != 1 or not lines[0].startswith("error: "):
            bad.append(f"exit {result.exit_code} without one error line: {err[-300:]!r}")
        if now != before and now is not None and _pulls(url, world.repo, "v1"):
            bad.append(f"v1 changed and is incomplete: {_pulls(url, world.repo, 'v1')}")
    if world.theirs and world.carried_tag:
        data = requests.get(f"{url}/v2/{world.repo}/manifests/{world.carried_tag}", headers={"Accept": ACCEPT_ALL}, timeout=30)
        layers = [layer["digest"] for layer in json.loads(data.content).get("layers", [])] if data.status_code == 200 else []
        if world.theirs not in layers:
            bad.append("someone else's signature in the target's .sig tag was lost")
    return bad


def run_schedule(registry_url: str, registry_host: str, seed: int, workdir: Path, kinds: tuple[str, ...] = KINDS) -> Outcome:
    """Build the seed's scenario, push once through the chaos proxy, check, then re-run without faults."""
    scenario = SCENARIOS[seed % len(SCENARIOS)]
    timeout = (2, 3, 5)[seed // 3 % 3]
    run = "r" + uuid.uuid4().hex[:8]  # fresh repositories each time, so a seed replays in a used registry
    with ChaosProxy(registry_host, seed=seed, kinds=kinds, blank=run) as proxy:
        world = build(registry_url, proxy.host, seed, scenario, run)
        spec = workdir / f"spec-{seed}.json"
        spec.write_text(json.dumps(world.spec))
        before = _tag(registry_url, world.repo, "v1")
        started = time.monotonic()
        result = _cli("--timeout", str(timeout), "push", "from-spec", str(spec))
        wall = time.monotonic() - started
        bound = worst_case(timeout, rounds=8)
        violations = check(registry_url, world, result, before, proxy)
        if wall > bound:
            violations.append(f"wall {wall:.1f} s over the bound {bound:g} s")
        proxy.rate = 0.0  # the same proxy, no faults: converges, then writes nothing
        again = _cli("--timeout", str(timeout), "push", "from-spec", str(spec))
        if again.exit_code != 0:
            violations.append(f"a re-run without faults failed: {again.stderr.strip()[-300:]}")
        proxy.seen.clear()
        third = _cli("--timeout", str(timeout), "push", "from-spec", str(spec))
        writes = [f"{m} {p}" for m, p in proxy.seen if m in ("PUT", "POST", "PATCH", "DELETE")]
        if third.exit_code != 0 or writes:
            violations.append(f"a second clean run wrote {writes[:3]} (exit {third.exit_code})")
        injected = Counter(proxy.injected)
    line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    return Outcome(seed, scenario, result.exit_code, wall, bound, injected, violations, line)


def shrink(registry_url: str, registry_host: str, seed: int, workdir: Path) -> tuple[str, ...]:
    """The fewest fault kinds that still break a promise for this seed (drop one kind at a time)."""
    kinds = KINDS
    for kind in KINDS:
        fewer = tuple(k for k in kinds if k != kind)
        if run_schedule(registry_url, registry_host, seed + 0, workdir, fewer).violations:
            kinds = fewer
    return kinds

