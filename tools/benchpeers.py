"""The tools tools/benchmark.py runs side by side: how each pushes one multi-platform index, and
what its processes cost (wall, CPU, peak RSS from wait4).

A user of each would run these commands: manifest-spec and manifest-tool one process per spec
(manifest-spec one for all specs); crane `index append` then `crane tag` per extra tag; buildah
`manifest create`, `add` per member, `push --all`, then `push` per extra tag; the docker CLI
`manifest create` + `manifest push` per tag (it cannot talk to a plain-HTTP registry,
docker/cli#1631, so it gets a TLS front with --insecure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the main clone, two levels up from a worktree; MANIFEST_TOOL names another.
MANIFEST_TOOL = Path(os.environ.get("MANIFEST_TOOL") or next(
    (str(p) for p in (ROOT.parent / "shared" / "peers" / "manifest-tool", ROOT.parent.parent / "shared" / "peers" / "manifest-tool") if p.is_file()),
    str(ROOT.parent / "shared" / "peers" / "manifest-tool"),
))
CRANE = Path(os.environ.get("CRANE", ROOT / ".cache" / "go" / "bin" / "crane"))


@dataclass
class Push:
    """One index to push: target (host/repo:tag), extra tags, members (host/repo:tag), its spec file."""

    target: str
    tags: list[str]
    members: list[str]
    spec: str


@dataclass
class Cost:
    wall: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    out: str = ""
    errors: list[str] = field(default_factory=list)


def spawn(command: list[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Run one command: exit code, stdout, stderr, CPU seconds, peak RSS in MB.

    The peak RSS comes from GNU time (`%M`), not from our own wait4: Linux carries a process's
    high-water RSS across fork and exec, so a child of this (50 MB) process would report at least
    that much; GNU time's child starts from GNU time's own few hundred KB. wait4 on GNU time gives
    its CPU including the command's (RUSAGE_BOTH)."""
    with tempfile.NamedTemporaryFile(mode="r") as rss, tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
                                   stdout=subprocess.PIPE, stderr=errors, env=env, cwd=tempfile.gettempdir())  # not ROOT: `-m` would import the tree
        # Read stdout without letting Popen reap the child: wait4 must be the one that does.
        out = process.stdout.read() if process.stdout else b""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        err = errors.read()
        kilobytes = rss.read().strip().splitlines()
    peak = int(kilobytes[-1]) / 1024 if kilobytes and kilobytes[-1].isdigit() else 0.0
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace"), usage.ru_utime + usage.ru_stime, peak


def run_sequence(commands: list[list[str]], env: dict[str, str]) -> Cost:
    """Run commands one after another, as a script would: wall of all, CPU summed, the largest RSS."""
    cost = Cost()
    started = time.perf_counter()
    for command in commands:
        code, out, err, cpu, peak = spawn(command, env)
        cost.cpu += cpu
        cost.rss_mb = max(cost.rss_mb, peak)
        cost.out += out
        if code:
            cost.errors.append(f"{' '.join(command[:5])} ...: exit {code}: {err.strip()[-300:]}")
    cost.wall = time.perf_counter() - started
    return cost


@dataclass
class Peer:
    name: str
    commands: Callable[[list[Push]], list[list[str]]]
    available: Optional[str] = None  # why it cannot run here (None: it can)
    tls: bool = False  # talks to the TLS front instead of the plain-HTTP proxy


def _tag(reference: str, tag: str) -> str:
    return reference.rsplit(":", 1)[0] + ":" + tag


PYTHON = [sys.executable]  # replaced by install(): the interpreter of an installed copy


def install() -> str:
    """The current tree pip-installed (not editable) into .cache/bench-venv, as a user has it: an
    editable install's import hook costs every process ~12 ms before it runs a line of ours."""
    venv = ROOT / ".cache" / "bench-venv"
    python = venv / "bin" / "python"
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}}
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True, **quiet)  # type: ignore[call-overload]
    else:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)], check=True, **quiet)  # type: ignore[call-overload]
    PYTHON[0] = str(python)
    return str(python)


def install_commit(commit: str) -> str:
    """Another commit of this project pip-installed (not editable) into .cache/bench-<commit>, to run
    beside the tree's (--baseline): "unchanged within noise" is then measured in one run, not across days."""
    venv = ROOT / ".cache" / f"bench-{commit}"
    python = venv / "bin" / "python"
    if not python.is_file():
        with tempfile.TemporaryDirectory() as tree:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", tree], check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return str(python)


def manifest_spec(pushes: list[Push], *flags: str, python: str = "") -> list[list[str]]:
    return [[python or PYTHON[0], "-m", "manifest_spec", "--plain-http", *flags, "push", "from-spec", *(p.spec for p in pushes)]]


def manifest_tool(config: str) -> Callable[[list[Push]], list[list[str]]]:
    return lambda pushes: [[str(MANIFEST_TOOL), "--plain-http", "--docker-cfg", config, "push", "from-spec", p.spec] for p in pushes]


def crane(pushes: list[Push]) -> list[list[str]]:
    commands = []
    for p in pushes:
        members = [arg for m in p.members for arg in ("-m", m)]
        commands.append([str(CRANE), "index", "append", "--insecure", "--docker-empty-base", "-t", p.target, *members])
        commands += [[str(CRANE), "tag", "--insecure", p.target, tag] for tag in p.tags]
    return commands


def buildah(storage: str) -> Callable[[list[Push]], list[list[str]]]:
    base = ["buildah", "--root", f"{storage}/root", "--runroot", f"{storage}/run", "--storage-driver", "vfs"]

    def commands(pushes: list[Push]) -> list[list[str]]:
        out = []
        for n, p in enumerate(pushes):
            name = f"bench-{time.monotonic_ns()}-{n}"
            out.append([*base, "manifest", "create", name])
            out += [[*base, "manifest", "add", "--tls-verify=false", name, f"docker://{m}"] for m in p.members]
            out.append([*base, "manifest", "push", "--tls-verify=false", "--all", "--format", "v2s2", name, f"docker://{p.target}"])
            out += [[*base, "manifest", "push", "--tls-verify=false", "--format", "v2s2", name, f"docker://{_tag(p.target, t)}"] for t in p.tags]
            out.append([*base, "manifest", "rm", name])
        return out

    return commands


def docker(tls_host: Callable[[str], str]) -> Callable[[list[Push]], list[list[str]]]:
    def commands(pushes: list[Push]) -> list[list[str]]:
        out = []
        for p in pushes:
            members = [tls_host(m) for m in p.members]
            for reference in [p.target, *(_tag(p.target, t) for t in p.tags)]:
                out.append(["docker", "manifest", "create", "--insecure", "--amend", tls_host(reference), *members])
                out.append(["docker", "manifest", "push", "--insecure", "--purge", tls_host(reference)])
        return out

    return commands


def peers(work: Path, tls_host: Callable[[str], str]) -> list[Peer]:
    """Every peer, with the reason it cannot run on this machine if so."""
    config = work / "docker-config"
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text("{}", encoding="utf-8")
    docker_cli = shutil.which("docker")
    return [
        Peer("manifest-tool", manifest_tool(str(config)), None if MANIFEST_TOOL.is_file() else f"not at {MANIFEST_TOOL}"),
        Peer("crane index append", crane, None if CRANE.is_file() else f"not built: make go-tools ({CRANE})"),
        Peer("buildah manifest", buildah(str(work / "buildah")), None if shutil.which("buildah") else "not installed: make peers"),
        Peer("docker manifest", docker(tls_host), None if docker_cli else "not installed: make peers", tls=True),
    ]


