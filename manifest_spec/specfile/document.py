"""YAML text → plain values (every scalar as the text written) with the line of every node."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from manifest_spec.errors import Problem, SpecError

MAX_BYTES = 1024 * 1024
# Far above any real spec (spec.MAX_MEMBERS members of ~10 nodes each), far below what an alias
# bomb expands to; a spec nests 4 levels (manifests, a member, platform, os.features).
MAX_NODES = 100_000
MAX_DEPTH = 64

STDIN = "-"  # as a SPEC argument: read standard input
STDIN_NAME = "<stdin>"  # how errors name it: <stdin>:LINE:COL
PathKey = tuple[Union[str, int], ...]
_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
# The tags plain YAML resolves to (and `!!str` etc. written out); `!!python/...` and the like are not.
_STANDARD_TAGS = frozenset(
    _YAML_TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null", "timestamp", "merge", "value", "map", "seq")
)
_NULL_WORDS = {"", "~", "null", "Null", "NULL"}
# A key at the start of a line (column 0): the top level of a block mapping.
_TOP_KEY_RE = re.compile(r"""^(["']?)([A-Za-z_][\w.-]*)\1[ \t]*:""", re.M)
_VARIABLE_RE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|(\{[^}]*\}?))")


@dataclass
class Document:
    """Plain data plus where each value (and each mapping key) starts, 1-based."""

    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    problems: list[tuple[int, int, str, str]] = field(default_factory=list)
    # Values not read as written (unsupported tag, bad variable): a problem already says why.
    unreadable: set[PathKey] = field(default_factory=set)

    def where(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """The position of the node at path (or of its key), else of its nearest parent."""
        table = self.keys if key else self.values
        while path not in table and path:
            path = path[:-1]
            table = self.values
        return table.get(path, (1, 1))


def json_path(path: PathKey) -> str:
    """('manifests', 1, 'platform') → 'manifests[1].platform'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Reader:
    def __init__(self, doc: Document, variables: Mapping[str, str]) -> None:
        self.doc = doc
        self.variables = variables
        self.count = 0

    def problem(self, node: yaml.Node, path: PathKey, message: str) -> None:
        self.doc.problems.append((node.start_mark.line + 1, node.start_mark.column + 1, json_path(path), message))

    def read(self, node: yaml.Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(path) > MAX_DEPTH:
            raise _TooLarge(node, path)
        self.doc.values.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _STANDARD_TAGS:
            tag = node.tag.replace(_YAML_TAG_PREFIX, "!!", 1)
            self.problem(node, path, f"unsupported YAML tag {tag}: write plain values")
            self.doc.unreadable.add(path)
            return None
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)  # the three node kinds YAML has
        return self.mapping(node, path)

    def scalar(self, node: yaml.ScalarNode, path: PathKey) -> str | None:
        # A plain scalar's style is None from PyYAML's parser, "" from libyaml's.
        if not node.style and node.tag == _YAML_TAG_PREFIX + "null" and node.value in _NULL_WORDS:
            return None
        return self.substitute(node, path)

    def substitute(self, node: yaml.ScalarNode, path: PathKey) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default, malformed = match.group(1), match.group(2), match.group(3)
            if match.group(0) == "$$":
                return "$"
            if malformed is not None:
                self.doc.unreadable.add(path)
                self.problem(node, path, f"malformed variable ${malformed}: write ${{NAME}} or ${{NAME:-default}}, or $$ for a literal $")
                return match.group(0)
            value = self.variables.get(name)
            if value is None or (value == "" and default is not None):
                if default is not None:
                    return default
                self.doc.unreadable.add(path)
                self.problem(node, path, f"undefined variable ${{{name}}}: pass --var {name}=VALUE, set it in the environment, or write ${{{name}:-default}}")
                return match.group(0)
            return value

        return _VARIABLE_RE.sub(replace, node.value) if "$" in node.value else node.value

    def mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self.merged_pairs(node, path):
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, path, "mapping keys must be plain text")
                continue
            key = key_node.value
            child = path + (key,)
            if key in result:
                first = self.doc.keys[child]
                self.problem(key_node, child, f"duplicate key {key!r} (first at line {first[0]})")
                continue
            self.doc.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.read(value_node, child)
        return result

    def merged_pairs(self, node: yaml.MappingNode, path: PathKey, depth: int = 0) -> list[tuple[yaml.Node, yaml.Node]]:
        """Own pairs first, then YAML merge keys (`<<: *anchor`) for keys not set here."""
        if depth > MAX_DEPTH:  # `&a {<<: *a}` merges itself forever
            raise _TooLarge(node, path)
        own = [(k, v) for k, v in node.value if k.tag != _YAML_TAG_PREFIX + "merge"]
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _YAML_TAG_PREFIX + "merge":
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                self.count += 1
                if self.count > MAX_NODES:
                    raise _TooLarge(node, path)
                if not isinstance(source, yaml.MappingNode):
                    self.problem(source, path, "a merge key (<<) takes a mapping or a list of mappings")
                    continue
                merged.extend(self.merged_pairs(source, path, depth + 1))
        names = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        extra: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in merged:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value not in names:
                names.add(key_node.value)
                extra.append((key_node, value_node))
        return own + extra


def _compose(text: str) -> yaml.Node | None:
    """The node tree, by libyaml when PyYAML has it (a tenth of the CPU of the pure-Python parser).
    Anything it refuses, or a tree nested past the limit, is parsed again by the pure-Python
    parser, whose messages (and RecursionError) are the ones users are shown."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            root = yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            root = None
        else:
            if root is None or _shallow(root):
                return root
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _shallow(root: yaml.Node) -> bool:
    """No path from the root deeper than MAX_DEPTH (each node visited once: aliases share nodes)."""
    seen: set[int] = set()
    level: list[yaml.Node] = [root]
    for _ in range(MAX_DEPTH + 1):
        below: list[yaml.Node] = []
        for node in level:
            if isinstance(node, yaml.SequenceNode):
                below += node.value
            elif isinstance(node, yaml.MappingNode):
                below += [n for pair in node.value for n in pair]
        level = [n for n in below if not isinstance(n, yaml.ScalarNode) and id(n) not in seen]
        seen.update(id(n) for n in level)
        if not level:
            return True
    return False


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node, path: PathKey) -> None:
        self.node = node
        self.path = path


def read_source(path: str) -> tuple[str, bytes]:
    """The name to report and the bytes of a spec: `-` is standard input; else only a regular file.

    A FIFO, a device or a directory would block or make no sense, so it is refused without
    reading: it is opened non-blocking and checked on the open descriptor (no race with a swap).
    """
    if path == STDIN:
        return STDIN_NAME, sys.stdin.buffer.read(MAX_BYTES + 1)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise SpecError([Problem(path, 0, 0, "", f"cannot read spec: {e.strerror or e}")]) from e
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise SpecError([Problem(path, 0, 0, "", f"cannot read spec: {kind}; give a spec file, or - for standard input")])
    with os.fdopen(fd, "rb") as f:
        return path, f.read(MAX_BYTES + 1)  # enough to say "too large" without reading a huge file


def looks_like_spec(raw: bytes) -> bool:
    """Whether YAML bytes are meant as a spec: a top-level `manifests:` key, or a misspelling of it.

    For `validate --skip-non-specs` (the pre-commit hook), whose file pattern also catches other
    YAML such as a Helm chart's specs/Chart.yaml. A near miss still counts, so a spec with a typo
    in `manifests:` is checked, not skipped; so does anything too odd to tell (too large, not UTF-8).
    """
    if len(raw) > MAX_BYTES:
        return True
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return True
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if not isinstance(root, yaml.MappingNode):
            return False  # empty, a list, a scalar: not a spec, whatever a pattern matched
        keys = [k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)]
    except (yaml.YAMLError, RecursionError):  # broken YAML (or a template): judge by its lines
        keys = [m.group(2) for m in _TOP_KEY_RE.finditer(text)]
    import difflib  # --skip-non-specs only

    return any(difflib.get_close_matches(key.lower(), ["manifests"], n=1, cutoff=0.8) for key in keys)


def _yaml_problem(e: BaseException, text: str) -> tuple[int, int, str, str]:
    """Where and why `text` is not YAML a spec can be read from."""
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = e.problem or e.context or "invalid YAML"
        if e.problem and e.context:
            start = e.context_mark
            started = f" that starts at line {start.line + 1}" if start and start.line + 1 != line else ""
            message += f" ({e.context}{started})"
        if mark and text[mark.index - 1 : mark.index + 1] == "${":
            message += "; inside [...] or {...} quote a value that uses ${NAME}"
        return (line, column, "", f"YAML syntax error: {message}")
    if isinstance(e, yaml.reader.ReaderError):  # e.g. a NUL byte; position counts characters of text
        line = text.count("\n", 0, e.position) + 1
        column = e.position - text.rfind("\n", 0, e.position)
        return (line, column, "", f"YAML error: {str(e).splitlines()[0]}")
    if isinstance(e, RecursionError):  # the composer recurses once per nesting level
        return (1, 1, "", f"YAML nests far deeper than {MAX_DEPTH} levels; a spec nests 4")
    return (1, 1, "", f"YAML error: {e}")


def read_document(raw: bytes, variables: Mapping[str, str]) -> Document:
    """Parse one YAML document safely; problems are collected, never raised."""
    doc = Document(data=None)
    if len(raw) > MAX_BYTES:
        doc.problems.append((1, 1, "", "spec file is over the 1 MiB limit; a spec is a few KiB"))
        return doc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        doc.problems.append((1, 1, "", f"spec file is not UTF-8 text (byte {e.start})"))
        return doc
    try:
        root = _compose(text)
    except (yaml.YAMLError, RecursionError) as e:
        doc.problems.append(_yaml_problem(e, text))
        return doc
    if root is None:
        doc.problems.append((1, 1, "", "spec file is empty"))
        return doc
    reader = _Reader(doc, variables)
    try:
        doc.data = reader.read(root, ())
    except _TooLarge as e:
        # Point at the top-level key whose value explodes, not at the innocent node repeated.
        mark = e.node.start_mark
        line, column = doc.keys.get(e.path[:1], (mark.line + 1, mark.column + 1))
        doc.data = None
        if len(e.path) > MAX_DEPTH:
            message = f"YAML nests more than {MAX_DEPTH} levels deep; at most {MAX_DEPTH} (a spec nests 4; a recursive alias or alias bomb never ends)"
        else:
            message = f"YAML expands to more than {MAX_NODES} values; at most {MAX_NODES} (an alias bomb expands to billions)"
        doc.problems.append((line, column, "", message))
    return doc
