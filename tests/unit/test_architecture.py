"""The package's shape, read from its own source with ast (issue 15): imports run one way between
the packages of the README's Architecture section, with no cycle, no private name crosses a module
boundary, no module is over 350 lines and no function over 45. Each rule is also shown failing on
a small made-up package, so a rule that can never fire is caught too."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import manifest_spec

PACKAGE = Path(manifest_spec.__file__).resolve().parent

# Lower first: a package may import one ranked strictly lower (or itself), never one level with it
# or above; specfile and registry share rank 1, so neither imports the other.
RANK = {"oci": 0, "specfile": 1, "registry": 1, "carry": 2, "push": 3, "review": 4, "api": 5, "cli": 6, "__main__": 7}
# The root modules (and the package's __init__) every package may import; they import only each other.
SHARED = {"manifest_spec", "errors", "events", "scrub"}

MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 45  # from `def` to its last line, docstring included, decorators not

Edge = tuple[str, str, str, int]  # importing module, imported module, name taken from it ("" for all), line


def sources(package: Path = PACKAGE) -> dict[str, str]:
    """Module name -> source, for every module of the installed package."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path.read_text(encoding="utf-8")
    return found


def _is_package(module: str, modules: Mapping[str, str]) -> bool:
    return any(other.startswith(module + ".") for other in modules)


def _absolute(module: str, node: ast.ImportFrom, modules: Mapping[str, str]) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if _is_package(module, modules) else parts[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def edges(modules: Mapping[str, str]) -> Iterator[Edge]:
    """Every import of one of `modules` by another, anywhere in a file (function bodies included).

    `from pkg import mod` is an import of pkg.mod when that is a module; `import pkg.mod` followed by
    `mod._name` shows up as a use of the name `_name` (see private_uses).
    """
    for module, source in modules.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, node, modules)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        yield module, f"{target}.{alias.name}", "", node.lineno
                    elif target in modules:
                        yield module, target, alias.name, node.lineno
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        yield module, alias.name, "", node.lineno


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layering_violations(modules: Mapping[str, str]) -> list[str]:
    bad = []
    for importer, imported, _name, line in edges(modules):
        mine, theirs = package_of(importer), package_of(imported)
        lower = mine in RANK and theirs in RANK and RANK[theirs] < RANK[mine]
        if not (mine == theirs or theirs in SHARED or lower):
            bad.append(f"{importer}:{line} imports {imported} ({mine} may not import {theirs})")
    return bad


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(part) > 1:
                found.append(sorted(part))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def graphs(modules: Mapping[str, str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> modules it imports, package -> other packages it imports)."""
    by_module: dict[str, set[str]] = {}
    by_package: dict[str, set[str]] = {}
    for importer, imported, _name, _line in edges(modules):
        if importer != imported:
            by_module.setdefault(importer, set()).add(imported)
        if package_of(importer) != package_of(imported):
            by_package.setdefault(package_of(importer), set()).add(package_of(imported))
    return by_module, by_package


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(modules: Mapping[str, str]) -> list[str]:
    """`from other import _name`, and `other._name` where `other` is a module bound by an import."""
    bad = [f"{a}:{line} imports {b}.{n}" for a, b, n, line in edges(modules) if a != b and _private(n)]
    bad += [f"{a}:{line} imports {b}" for a, b, n, line in edges(modules) if a != b and any(map(_private, b.split(".")))]
    for module, source in modules.items():
        tree = ast.parse(source)
        bound = _module_names(module, tree, modules)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _private(node.attr)):
                bad.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    return bad


def _module_names(module: str, tree: ast.AST, modules: Mapping[str, str]) -> set[str]:
    """The names a file binds to one of `modules` (`from pkg import mod`, `import pkg.mod as mod`)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node, modules)
            bound |= {a.asname or a.name for a in node.names if f"{target}.{a.name}" in modules}
        elif isinstance(node, ast.Import):
            bound |= {a.asname for a in node.names if a.asname and a.name in modules}
    return bound


def too_long(modules: Mapping[str, str]) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions (methods, nested ones) over MAX_FUNCTION_LINES."""
    found = [f"{m}: {n} lines" for m, source in modules.items() if (n := len(source.splitlines())) > MAX_MODULE_LINES]
    for module, source in modules.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{module}:{node.lineno} {node.name}: {length} lines")
    return found


# ------------------------------------------------------------------------------- the real package


def test_the_package_is_read() -> None:
    modules = sources()
    assert {"manifest_spec.api", "manifest_spec.cli.main", "manifest_spec.oci.index"} <= set(modules)
    assert len(list(edges(modules))) > 100  # the reader sees the imports, lazy ones included


def test_imports_run_one_way_between_packages() -> None:
    assert layering_violations(sources()) == []


def test_no_cycle_between_packages_nor_modules() -> None:
    by_module, by_package = graphs(sources())
    assert cycles(by_package) == []
    assert cycles(by_module) == []


def test_specfile_never_imports_registry() -> None:
    assert [e for e in edges(sources()) if package_of(e[0]) == "specfile" and package_of(e[1]) == "registry"] == []


def test_no_private_name_crosses_a_module() -> None:
    assert private_uses(sources()) == []


def test_no_module_nor_function_is_too_long() -> None:
    assert too_long(sources()) == []


# ------------------------------------------------------------------ each rule fires when it should


FAKE = {
    "manifest_spec": "",
    "manifest_spec.errors": "",
    "manifest_spec.oci": "",
    "manifest_spec.oci.reference": "from manifest_spec.errors import ManifestSpecError\n",
    "manifest_spec.specfile": "",
    "manifest_spec.specfile.spec": "from ..oci import reference\n",
    "manifest_spec.registry": "",
    "manifest_spec.registry.client": "from manifest_spec.oci.reference import parse\n",
    "manifest_spec.push": "",
    "manifest_spec.push.engine": "def f():\n    from manifest_spec.registry import client\n",
}


def test_the_rules_pass_a_well_made_package() -> None:
    assert layering_violations(FAKE) == [] and private_uses(FAKE) == []
    assert cycles(graphs(FAKE)[0]) == [] and cycles(graphs(FAKE)[1]) == []


def test_a_lower_package_importing_a_higher_one_is_found() -> None:
    bad = {**FAKE, "manifest_spec.oci.reference": "def f():\n    import manifest_spec.push.engine\n"}
    assert layering_violations(bad) == [
        "manifest_spec.oci.reference:2 imports manifest_spec.push.engine (oci may not import push)"]


def test_specfile_importing_registry_is_found() -> None:
    bad = {**FAKE, "manifest_spec.specfile.spec": "from manifest_spec.registry.client import get\n"}
    assert layering_violations(bad) == [
        "manifest_spec.specfile.spec:1 imports manifest_spec.registry.client (specfile may not import registry)"]


def test_a_shared_module_importing_a_package_is_found() -> None:
    bad = {**FAKE, "manifest_spec.errors": "from manifest_spec.oci import reference\n"}
    assert layering_violations(bad) == [
        "manifest_spec.errors:1 imports manifest_spec.oci.reference (errors may not import oci)"]


def test_cycles_are_found() -> None:
    bad = {**FAKE, "manifest_spec.oci.reference": "from . import shape\n", "manifest_spec.oci.shape": "from . import reference\n"}
    assert cycles(graphs(bad)[0]) == [["manifest_spec.oci.reference", "manifest_spec.oci.shape"]]
    bad = {**FAKE, "manifest_spec.oci.reference": "from manifest_spec.push.engine import run\n"}
    assert cycles(graphs(bad)[1]) == [["oci", "push", "registry"]]  # oci -> push -> registry -> oci


def test_private_names_from_another_module_are_found() -> None:
    bad = {**FAKE,
           "manifest_spec.registry.client": "from manifest_spec.oci.reference import _split\n",
           "manifest_spec.push.engine": "from manifest_spec.registry import client\nclient._retry()\nself._ok = 1\n"}
    assert private_uses(bad) == [
        "manifest_spec.registry.client:1 imports manifest_spec.oci.reference._split",
        "manifest_spec.push.engine:2 uses client._retry",
    ]


def test_a_long_module_and_a_long_function_are_found() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    ok = {"manifest_spec.oci.reference": f"def f():\n{body}" + "\n" * (MAX_MODULE_LINES - MAX_FUNCTION_LINES)}
    assert too_long(ok) == []
    method = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    long_function = {"manifest_spec.oci.reference": f"class C:\n    def f(self):\n{method}"}
    assert too_long(long_function) == [f"manifest_spec.oci.reference:2 f: {MAX_FUNCTION_LINES + 1} lines"]
    long_module = {"manifest_spec.oci.reference": "x = 1\n" * (MAX_MODULE_LINES + 1)}
    assert too_long(long_module) == [f"manifest_spec.oci.reference: {MAX_MODULE_LINES + 1} lines"]
