"""The GitHub Action (action.yml): no runner is reachable here, so its steps run as the runner runs
a composite action's: each `run:` as `bash --noprofile --norc -eo pipefail FILE`, its `env:` with
`${{ inputs.x }}` (defaults applied) and `${{ github.action_path }}` substituted, fresh
GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_PATH files per step (GITHUB_PATH prepended to PATH for
the steps after), and the action's outputs read from `${{ steps.ID.outputs.NAME }}`. The install
step pip-installs the action's own checkout (a copy of this tree) into a fresh virtualenv, as the
packaging tests install; the pushes go to the real local registry.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.images import push_image, push_index
from support.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
USER, PASSWORD = "ci-bot", "action-secret-1"


def _parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT's format: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


@dataclass
class Runner:
    """One job's runner state: where it keeps its files, and what GITHUB_PATH added."""

    work: Path
    action_path: Path
    paths: list[str] = field(default_factory=list)
    summary: str = ""

    def value(self, expression: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
        """The few expressions this action uses; anything else fails the test (the runner would
        understand it, this test would not, so it must learn it first)."""
        if expression == "github.action_path":
            return str(self.action_path)
        if expression.startswith("inputs."):
            name = expression.removeprefix("inputs.")
            assert name in ACTION["inputs"], f"undeclared input {name}"
            return str(inputs.get(name, ACTION["inputs"][name].get("default", "")))
        match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        assert match, f"an expression this test does not evaluate: {expression}"
        return steps.get(match.group(1), {}).get(match.group(2), "")

    def substitute(self, text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
        return EXPRESSION.sub(lambda m: self.value(m.group(1), inputs, steps), text)

    def run(self, inputs: dict[str, str], *, start: int = 1, stop: int | None = None, env: dict[str, str] | None = None) -> Result:
        """The steps from `start` (1: after the install, which the `installed` fixture ran once) in
        order, stopping at the first that fails."""
        steps: dict[str, dict[str, str]] = {}
        done = None
        for number, step in list(enumerate(ACTION["runs"]["steps"]))[start:stop]:
            files = {name: self.work / f"{name}-{number}" for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_PATH")}
            for path in files.values():
                path.write_text("")
            script = self.work / f"step-{number}.sh"
            script.write_text(step["run"])
            step_env = {
                **os.environ, **(env or {}), **{name: str(path) for name, path in files.items()},
                "RUNNER_TEMP": str(self.work / "temp"), "GITHUB_ACTION_PATH": str(self.action_path),
                "PATH": os.pathsep.join([*reversed(self.paths), os.environ["PATH"]]),
                **{name: self.substitute(str(value), inputs, steps) for name, value in (step.get("env") or {}).items()},
            }
            (self.work / "temp").mkdir(exist_ok=True)
            workspace = self.work / "workspace"  # GITHUB_WORKSPACE, where a job's steps run
            workspace.mkdir(exist_ok=True)
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=step_env, cwd=workspace,
                                  capture_output=True, text=True, timeout=600, check=False)
            self.paths += [line for line in files["GITHUB_PATH"].read_text().splitlines() if line]
            self.summary += files["GITHUB_STEP_SUMMARY"].read_text()
            if "id" in step:
                steps[step["id"]] = _parse_outputs(files["GITHUB_OUTPUT"].read_text())
            if done.returncode != 0:
                return Result(done.returncode, done.stdout, done.stderr, {})
        assert done is not None
        outputs = {name: self.substitute(spec["value"], inputs, steps) for name, spec in ACTION["outputs"].items()}
        return Result(0, done.stdout, done.stderr, outputs)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The action's first step, once: manifest-spec installed from the action's checkout."""
    work = tmp_path_factory.mktemp("runner")
    checkout = work / "action"  # what `uses: OWNER/manifest-spec@REF` checks out
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"))
    runner = Runner(work, checkout)
    install = ACTION["runs"]["steps"][0]
    assert "id" not in install and "pip install" in install["run"] and '"$ACTION_PATH"' in install["run"]
    done = runner.run({}, start=0, stop=1)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("manifest-spec, version") and len(runner.paths) == 1
    venv = Path(runner.paths[0])
    assert str(ROOT) not in subprocess.run([str(venv / "python"), "-c", "import manifest_spec; print(manifest_spec.__file__)"],
                                           capture_output=True, text=True, check=True, cwd=work).stdout  # the checkout's copy, installed
    return runner


@pytest.fixture
def runner(installed: Runner, tmp_path: Path) -> Iterator[Runner]:
    """A job of its own (fresh files and summary) on the installed runner."""
    yield Runner(tmp_path, installed.action_path, list(installed.paths))


def test_action_yml_is_a_composite_action_whose_scripts_paste_no_input() -> None:
    assert ACTION["runs"]["using"] == "composite"
    used = set()
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash" and "if" not in step
        assert "${{" not in step["run"], "inputs reach the scripts through env:, never pasted into the shell code"
        used |= {m.group(1) for v in (step.get("env") or {}).values() for m in re.finditer(r"inputs\.([\w-]+)", str(v))}
    assert used == set(ACTION["inputs"]), set(ACTION["inputs"]) ^ used  # every input declared is used, and only those
    assert {"digest", "digests", "json", "changes"} <= set(ACTION["outputs"])


def test_the_matrix_merge_job_pushes_from_a_directory_of_digest_files(runner: Runner, registry: Registry,
                                                                     repo_name: str) -> None:
    description = {"org.opencontainers.image.description": "The app"}
    built = [push_image(registry.url, repo_name, None, architecture=arch, oci=True, labels=description).digest
             for arch in ("amd64", "arm64", "s390x")]
    folder = runner.work / "digests"
    folder.mkdir()
    for number, digest in enumerate(built):  # the three spellings matrix jobs use
        (folder / [digest, digest.replace(":", "-"), digest.removeprefix("sha256:")][number]).touch()
    result = runner.run({
        "command": "push", "target": f"{registry.host}/{repo_name}:1.4.2", "tags": "1.4,latest", "type": "oci",
        "digests-dir": str(folder), "repository": f"{registry.host}/{repo_name}",
        "annotation-from-label": "org.opencontainers.image.description", "global-args": "--plain-http",
    })
    assert result.code == 0, result.stderr
    pushed = json.loads(result.outputs["json"])
    assert result.outputs["digest"] == pushed["digest"]
    assert json.loads(result.outputs["digests"]) == {
        f"{registry.host}/{repo_name}:{tag}": pushed["digest"] for tag in ("1.4.2", "1.4", "latest")}
    assert sorted(m["digest"] for m in pushed["members"]) == sorted(built)
    assert pushed["annotationsFromLabels"] == description
    served = subprocess.run(["curl", "-sf", "-H", "Accept: application/vnd.oci.image.index.v1+json",
                             f"{registry.url}/v2/{repo_name}/manifests/latest"], capture_output=True, check=True).stdout
    assert json.loads(served)["annotations"] == description
    assert f"| `{registry.host}/{repo_name}:latest` | `{pushed['digest']}` |" in runner.summary


def test_plan_writes_its_markdown_to_the_job_summary_and_validate_fails_on_a_typo(runner: Runner, registry: Registry,
                                                                                 repo_name: str) -> None:
    amd64 = push_image(registry.url, repo_name, "amd64", oci=True)
    push_index(registry.url, repo_name, "buildx", [amd64], attestations=True)
    spec = runner.work / "specs" / "app.yaml"
    spec.parent.mkdir()
    spec.write_text(f"image: {registry.host}/{repo_name}:v1\ntype: oci\nmanifests:\n  - image: {registry.host}/{repo_name}:buildx\n")
    planned = runner.run({"command": "plan", "specs": f"{runner.work}/specs/*.yaml", "attestations": "drop",
                          "global-args": "--plain-http"})
    assert planned.code == 0, planned.stderr
    assert planned.outputs["changes"] == "true"
    assert "#### manifest-spec plan" in runner.summary and "attestation entry of member indexes dropped" in runner.summary
    assert runner.run({"command": "validate", "specs": str(spec)}).code == 0
    spec.write_text(spec.read_text().replace("image:", "imgae:", 1))
    invalid = runner.run({"command": "validate", "specs": str(spec)})
    assert invalid.code == 1 and "unknown key 'imgae'" in invalid.stdout


@pytest.fixture(scope="module")
def basic_account() -> tuple[str, str]:
    """The one account of `basic_registry` (conftest)."""
    return USER, PASSWORD


@pytest.mark.parametrize("way", ["docker-login-action", "inputs"])
def test_credentials_from_docker_login_or_from_inputs(runner: Runner, basic_registry: Registry, way: str) -> None:
    import requests

    session = requests.Session()
    session.auth = (USER, PASSWORD)
    image = push_image(basic_registry.url, "action/app", None, session=session)
    inputs = {"target": f"{basic_registry.host}/action/app:{way}", "images": f"\n {basic_registry.host}/action/app@{image.digest}\n",
              "global-args": "--plain-http"}
    env = {}
    if way == "docker-login-action":  # what docker/login-action leaves: ~/.docker/config.json with auths
        home = runner.work / "runner-home"  # not the HOME of the other runs
        (home / ".docker").mkdir(parents=True)
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        (home / ".docker" / "config.json").write_text(json.dumps({"auths": {basic_registry.host: {"auth": auth}}}))
        env["HOME"] = str(home)
    else:
        inputs.update({"registry": basic_registry.host, "username": USER, "password": PASSWORD})
    result = runner.run(inputs, env=env)
    assert result.code == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr + runner.summary
    assert json.loads(result.outputs["digests"]) == {f"{basic_registry.host}/action/app:{way}": result.outputs["digest"]}
    denied = runner.run({**inputs, "target": f"{basic_registry.host}/action/app:anonymous", "registry": "", "username": "",
                         "password": ""})
    assert denied.code == 1 and "refused access anonymously" in denied.stderr, denied.stderr



def _readme_yaml(first_line: str) -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text()
    (block,) = [b.split("```", 1)[0] for b in readme.split("```yaml\n")[1:] if b.startswith(first_line)]
    parsed: dict[str, Any] = yaml.safe_load(block)
    return parsed


def test_the_readme_workflow_gives_the_action_only_inputs_it_has() -> None:
    workflow = _readme_yaml("# .github/workflows/release.yaml")
    (step,) = [s for s in workflow["jobs"]["merge"]["steps"] if "manifest-spec@" in s.get("uses", "")]
    assert set(step["with"]) <= set(ACTION["inputs"]), set(step["with"]) - set(ACTION["inputs"])
    assert "steps.index.outputs.digest" in str(workflow["jobs"]["merge"]["steps"][-1])
    assert {"digest"} <= set(ACTION["outputs"])


def test_the_readme_gitlab_merge_job_runs_as_written(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    merge = _readme_yaml("# .gitlab-ci.yml — MANIFEST_SPEC_GIT")["merge"]
    install, command = merge["script"]
    assert install == 'pip install "git+$MANIFEST_SPEC_GIT@$MANIFEST_SPEC_REV"'  # test_packaging runs that line
    digests = tmp_path / "digests"
    digests.mkdir()
    for arch in ("amd64", "arm64"):  # what the build jobs leave in their artifacts
        (digests / push_image(registry.url, repo_name, None, architecture=arch, labels={"org.opencontainers.image.description": "d"})
         .digest.removeprefix("sha256:")).touch()
    env = {**os.environ, "CI_REGISTRY_IMAGE": f"{registry.host}/{repo_name}", "CI_COMMIT_REF_SLUG": "v1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # a loopback registry: http found
    done = subprocess.run(["sh", "-ec", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    served = subprocess.run(["curl", "-sf", "-H", "Accept: application/vnd.oci.image.index.v1+json",
                             f"{registry.url}/v2/{repo_name}/manifests/latest"], capture_output=True, check=True).stdout
    assert len(json.loads(served)["manifests"]) == 2 and json.loads(served)["annotations"] == {"org.opencontainers.image.description": "d"}
