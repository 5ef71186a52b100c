"""Unix manners: a closed stdout, `-` for standard input, only regular files read, shell completion,
`schema`, and help texts that say what each command prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.clirun import assert_ok, digest_line, run_cli, tag_digest
from support.images import push_image
from support.registry import Registry

from manifest_spec.cli.common import EXIT_STDOUT_CLOSED
from manifest_spec.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = "image: registry.example.com/a/b:1\nmanifests:\n  - image: registry.example.com/a/b:1-amd64\n    platform: {os: linux, architecture: amd64}\n"
TYPO = GOOD.replace("architecture", "architecure")
CLI = [sys.executable, "-m", "manifest_spec"]


def run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)  # type: ignore[call-overload]


def spec_text(registry: Registry, repo: str) -> str:
    return f"image: {registry.host}/{repo}:v1\nmanifests:\n  - image: {registry.host}/{repo}:amd64\n    platform: {{os: linux, architecture: amd64}}\n"


# --- a closed stdout ---------------------------------------------------------------------


def test_inspect_into_a_closed_pipe_ends_quietly(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "amd64")
    reader, writer = os.pipe()
    os.close(reader)  # nobody will ever read: the first write fails with EPIPE, every time
    try:
        result = subprocess.run(CLI + ["--plain-http", "inspect", f"{registry.host}/{repo_name}:amd64"],
                                stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == EXIT_STDOUT_CLOSED == 141


def test_inspect_piped_to_head_prints_one_line_and_no_error(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "amd64")
    command = f"{' '.join(CLI)} --plain-http inspect {registry.host}/{repo_name}:amd64 | head -1"
    result = run(["bash", "-c", command])
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Name:      {registry.host}/{repo_name}:amd64\n"
    assert result.stderr == ""


def test_validate_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(TYPO)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(CLI + ["validate", "bad.yaml"], cwd=tmp_path, stdout=writer, stderr=subprocess.PIPE,
                                text=True, timeout=60)
    finally:
        os.close(writer)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
    assert result.returncode == 141


def test_help_into_a_closed_pipe_ends_as_cat_does() -> None:
    # click meets the closed pipe itself here (it prints the help, not our commands).
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(CLI + ["--help"], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == EXIT_STDOUT_CLOSED


@pytest.mark.parametrize("closed", ["stdout", "stdout and stderr"])
def test_started_with_closed_streams_runs_without_a_traceback(tmp_path: Path, closed: str) -> None:
    (tmp_path / "bad.yaml").write_text(TYPO)
    (tmp_path / "good.yaml").write_text(GOOD)
    # `manifest-spec validate ... >&-`: Python starts with sys.stdout None; the exit code still tells.
    script = "exec >&-; " + ("exec 2>&-; " if "stderr" in closed else "") + '"$@"'
    for name, code in (("good.yaml", 0), ("bad.yaml", 1)):
        result = subprocess.run(["bash", "-c", script, "sh", *CLI, "validate", name], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, result.stderr
        assert result.returncode == code


# --- `-` is standard input -------------------------------------------------------------------


def test_validate_dash_reads_stdin_and_names_it_in_errors() -> None:
    good = CliRunner().invoke(main, ["validate", "-"], input=GOOD)
    assert good.exit_code == 0 and good.stdout == "<stdin>: ok\n"
    bad = CliRunner().invoke(main, ["validate", "-"], input=TYPO)
    assert bad.exit_code == 1
    assert bad.stdout == "<stdin>:4:27: manifests[0].platform.architecure: unknown key 'architecure' (did you mean 'architecture'?)\n"


def test_validate_dash_json_names_stdin() -> None:
    result = CliRunner().invoke(main, ["validate", "--output", "json", "-"], input=TYPO)
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["files"]
    assert entry["file"] == "<stdin>" and entry["errors"][0]["line"] == 4


def test_push_from_spec_dash_pushes_what_stdin_says(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "amd64")
    result = run_cli("push", "from-spec", "-", input=spec_text(registry, repo_name))
    assert_ok(result)
    digest, _ = digest_line(result)
    assert tag_digest(registry.url, repo_name, "v1") == digest


def test_push_from_spec_dash_error_names_stdin(registry: Registry, repo_name: str) -> None:
    result = run_cli("push", "from-spec", "-", input=spec_text(registry, repo_name).replace("architecture", "architecure"))
    assert result.exit_code == 1
    assert "<stdin>:4:" in result.stderr and "architecure" in result.stderr
    assert tag_digest(registry.url, repo_name, "v1") is None


def test_plan_dash_reads_stdin(registry: Registry, repo_name: str) -> None:
    push_image(registry.url, repo_name, "amd64")
    result = run_cli("plan", "--output", "json", "-", input=spec_text(registry, repo_name))
    assert_ok(result)
    (planned,) = json.loads(result.stdout)["specs"]
    assert planned["spec"] == "<stdin>"
    assert [tag["action"] for tag in planned["tags"]] == ["create"]


def test_dash_among_several_specs_is_one_of_them(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    push_image(registry.url, repo_name, "amd64")
    other = tmp_path / "other.yaml"
    other.write_text(spec_text(registry, repo_name).replace(":v1\n", ":v2\n", 1))
    result = run_cli("push", "from-spec", str(other), "-", input=spec_text(registry, repo_name))
    assert_ok(result)
    assert [line.split(": Digest: ")[0] for line in result.stdout.splitlines()] == [str(other), "<stdin>"]
    assert tag_digest(registry.url, repo_name, "v1") == tag_digest(registry.url, repo_name, "v2") is not None


def test_dash_among_several_names_stdin_in_errors(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(main, ["push", "from-spec", str(tmp_path / "good.yaml"), "-"], input=TYPO)
    assert result.exit_code == 1
    assert "<stdin>:4:27: manifests[0].platform.architecure" in result.stderr


@pytest.mark.parametrize("command", [("validate",), ("push", "from-spec"), ("plan",), ("lock", "--check")])
def test_dash_twice_is_a_usage_error(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "-", "-"], input=GOOD)
    assert result.exit_code == 2
    assert "standard input (-) holds one spec: give - at most once" in result.stderr


def test_lock_refuses_dash_among_several(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(main, ["lock", str(tmp_path / "good.yaml"), "-"], input=GOOD)
    assert result.exit_code == 2
    assert "standard input (-) has no place beside it for a lock file" in result.stderr
    assert not (tmp_path / "good.lock").exists()


def test_dash_and_password_stdin_exclude_each_other() -> None:
    result = CliRunner().invoke(main, ["--username", "u", "--password-stdin", "push", "from-spec", "-"], input=GOOD)
    assert result.exit_code == 2
    assert "standard input (-) cannot hold both the spec and the --password-stdin password" in result.stderr


def test_lock_dash_is_refused_before_reading_anything() -> None:
    result = CliRunner().invoke(main, ["lock", "-"], input=GOOD)
    assert result.exit_code == 2
    assert "standard input (-) has no place beside it for a lock file" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [("plan", "--locked", "-"), ("push", "from-spec", "--locked", "-")])
def test_locked_with_dash_is_refused(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, list(args), input=GOOD)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: a spec on standard input (-) has no place beside it for a lock file: give its file name, or --lock-file"
    ]


# --- only regular files are read -----------------------------------------------------------


@pytest.mark.parametrize("command", [("validate",), ("push", "from-spec"), ("plan",), ("lock",)])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, command: tuple[str, ...]) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    # Nobody ever opens the FIFO for writing: a reader that opened it the usual way would hang.
    result = run(CLI + ["--plain-http", *command, str(fifo)], stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{fifo}: cannot read spec: a FIFO; give a spec file, or - for standard input" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_a_directory_and_a_device_are_refused_with_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    result = CliRunner().invoke(main, ["validate", str(tmp_path), "/dev/null", str(tmp_path / "good.yaml")])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path}: cannot read spec: a directory; give a spec file, or - for standard input",
        "/dev/null: cannot read spec: a device; give a spec file, or - for standard input",
        f"{tmp_path / 'good.yaml'}: ok",
    ]


# --- validate --skip-non-specs (the pre-commit hook's mode) ------------------------------------


def test_skip_non_specs_leaves_other_yaml_alone_but_not_a_misspelt_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {
        "Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
        "values.yaml": "image:\n  repository: registry.example.com/team/app\n",
        "deployment.yaml": "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  x: {{ .Values.x }}\n",  # not YAML
        "list.yaml": "- a\n- b\n",
        "empty.yaml": "",
        "misspelt.yaml": GOOD.replace("manifests:", "manifest:"),
        "broken.yaml": GOOD.replace("image: registry.example.com/a/b:1\n", "image: [\n"),  # a spec with a syntax error
        "good.yaml": GOOD,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--skip-non-specs", *files])
    as_json = CliRunner().invoke(main, ["validate", "--skip-non-specs", "--output", "json", "Chart.yaml", "good.yaml"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    for name in ("Chart.yaml", "values.yaml", "deployment.yaml", "list.yaml", "empty.yaml"):
        assert f"{name}: skipped (no top-level manifests:, so not a manifest spec)" in lines
    assert "misspelt.yaml:2:1: manifest: unknown key 'manifest' (did you mean 'manifests'?)" in lines
    assert any(line.startswith("broken.yaml:") and "YAML syntax error" in line for line in lines)
    assert "good.yaml: ok" in lines
    assert json.loads(as_json.stdout)["files"] == [
        {"file": "Chart.yaml", "valid": True, "skipped": True, "errors": []},
        {"file": "good.yaml", "valid": True, "errors": []},
    ]


def test_without_skip_non_specs_every_file_is_a_spec(tmp_path: Path) -> None:
    chart = tmp_path / "Chart.yaml"
    chart.write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    result = CliRunner().invoke(main, ["validate", str(chart)])
    assert result.exit_code == 1
    assert f"{chart}:1:1: missing required key 'image'" in result.stdout


# --- shell completion, schema, help --------------------------------------------------------------


# Completion is keyed to the installed command's name, as a shell sees it.
COMMAND = str(Path(sys.executable).parent / "manifest-spec")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_for_each_shell(shell: str) -> None:
    result = run([COMMAND], env={**os.environ, "_MANIFEST_SPEC_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert "_MANIFEST_SPEC_COMPLETE" in result.stdout and "_manifest_spec_completion" in result.stdout
    if shell == "bash":
        assert "complete -o nosort -F _manifest_spec_completion manifest-spec" in result.stdout


@pytest.mark.parametrize("words", ["validate sp", "push from-spec sp", "plan sp", "lock --check sp"])
def test_spec_arguments_complete_file_names(words: str) -> None:
    env = {**os.environ, "_MANIFEST_SPEC_COMPLETE": "bash_complete", "COMP_WORDS": f"manifest-spec {words}",
           "COMP_CWORD": str(len(words.split()))}
    result = run([COMMAND], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["file,sp"]  # bash then completes file names itself


def test_schema_prints_the_packaged_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "schemas" / "manifest-spec.schema.json").read_text("utf-8")
    assert json.loads(result.stdout)["title"] == "manifest-spec spec"


@pytest.mark.parametrize("command", [["inspect"], ["lock"]])
def test_output_help_says_what_the_command_prints(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "--output" in result.stdout
    assert "Digest:" not in result.stdout and "manifest-tool" not in result.stdout


def test_started_with_stdin_closed_reads_it_as_empty(tmp_path: Path) -> None:
    result = subprocess.run(["bash", "-c", 'exec <&-; "$@"', "sh", *CLI, "validate", "-"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, result.stderr
    assert result.returncode == 1 and "<stdin>:1:1: spec file is empty" in result.stdout


@pytest.mark.parametrize("command", [["schema"], ["validate", "good.yaml"]])
def test_a_full_disk_on_stdout_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    with open("/dev/full", "w") as full:
        result = subprocess.run(CLI + command, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "error: cannot write standard output: No space left on device\n"
