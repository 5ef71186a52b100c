"""A quick yes/no: does a document surely satisfy the packaged JSON Schema? (start-up: no jsonschema import).

Only the keywords the schema uses are understood; anything else answers "not sure" (False), and
then jsonschema itself judges and words every problem. So this never accepts what jsonschema
would refuse; it only spares valid specs the ~50 ms jsonschema costs to import.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, type] = {"object": dict, "array": list, "string": str}
_NOTES = frozenset({"$schema", "$id", "$defs", "title", "description", "deprecated"})  # say nothing about validity


def conforms(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> bool:
    root = root if root is not None else schema
    for keyword, expected in schema.items():
        if keyword in _NOTES:
            continue
        if not _holds(keyword, expected, value, schema, root):
            return False
    return True


def _holds(keyword: str, expected: Any, value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    if keyword == "$ref":
        if not isinstance(expected, str) or not expected.startswith("#/"):
            return False
        target: Any = root
        for part in expected[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return isinstance(target, dict) and conforms(value, target, root)
    if keyword == "type":
        kind = _TYPES.get(expected) if isinstance(expected, str) else None
        return kind is not None and isinstance(value, kind)
    if keyword == "enum":
        return isinstance(expected, list) and any(type(value) is type(e) and value == e for e in expected)
    if not _applies(keyword, value):
        return keyword in _KNOWN  # a keyword about another type holds vacuously (as in JSON Schema)
    if keyword == "required":
        return all(name in value for name in expected)
    if keyword == "properties":
        return all(conforms(value[name], sub, root) for name, sub in expected.items() if name in value)
    if keyword == "additionalProperties":
        extra = [name for name in value if name not in schema.get("properties", {})]
        if expected is False:
            return not extra
        return isinstance(expected, dict) and all(conforms(value[name], expected, root) for name in extra)
    if keyword == "propertyNames":
        return isinstance(expected, dict) and all(conforms(name, expected, root) for name in value)
    if keyword == "items":
        return isinstance(expected, dict) and all(conforms(item, expected, root) for item in value)
    if keyword == "minItems":
        return isinstance(expected, int) and len(value) >= expected
    if keyword == "minLength":
        return isinstance(expected, int) and len(value) >= expected
    if keyword == "pattern":
        return isinstance(expected, str) and re.search(python_pattern(expected), value) is not None
    return False  # a keyword not understood here: let jsonschema decide


def python_pattern(pattern: str) -> str:
    """A schema pattern as Python must run it: ECMA's final `$` is the end of the text, Python's
    also matches before a final newline ("v1\\n" would pass as a tag), so it becomes `\\Z`."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


_OBJECT = ("required", "properties", "additionalProperties", "propertyNames")
_KNOWN = frozenset({*_OBJECT, "items", "minItems", "minLength", "pattern"})


def _applies(keyword: str, value: Any) -> bool:
    """Whether `value` is of the type `keyword` speaks about (an unknown keyword: no, and _KNOWN says False)."""
    if keyword in _OBJECT:
        return isinstance(value, dict)
    if keyword in ("items", "minItems"):
        return isinstance(value, list)
    if keyword in ("minLength", "pattern"):
        return isinstance(value, str)
    return False
