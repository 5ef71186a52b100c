"""Progress on a terminal: a real `manifest-spec push from-spec` subprocess whose stderr is a
pseudo-terminal, against real registries; and none of it without a terminal, with --quiet or
with --output json."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from support.clirun import write_spec
from support.images import push_image
from support.registry import Registry
from support.specs import spec

from manifest_spec.cli.progress import listener_for
from manifest_spec.events import BlobCopied, MembersResolved, TagWritten

CLI = Path(sys.executable).with_name("manifest-spec")
LAYER = 3 * 1000 * 1000  # big enough to read as MB, small enough to stay quick
COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-9]m|\x1b\[38;")  # an SGR foreground colour


def _spec(registry: Registry, other: Registry, repo: str, tmp_path: Path) -> Path:
    for arch in ("amd64", "arm64"):
        push_image(registry.url, repo, arch, architecture=arch, layer_size=LAYER, gzip_layer=False, seed=arch)
    members = [(f"{registry.host}/{repo}:{arch}", arch) for arch in ("amd64", "arm64")]
    return write_spec(tmp_path, spec(f"{other.host}/{repo}:v1", *members, tags=["latest"]), "app.yaml")


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return {**env, "COLUMNS": "120", **extra}


def _push_on_a_terminal(spec: Path, *flags: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the push with stderr on a pty (120 columns); stdout stays a pipe, as in `x=$(...)`."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    with subprocess.Popen(
        [str(CLI), "--plain-http", "push", "from-spec", str(spec), *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
    ) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=60)
    os.close(master)
    return code, stdout, b"".join(chunks).decode(errors="replace")


def test_a_push_on_a_terminal_shows_members_blobs_and_tags(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = _spec(registry, other_registry, repo_name, tmp_path)
    code, stdout, terminal = _push_on_a_terminal(spec, env=_environment())

    assert code == 0, terminal
    assert stdout.startswith("Digest: sha256:")  # the result itself is untouched, on stdout
    assert re.search(rf"{re.escape(str(spec))}: members resolved 2/2 \|", terminal), terminal
    # Each blob copied across: its short digest, size in MB, a rate.
    copies = re.findall(r"copying ([0-9a-f]{12}): 100%\|[^|]*\| (\d+\.\d+)M/(\d+\.\d+)M \[[^\]]*, *[\d.]+[kMG]?B/s\]", terminal)
    assert len({digest for digest, _, _ in copies}) >= 2, terminal
    assert any(done == total and float(total) >= LAYER / 1e6 for _, done, total in copies), copies
    assert f"{spec}: tag v1 created" in terminal and f"{spec}: tag latest created" in terminal
    assert COLOUR.search(terminal), "bars are coloured unless NO_COLOR is set"
    assert "Traceback" not in terminal

    code, _, again = _push_on_a_terminal(spec, env=_environment())  # nothing to copy, tags unchanged
    assert code == 0 and f"{spec}: tag v1 unchanged" in again and "copying" not in again, again


def test_no_color_keeps_the_bars_but_drops_the_colour(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = _spec(registry, other_registry, repo_name, tmp_path)
    code, _, terminal = _push_on_a_terminal(spec, env=_environment(NO_COLOR="1"))
    assert code == 0, terminal
    assert "members resolved 2/2" in terminal and "copying" in terminal
    assert "\x1b[" not in terminal, repr(terminal)  # no escape sequence at all


@pytest.mark.parametrize("flags", [("--quiet",), ("-q",), ("--output", "json")])
def test_quiet_or_json_on_a_terminal_draws_nothing(
    registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    spec = _spec(registry, other_registry, repo_name, tmp_path)
    code, stdout, terminal = _push_on_a_terminal(spec, *flags, env=_environment())
    assert code == 0, terminal
    assert terminal == "", repr(terminal)
    assert stdout


def test_a_dry_run_on_a_terminal_draws_nothing(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = _spec(registry, other_registry, repo_name, tmp_path)
    code, stdout, terminal = _push_on_a_terminal(spec, "--dry-run", env=_environment())
    assert code == 0, terminal
    # Only the dry run's own plan lines: no bar, no tag line, no escape sequence.
    assert terminal and all(line.startswith("dry run: ") for line in terminal.splitlines()), repr(terminal)
    assert "members resolved" not in terminal and "\x1b[" not in terminal and "\r" not in terminal.replace("\r\n", "")
    assert "Digest: sha256:" in stdout


def test_a_failing_push_ends_its_bars_before_the_error_line(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64", seed="present")
    members = [(f"{registry.host}/{repo_name}:{tag}", arch) for tag, arch in (("amd64", "amd64"), ("missing", "arm64"))]
    path = write_spec(tmp_path, spec(f"{other_registry.host}/{repo_name}:v1", *members), "app.yaml")
    code, _, terminal = _push_on_a_terminal(path, env=_environment(NO_COLOR="1"))

    assert code != 0 and "Traceback" not in terminal, terminal
    drawn, _, error = terminal.rpartition("error: ")
    assert "members resolved 1/2" in drawn, terminal  # the bar left half-way by the failure ...
    assert drawn.endswith("\n"), repr(terminal)  # ... was ended: the error line starts a line of its own
    assert "missing" in error and "members resolved" not in error, repr(terminal)  # nothing drawn after it


def test_a_closed_listener_draws_nothing_more() -> None:
    """A failed run does not wait for requests in flight: their late events must not draw after the error."""
    terminal = _Terminal()
    listener = listener_for(terminal)
    assert listener is not None
    listener(BlobCopied("sha256:" + "cd" * 32, 1_000_000, 4_000_000))
    listener.close()
    ended = terminal.getvalue()
    listener(BlobCopied("sha256:" + "cd" * 32, 2_000_000, 4_000_000))
    listener(TagWritten("a.yaml", "v1", "created"))
    assert "copying cdcdcdcdcdcd" in ended and terminal.getvalue() == ended and listener.bars == {}


def test_no_terminal_no_progress(registry: Registry, other_registry: Registry, repo_name: str, tmp_path: Path) -> None:
    spec = _spec(registry, other_registry, repo_name, tmp_path)
    result = subprocess.run(
        [str(CLI), "--plain-http", "push", "from-spec", str(spec)], capture_output=True, text=True, env=_environment(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout.startswith("Digest: sha256:")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed file")  # as a closed real stream does
        return True


def test_listener_for_draws_only_on_a_terminal_in_text_mode() -> None:
    assert listener_for(io.StringIO()) is None
    assert listener_for(_Terminal(), quiet=True) is None
    assert listener_for(_Terminal(), output_format="json") is None
    closed = _Terminal()
    closed.close()
    assert listener_for(closed) is None

    terminal = _Terminal()
    listener = listener_for(terminal)
    assert listener is not None
    listener(MembersResolved("a.yaml", 0, 3))
    listener(BlobCopied("sha256:" + "ab" * 32, 5_000_000, None))  # size unknown: no ETA, still a count
    listener(TagWritten("a.yaml", "v1", "created"))
    listener.close()  # a push that failed half-way: the open bars end
    text = terminal.getvalue()
    assert "a.yaml: members resolved 0/3" in text and "copying abababababab" in text and "5.00MB" in text
    assert "a.yaml: tag v1 created" in text and listener.bars == {}


def test_validate_does_not_import_tqdm() -> None:
    valid = Path(__file__).parents[1] / "specs" / "valid"
    spec = sorted(valid.glob("*.yaml"))[0]
    code = (
        "import sys\n"
        "from manifest_spec.cli.main import main\n"
        "try:\n"
        f"    main(['validate', {str(spec)!r}], standalone_mode=False)\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'tqdm' not in sys.modules, 'validate imported tqdm'\n"
        "import manifest_spec.cli.progress\n"
        "assert 'tqdm' not in sys.modules, 'importing progress loaded tqdm'\n"
        "print('no tqdm')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no tqdm" in result.stdout
