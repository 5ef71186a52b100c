"""conforms() may only say yes where jsonschema says valid: checked on every example spec and on mutations of them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest

from manifest_spec.specfile.conforms import conforms
from manifest_spec.specfile.document import read_document
from manifest_spec.specfile.spec import load_schema

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/specs/**/*.yaml")])


def _data(path: Path) -> Any:
    """What spec.py hands to the schema check (the reader refuses recursive aliases and the like)."""
    return read_document(path.read_bytes(), {}).data


def mutations(data: Any) -> Iterator[Any]:
    """The document, and copies with one value replaced or one key dropped or added, everywhere."""
    yield data
    if isinstance(data, dict):
        for key in list(data):
            for replacement in ("", 1, None, [], {}, ["1.10", ".bad"]):
                changed = copy.deepcopy(data)
                changed[key] = replacement
                yield changed
            dropped = copy.deepcopy(data)
            del dropped[key]
            yield dropped
            for inner in mutations(data[key]):
                changed = copy.deepcopy(data)
                changed[key] = inner
                yield changed
        added = copy.deepcopy(data)
        added["unknown"] = "x"
        yield added
    elif isinstance(data, list):
        for i, item in enumerate(data):
            for inner in mutations(item):
                changed = copy.deepcopy(data)
                changed[i] = inner
                yield changed
        yield []


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_conforms_agrees_with_jsonschema(path: Path) -> None:
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    documents = list(mutations(_data(path)))
    step = max(1, len(documents) // 200)  # a sample of at most ~200 per file keeps this quick
    for document in documents[::step]:
        assert conforms(document, schema) == validator.is_valid(document), (path, document)


def test_the_valid_examples_take_the_quick_path() -> None:
    valid = [p for p in ROOT.glob("specs/*.yaml")]
    assert valid and all(conforms(_data(p), load_schema()) for p in valid)
