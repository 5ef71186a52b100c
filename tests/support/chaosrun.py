"""One randomized fault schedule, end to end (issue 17): the seed picks the scenario, the auth, the
index type, `--timeout`, `--debug`, at times a SIGKILL of the client, and at times a restart of the
target registry (SIGTERM or SIGKILL, same port and storage, at the run's N-th request); the chaos proxy
(support/chaos.py) decides every request's fault. Afterwards the real registry is read directly:

- exit 0: every tag holds the index the run printed, complete (every child and blob pulls), and the
  signature to carry is in the target; someone else's signature there is still in it;
- an image in the target repository that the spec does not name (sharing a layer) still pulls;
- no DELETE but of an upload session;
- exit != 0: exit 1 and one `error:` line, no traceback; every tag unchanged or complete;
- wall time within the README's bound; no password in the output (runs with Basic auth, some with --debug);
- a re-run without faults converges, and a second one writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import bcrypt
import requests
from click.testing import CliRunner
from support.artifacts import cosign_tag, push_sbom, push_signature
from support.chaos import ChaosProxy, Restart
from support.images import ACCEPT_ALL, push_image
from support.registry import Registry
from support.specs import spec
from support.tokenserver import TokenServer

from manifest_spec.cli.main import main
from manifest_spec.registry.deadline import worst_case

SCENARIOS = ("members", "mounts", "carry", "cross", "batch", "locked")
USER, PASSWORD = "chaos", "chaos:S3cret-pw"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Registries:
    plain: Registry
    basic: Optional[Registry] = None  # htpasswd with USER/PASSWORD
    other: Optional[Registry] = None  # a second registry, for a cross-registry copy
    token: Optional[Registry] = None  # token auth: its realm is token_front, in front of tokens
    tokens: Optional[TokenServer] = None
    token_front: Optional[ChaosProxy] = None


@contextmanager
def started(directory: Path) -> Iterator[Registries]:
    """Every registry a schedule may use: plain, Basic (htpasswd), another one, and one with token auth."""
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    basic_config = {"auth": {"htpasswd": {"realm": "chaos", "path": str(htpasswd)}}}
    with Registry() as plain, Registry(basic_config) as basic, Registry() as other, \
            TokenServer(directory / "tokens", users={USER: PASSWORD}) as tokens, ChaosProxy(tokens.host, rate=0.0, label="tokens") as front, \
            Registry(tokens.registry_config(realm=f"http://{front.host}/token")) as token:
        front.challenge = f'Bearer realm="http://{front.host}/token",service="{tokens.service}"'
        yield Registries(plain, basic, other, token, tokens, front)


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
    killed: bool = False
    faults: list[tuple[str, str, str, int, str]] = field(default_factory=list)  # every fault injected, in order
    restarts: int = 0  # restarts of the target registry during the run (0 or 1)
    registry_pids: tuple[int, int] = (0, 0)  # the target registry's process before and after a restart


@dataclass
class World:
    """What one scenario put in the registry before the run, to check against afterwards."""

    url: str
    session: requests.Session
    repo: str
    specs: list[dict[str, Any]]
    bystander: str = "bystander"  # an image in the target repository the spec does not name (sharing a layer)
    theirs: Optional[str] = None  # a layer of someone else's signature in the target's .sig tag
    carried_tag: Optional[str] = None
    their_sbom: Optional[str] = None  # someone else's SBOM listed in the target's referrers index ...
    index_tag: Optional[str] = None  # ... under this tag
    tags: list[tuple[str, str]] = field(default_factory=list)  # (repo, tag) the run may write
    primary: list[tuple[str, str]] = field(default_factory=list)  # each spec's image tag (its printed digest)


@dataclass(frozen=True)
class Choice:
    scenario: str
    auth: str  # "none", "basic" or "token"
    debug: bool
    kill: Optional[float]  # SIGKILL the client after this many seconds
    timeout: int
    oci: bool
    rate: float  # the share of requests that get a fault
    restart_at: Optional[int] = None  # restart the target registry when its proxy sees the run's N-th request ...
    restart_how: str = "SIGTERM"  # ... stopping it with this signal (SIGTERM or SIGKILL) ...
    restart_down: float = 0.0  # ... and starting it again (same port, storage, config) after this many seconds


def choose(seed: int, registries: Registries) -> Choice:
    digest = hashlib.sha256(f"choice|{seed}".encode()).digest()
    scenario = SCENARIOS[digest[0] % len(SCENARIOS)]
    if scenario == "cross" and registries.other is None:
        scenario = "mounts"
    auth = ("basic", "token", "none")[digest[1] % 3] if scenario != "cross" else "none"
    if (auth == "basic" and registries.basic is None) or (auth == "token" and registries.token is None):
        auth = "none"
    kill = 0.3 + digest[4] / 255 * 2.0 if digest[5] % 8 == 0 else None
    restart_at = 1 + digest[9] % 12 if digest[8] % 7 == 0 else None  # one schedule in 7, at one of its first 12 requests (a run makes 4-47)
    return Choice(scenario, auth, digest[2] % 4 == 0 or os.environ.get("CHAOS_DEBUG") == "1", kill, (2, 3, 5)[digest[3] % 3], digest[6] % 2 == 0 or scenario == "carry",
                  (0.05, 0.1, 0.15, 0.25)[digest[7] % 4], restart_at, ("SIGTERM", "SIGKILL")[digest[10] % 2], round(0.2 + digest[11] / 255 * 1.3, 2))


def _pulls(world: World, repo: str, ref: str) -> Optional[str]:
    """None when the manifest at `ref` (for an index, every child) and every blob it names is there; else why not."""
    answer = world.session.get(f"{world.url}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT_ALL}, timeout=30)
    if answer.status_code != 200:
        return f"{repo}:{ref} answers {answer.status_code}"
    document = json.loads(answer.content)
    for child in document.get("manifests") or []:
        why = _pulls(world, repo, child["digest"])
        if why:
            return why
    for blob in [document.get("config") or {}, *(document.get("layers") or [])]:
        if blob.get("digest"):
            got = world.session.get(f"{world.url}/v2/{repo}/blobs/{blob['digest']}", timeout=30)
            if got.status_code != 200 or "sha256:" + hashlib.sha256(got.content).hexdigest() != blob["digest"]:
                return f"{repo} blob {blob['digest'][:19]} answers {got.status_code}"
    return None


def _tag(world: World, repo: str, tag: str) -> Optional[str]:
    answer = world.session.head(f"{world.url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT_ALL}, timeout=30)
    return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def _target(registries: Registries, choice: Choice) -> Registry:
    chosen = {"basic": registries.basic, "token": registries.token}.get(choice.auth)
    return chosen or registries.plain


def build(registries: Registries, hosts: dict[str, str], seed: int, choice: Choice, run: str) -> World:
    """The scenario's images: members (in the target repository, another, or another registry), a bystander."""
    target = _target(registries, choice)
    repo = f"chaos/s{seed}{run}"
    session = requests.Session()
    if choice.auth == "basic":
        session.auth = (USER, PASSWORD)
    elif choice.auth == "token" and registries.tokens is not None:
        session = registries.tokens.bearer_session([(name, "pull,push") for name in (repo, f"{repo}-src", f"{repo}-b")])
    source_registry = registries.other if choice.scenario == "cross" and registries.other is not None else target
    source_host = hosts["other"] if choice.scenario == "cross" else hosts["target"]
    source = repo if choice.scenario in ("members", "batch", "locked") else f"{repo}-src"
    members: list[tuple[str, str]] = []
    image = None
    for arch in ("amd64", "arm64"):
        image = push_image(source_registry.url, source, arch, architecture=arch, oci=choice.oci, seed=f"c{seed}{arch}", session=session)
        members.append((f"{source_host}/{source}:{arch}", arch))
    world = World(target.url, session, repo, [])
    push_image(target.url, repo, "bystander", architecture="amd64", oci=choice.oci, seed=f"c{seed}amd64", session=session)
    kind = "oci" if choice.oci else "docker"
    world.specs.append(spec(f"{hosts['target']}/{repo}:v1", *members, tags=["latest"], type=kind))
    world.tags += [(repo, "v1"), (repo, "latest")]
    world.primary.append((repo, "v1"))
    if choice.scenario == "batch":
        world.specs.append(spec(f"{hosts['target']}/{repo}-b:v2", *members[:1], type=kind))
        world.tags.append((f"{repo}-b", "v2"))
        world.primary.append((f"{repo}-b", "v2"))
    if choice.scenario == "carry" and image is not None:
        push_signature(target.url, source, image, session=session)
        push_sbom(target.url, source, image, referrer=True, session=session)
        push_image(target.url, repo, None, architecture="arm64", oci=True, seed=f"c{seed}arm64", session=session)
        theirs = push_signature(target.url, repo, image, note="someone-else", session=session)
        world.theirs = theirs.document["layers"][0]["digest"]
        world.their_sbom = push_sbom(target.url, repo, image, referrer=True, name="scanned", session=session).digest
        world.index_tag = cosign_tag(image.digest, "")
        world.carried_tag = cosign_tag(image.digest, "sig")
    return world


def _run(args: list[str], choice: Choice, stdin: Optional[str]) -> tuple[int, str, str, Optional[BaseException], bool]:
    """The CLI in-process; with a kill time, as its own process, SIGKILLed then (if still running)."""
    if choice.kill is None:
        result = CliRunner().invoke(main, args, input=stdin)
        return result.exit_code, result.stdout, result.stderr, result.exception, False
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "MANIFEST_SPEC"))}
    process = subprocess.Popen([sys.executable, "-m", "manifest_spec", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT, env=env, text=True)
    try:
        out, err = process.communicate(stdin or "", timeout=choice.kill)
        return process.returncode, out, err, None, False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        out, err = process.communicate()
        return process.returncode, out, err, None, True


def _check(world: World, code: int, out: str, err: str, exception: Optional[BaseException], killed: bool,
           before: dict[tuple[str, str], Optional[str]], proxies: list[ChaosProxy]) -> list[str]:
    bad = []
    if "Traceback" in out + err or (exception is not None and not isinstance(exception, SystemExit)):
        bad.append(f"traceback / exception {exception!r}")
    if PASSWORD in out + err or PASSWORD.split(":")[1] in out + err:
        bad.append("the password was printed")
    deletes = [p for proxy in proxies for m, p in proxy.seen if m == "DELETE" and "/blobs/uploads/" not in p]
    if deletes:
        bad.append(f"DELETE of something not an upload session: {deletes}")
    why = _pulls(world, world.repo, world.bystander)
    if why:
        bad.append(f"an image the spec does not name no longer pulls: {why}")
    for repo, tag in world.tags:
        now = _tag(world, repo, tag)
        if now is not None and now != before[(repo, tag)] and _pulls(world, repo, tag):
            bad.append(f"{repo}:{tag} changed and is incomplete: {_pulls(world, repo, tag)}")
        if code == 0 and now is None:
            bad.append(f"exit 0 but {repo}:{tag} does not exist")
    printed = set(re.findall(r"Digest: (sha256:[0-9a-f]{64})", out))
    held = {_tag(world, repo, tag) for repo, tag in world.primary}
    if code == 0:
        if printed != held:
            bad.append(f"exit 0 but the tags hold {held}, printed {printed}")
        if world.carried_tag and _tag(world, world.repo, world.carried_tag) is None:
            bad.append("exit 0 but the signature was not carried")
    elif not killed:
        if not printed <= held:
            bad.append(f"a spec reported pushed ({printed - held}) is not what its tag holds")
        errors = [line for line in err.strip().splitlines() if line.startswith("error: ")]
        if code != 1 or not 1 <= len(errors) <= len(world.specs) or not err.strip().splitlines()[-1].startswith("error: "):
            bad.append(f"exit {code} without one error line per failed spec: {err[-300:]!r}")
    if world.theirs and world.carried_tag:
        data = world.session.get(f"{world.url}/v2/{world.repo}/manifests/{world.carried_tag}", headers={"Accept": ACCEPT_ALL}, timeout=30)
        layers = [layer["digest"] for layer in json.loads(data.content).get("layers", [])] if data.status_code == 200 else []
        if world.theirs not in layers:
            bad.append("someone else's signature in the target's .sig tag was lost")
    if world.their_sbom and world.index_tag:
        data = world.session.get(f"{world.url}/v2/{world.repo}/manifests/{world.index_tag}", headers={"Accept": ACCEPT_ALL}, timeout=30)
        listed = [entry["digest"] for entry in json.loads(data.content).get("manifests", [])] if data.status_code == 200 else []
        if world.their_sbom not in listed:
            bad.append("someone else's SBOM in the target's referrers index was lost")
    return bad


Fault = tuple[str, str, str, int, str]  # (proxy, method, path, occurrence, kind)


def run_schedule(registries: Registries, seed: int, workdir: Path, suppressed: frozenset[tuple[str, str, str, int]] = frozenset()) -> Outcome:
    """Build the seed's scenario, push once through the chaos proxies, check, then re-run without faults."""
    choice = choose(seed, registries)
    # A 401 with a fresh challenge only where there are credentials to answer it; a 307 to another host
    # name only without them (credentials never follow a redirect elsewhere, so it could not succeed).
    excluded = frozenset({"401" if choice.auth == "none" else "307"})
    run = "r" + uuid.uuid4().hex[:8]  # fresh repositories each time, so a seed replays in a used registry
    target = _target(registries, choice)
    front = registries.token_front
    if front is not None:
        front.reset_schedule(seed + 2_000_003, run, 0.0, excluded, suppressed)
    other = registries.other or registries.plain
    with ChaosProxy(target.host, seed=seed, blank=run, excluded=excluded, suppressed=suppressed) as proxy, \
            ChaosProxy(other.host, seed=seed + 1_000_003, blank=run, label="other", excluded=excluded, suppressed=suppressed) as far:
        if choice.auth == "token" and front is not None:
            proxy.challenge = front.challenge  # a fresh challenge names the registry's own realm
        world = build(registries, {"target": proxy.host, "other": far.host}, seed, choice, run)
        proxy.rate = far.rate = 0.0
        paths = []
        for n, spec in enumerate(world.specs):
            paths.append(workdir / f"spec-{seed}{run}-{n}.json")
            paths[-1].write_text(json.dumps(spec))
        login = ["--username", USER, "--password-stdin"] if choice.auth != "none" else []
        common = ["--plain-http", *login, *(["--debug"] if choice.debug else []), "--timeout", str(choice.timeout)]
        if choice.scenario == "locked":
            code, _, err, _, _ = _run(["--plain-http", *login, "lock", str(paths[0])], Choice(**{**choice.__dict__, "kill": None}),
                                      _stdin(choice))
            assert code == 0, err
        push = [*common, "push", "from-spec", *map(str, paths), *(["--locked"] if choice.scenario == "locked" else [])]
        before = {t: _tag(world, *t) for t in world.tags}
        proxy.rate = far.rate = choice.rate
        if front is not None and choice.auth == "token":
            front.rate = choice.rate
        restart = Restart(target, choice.restart_at, choice.restart_how, choice.restart_down) if choice.restart_at else None
        if restart is not None:
            proxy.arm_restart(restart)
        started = time.monotonic()
        code, out, err, exception, killed = _run(push, choice, _stdin(choice))
        wall = time.monotonic() - started
        restarts = proxy.disarm_restart()  # the registry is up again before anything is read from it
        proxy.rate = far.rate = 0.0
        if front is not None:
            front.rate = 0.0
        _quiesce([proxy, far])
        violations = _check(world, code, out, err, exception, killed, before, [proxy, far])
        issued = registries.tokens.issued if registries.tokens is not None else []
        if any(token in out + err for token in issued):
            violations.append("a token the run was issued was printed")
        bound = worst_case(choice.timeout, rounds=8 * len(paths))
        if wall > bound:
            violations.append(f"wall {wall:.1f} s over the bound {bound:g} s")
        violations += _converges(push, choice, [proxy, far])
        injected = proxy.injected + far.injected + (front.injected if front is not None else Counter())
        faults = proxy.log + far.log + (front.log if front is not None else [])
    if os.environ.get("CHAOS_DEBUG") == "1":
        print(err)
    lines = err.strip().splitlines()
    return Outcome(seed, choice.scenario, code, wall, bound, injected, violations, lines[-1] if lines else "", killed, faults,
                   restarts, restart.pids if restart is not None else (0, 0))


def _quiesce(proxies: list[ChaosProxy], quiet: float = 0.5, limit: float = 15.0) -> None:
    """Wait until no request has reached the proxies for `quiet` seconds: a failed in-process run returns
    while requests it had in flight still finish (a mount linking a blob), and distribution answers a
    GET of a blob being linked that moment with a 500 — its race, not damage: check once it is done."""
    end = time.monotonic() + limit
    last = sum(len(p.seen) for p in proxies)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = sum(len(p.seen) for p in proxies)
        if now == last:
            return
        last = now


def _stdin(choice: Choice) -> Optional[str]:
    return PASSWORD if choice.auth != "none" else None


def _converges(push: list[str], choice: Choice, proxies: list[ChaosProxy]) -> list[str]:
    """A re-run without faults succeeds, and a second one writes nothing."""
    clean = Choice(**{**choice.__dict__, "kill": None})
    again = _run(push, clean, _stdin(choice))
    if again[0] != 0:
        return [f"a re-run without faults failed: {again[2].strip()[-300:]}"]
    for proxy in proxies:
        proxy.seen.clear()
    third = _run(push, clean, _stdin(choice))
    writes = [f"{m} {p}" for x in proxies for m, p in x.seen if m in ("PUT", "POST", "PATCH", "DELETE")]
    return [f"a second clean run wrote {writes[:3]} (exit {third[0]})"] if third[0] != 0 or writes else []


def shrink(registries: Registries, seed: int, workdir: Path) -> list[Fault]:
    """The fewest faults of this seed's schedule that still break a promise: each injected fault is
    left out in turn (every other request keeps its decision) and stays out if the run still fails."""
    first = run_schedule(registries, seed, workdir)
    if not first.violations:
        return []
    suppressed: frozenset[tuple[str, str, str, int]] = frozenset()
    for fault in first.faults:
        trial = suppressed | {fault[:4]}
        if run_schedule(registries, seed, workdir, trial).violations:
            suppressed = trial
    return [fault for fault in first.faults if fault[:4] not in suppressed]
