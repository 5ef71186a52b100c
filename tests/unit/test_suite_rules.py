"""The suite's own rules, read from its source (ast): one spec builder and one place registries are
started, so the copies issue 15 removed do not grow back.

- A spec is built with tests/support/specs.py (or written as YAML text when it is meant to be
  wrong): no dict literal with both `image` and `manifests` keys anywhere else.
- A registry is started for tests by the fixtures of tests/conftest.py: no fixture elsewhere
  starts one (`started_registry`, `started_ggcr_registry`, or a `...Registry(...)` of support).
  A test that needs a one-off configuration may still start one inside itself, in a `with`.
- A proxy in front of a registry (fault, recording, chaos, TLS front) is a fixture only there too
  (`fault_proxy`, `recording_proxy`, `token_front`): a test file takes it (and may set it up, as
  test_engine's `slow` does) but does not define its own; a one-off one is a `with` in the test.
- `support` is a package on the path pytest (`pythonpath = tests`) and the Makefile's tool targets
  (`PYTHONPATH=tests`) set: no file of tests/ or tools/ edits `sys.path`.
- A fixture reaches a test through pytest (conftest.py, or the test's own file), never by import:
  no `from support.ggcr import registry_on_both as registry`. A test file runs on both registries by
  the `both_registries` marker (tests/conftest.py's pytest_generate_tests).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Callable

TESTS = Path(__file__).resolve().parents[1]
TOOLS = TESTS.parent / "tools"
BUILDER = TESTS / "support" / "specs.py"
FIXTURES = TESTS / "conftest.py"
STARTERS = frozenset({"started_registry", "started_ggcr_registry", "Registry", "GgcrRegistry", "MTLSRegistry"})
# What stands in front of a registry. Not support.forward_proxy.ForwardProxy: an HTTP forward proxy
# the client is configured to use (HTTP_PROXY), fronting no registry in particular.
FRONTS = frozenset({"FaultProxy", "RecordingProxy", "ChaosProxy", "TLSFront"})


@lru_cache(maxsize=1)
def sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(TESTS.rglob("*.py"))]


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(TESTS.parent)}:{getattr(node, 'lineno', 0)}"


def is_fixture(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def is_spec_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and {"image", "manifests"} <= {k.value for k in node.keys if isinstance(k, ast.Constant)}


def called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def test_specs_are_built_by_the_one_builder() -> None:
    found = []
    for path, tree in sources():
        if path == BUILDER:
            continue
        found += [where(path, node) for node in ast.walk(tree) if is_spec_literal(node)]
    assert found == [], f"hand-written specs (use support.specs.spec / repo_spec / member): {found}"


def fixtures_outside_conftest_calling(callees: frozenset[str]) -> list[str]:
    """`file:line name` of each fixture, outside tests/conftest.py, that calls one of `callees`."""
    found = []
    for path, tree in sources():
        if path == FIXTURES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and is_fixture(node) and called_names(node) & callees:
                found.append(f"{where(path, node)} {node.name}")
    return found


def test_registries_are_started_only_by_the_shared_fixtures() -> None:
    found = fixtures_outside_conftest_calling(STARTERS)
    assert found == [], f"fixtures starting a registry outside tests/conftest.py: {found}"


def test_registry_proxies_are_fixtures_only_in_the_shared_conftest() -> None:
    found = fixtures_outside_conftest_calling(FRONTS)
    assert found == [], f"fixtures starting a proxy in front of a registry outside tests/conftest.py (take fault_proxy or recording_proxy): {found}"


def imported_fixtures(tree: ast.AST, fixtures_of: Callable[[str], set[str]]) -> list[str]:
    """`module.name` for each fixture imported by `from module import name` (`fixtures_of(module)`:
    the fixtures a module of tests/ defines)."""
    return [f"{node.module}.{alias.name}" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names if alias.name in fixtures_of(node.module)]


@lru_cache(maxsize=None)
def fixtures_in(module: str) -> set[str]:
    """The fixtures defined by a module of tests/ (`conftest`, `support.ggcr`); none for any other."""
    tree = dict(sources()).get(TESTS.joinpath(*module.split(".")).with_suffix(".py"))
    if tree is None:
        return set()
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and is_fixture(node)}


def test_no_file_imports_a_fixture() -> None:
    found = []
    for path, tree in sources():
        found += [f"{path.relative_to(TESTS.parent)} {name}" for name in imported_fixtures(tree, fixtures_in)]
    assert found == [], f"fixtures imported (define them in tests/conftest.py; mark a module both_registries to run it on both): {found}"


def sys_path_uses(tree: ast.AST) -> list[ast.Attribute]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "path" and isinstance(n.value, ast.Name) and n.value.id == "sys"]


def test_no_file_edits_sys_path() -> None:
    found = []
    tools = [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in sorted(TOOLS.rglob("*.py"))]
    for path, tree in [*sources(), *tools]:
        found += [where(path, node) for node in sys_path_uses(tree)]
    assert found == [], f"sys.path edited (support is on the path: pytest's pythonpath, PYTHONPATH=tests for tools/): {found}"


def test_the_rules_see_what_they_forbid() -> None:
    """The checks above would fail on the copies they replaced (so an empty list means something)."""
    copy = ast.parse(
        "import pytest\n"
        "@pytest.fixture(scope='module')\n"
        "def other_registry():\n"
        "    with Registry() as registry:\n"
        "        yield registry\n"
        "@pytest.fixture\n"
        "def proxy(registry):\n"
        "    with support.faults.FaultProxy(registry.host) as p:\n"
        "        yield p\n"
        "@pytest.fixture\n"
        "def slow(fault_proxy):\n"
        "    fault_proxy.delay = 0.15\n"
        "    return fault_proxy\n"
        "def spec(target, arch):\n"
        "    return {'image': target, 'manifests': [{'image': target, 'platform': {'os': 'linux', 'architecture': arch}}]}\n"
    )
    fixtures = [n for n in ast.walk(copy) if isinstance(n, ast.FunctionDef) and is_fixture(n)]
    assert [f.name for f in fixtures] == ["other_registry", "proxy", "slow"]
    assert [called_names(f) & STARTERS for f in fixtures] == [{"Registry"}, set(), set()]
    assert [called_names(f) & FRONTS for f in fixtures] == [set(), {"FaultProxy"}, set()]  # taking one is fine
    assert len([n for n in ast.walk(copy) if is_spec_literal(n)]) == 1
    tool = ast.parse("import sys\nsys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))\nimport support\n")
    assert [n.lineno for n in sys_path_uses(tool)] == [2]
    trick = ast.parse("from support.ggcr import registry_on_both as registry\nfrom support.images import push_image\nfrom conftest import GROUPS\n")
    made_up = {"support.ggcr": {"registry_on_both"}, "conftest": {"registry"}}
    assert imported_fixtures(trick, lambda module: made_up.get(module, set())) == ["support.ggcr.registry_on_both"]


def test_test_file_names_are_unique_across_the_folders() -> None:
    """The test folders are no packages: two `test_x.py` in two folders stop the whole run at collection."""
    names = [path.name for path in TESTS.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
