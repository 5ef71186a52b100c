"""manifest_spec.specfile.document: YAML text → plain text values with positions; and variables via parse_spec."""

from __future__ import annotations

import pytest

from manifest_spec.errors import SpecError
from manifest_spec.specfile.document import MAX_BYTES, MAX_DEPTH, MAX_NODES, Document, json_path, read_document
from manifest_spec.specfile.spec import parse_spec


def read(text: str, **variables: str) -> Document:
    return read_document(text.encode("utf-8"), variables)


def messages(doc: Document) -> list[str]:
    return [message for _, _, _, message in doc.problems]


def problems_of(raw: bytes, **kwargs):  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        parse_spec(raw, "spec.yaml", **kwargs)
    return info.value.problems


# --- values and positions ------------------------------------------------------------------

SPEC = """\
image: registry.example.com/app:1.0
tags: [1.10, 2]
manifests:
  - image: registry.example.com/app:1.0-386
    platform:
      os: linux
      architecture: 386
"""


def test_every_scalar_is_the_text_written() -> None:
    doc = read("a: 386\nb: 1.10\nc: true\nd: 0x1F\ne: 2001-12-14\nf: 1e3\ng: .inf\nh: 010\ni: no\n")
    assert doc.problems == []
    assert doc.data == {
        "a": "386", "b": "1.10", "c": "true", "d": "0x1F", "e": "2001-12-14",
        "f": "1e3", "g": ".inf", "h": "010", "i": "no",
    }  # fmt: skip


def test_nulls_only_when_plain() -> None:
    doc = read('a:\nb: ~\nc: null\nd: "null"\ne: \'~\'\nf: NULL\n')
    assert doc.data == {"a": None, "b": None, "c": None, "d": "null", "e": "~", "f": None}


def test_keys_are_text_too() -> None:
    doc = read("1: a\ntrue: b\n1.10: c\n")
    assert doc.data == {"1": "a", "true": "b", "1.10": "c"}


def test_positions_of_values_and_keys() -> None:
    doc = read(SPEC)
    assert doc.data["tags"] == ["1.10", "2"]
    assert doc.where(("image",)) == (1, 8)
    assert doc.where(("image",), key=True) == (1, 1)
    assert doc.where(("tags", 1)) == (2, 14)
    assert doc.where(("manifests", 0)) == (4, 5)
    assert doc.where(("manifests", 0, "platform", "architecture")) == (7, 21)
    assert doc.where(("manifests", 0, "platform", "architecture"), key=True) == (7, 7)


def test_positions_with_crlf_line_ends() -> None:
    doc = read(SPEC.replace("\n", "\r\n"))
    assert doc.problems == []
    assert doc.data["manifests"][0]["platform"] == {"os": "linux", "architecture": "386"}
    assert doc.where(("manifests", 0, "platform", "architecture")) == (7, 21)


def test_where_falls_back_to_the_nearest_parent() -> None:
    doc = read(SPEC)
    assert doc.where(("manifests", 0, "platform", "variant")) == doc.where(("manifests", 0, "platform"))
    assert doc.where(("manifests", 0, "platform", "variant"), key=True) == (6, 7)  # the platform mapping
    assert doc.where(("nothing", "here")) == (1, 1)


def test_json_path() -> None:
    assert json_path(()) == ""
    assert json_path(("manifests", 1, "platform")) == "manifests[1].platform"
    assert json_path(("annotations", "org.opencontainers.image.source")) == "annotations.org.opencontainers.image.source"
    assert json_path(("tags", 0)) == "tags[0]"


def test_duplicate_key_is_a_problem_and_first_wins() -> None:
    doc = read("image: a:1\nmanifests: []\nimage: b:2\n")
    assert doc.data["image"] == "a:1"
    assert doc.problems == [(3, 1, "image", "duplicate key 'image' (first at line 1)")]


def test_duplicate_key_nested() -> None:
    doc = read("m:\n  - platform:\n      os: linux\n      os: windows\n")
    assert doc.problems == [(4, 7, "m[0].platform.os", "duplicate key 'os' (first at line 3)")]


def test_merge_keys_own_keys_win_and_earlier_sources_win() -> None:
    doc = read("base: &b {os: linux, architecture: arm, variant: v6}\nx:\n  <<: [{variant: v7}, *b]\n  architecture: arm64\n")
    assert doc.problems == []
    assert doc.data["x"] == {"architecture": "arm64", "variant": "v7", "os": "linux"}
    # a merged value is located where it is written (in the anchor)
    assert doc.where(("x", "os")) == (1, 15)


def test_merge_key_needs_a_mapping() -> None:
    doc = read("a: &a [1]\nb:\n  <<: *a\n  c: d\n")
    assert messages(doc) == ["a merge key (<<) takes a mapping or a list of mappings"]
    assert doc.data["b"] == {"c": "d"}


def test_mapping_keys_must_be_text() -> None:
    doc = read("? [a, b]\n: c\nd: e\n")
    assert messages(doc) == ["mapping keys must be plain text"]
    assert doc.data == {"d": "e"}


def test_unsupported_tags() -> None:
    doc = read("a: !foo x\nb: !!python/tuple [1]\nc: !!str 5\nd: !!int 7\n")
    assert doc.data == {"a": None, "b": None, "c": "5", "d": "7"}
    assert doc.problems == [
        (1, 4, "a", "unsupported YAML tag !foo: write plain values"),
        (2, 4, "b", "unsupported YAML tag !!python/tuple: write plain values"),
    ]
    assert doc.unreadable == {("a",), ("b",)}


def test_unsupported_tag_is_said_once_by_parse_spec() -> None:
    problems = problems_of(b"image: !env TARGET\nmanifests: [{image: 'a:1'}]\n")
    assert [(p.line, p.path, p.message) for p in problems] == [
        (1, "image", "unsupported YAML tag !env: write plain values")
    ]


# --- whole-file problems ---------------------------------------------------------------------


def test_empty_and_comment_only_files() -> None:
    for text in ("", "# nothing\n", "\n\n"):
        assert read(text).problems == [(1, 1, "", "spec file is empty")]


def test_too_large() -> None:
    doc = read_document(b"#" * (MAX_BYTES + 1), {})
    assert doc.data is None
    assert messages(doc) == ["spec file is over the 1 MiB limit; a spec is a few KiB"]
    assert read_document(b"a: b\n" + b"#" * (MAX_BYTES - 10), {}).problems == []


def test_not_utf8() -> None:
    doc = read_document("image: café\n".encode("latin-1"), {})
    assert doc.problems == [(1, 1, "", "spec file is not UTF-8 text (byte 10)")]


def test_utf16_is_not_utf8() -> None:
    doc = read_document("image: a\n".encode("utf-16"), {})
    assert messages(doc)[0].startswith("spec file is not UTF-8 text")


def test_byte_order_mark_is_skipped() -> None:
    doc = read_document(b"\xef\xbb\xbfimage: a:1\nmanifests: []\n", {})
    assert doc.problems == []
    assert list(doc.data) == ["image", "manifests"]
    assert doc.where(("manifests",), key=True) == (2, 1)


def test_control_character_is_located() -> None:
    doc = read_document(b"image: a:1\nmanifests: [\x00]\n", {})
    assert len(doc.problems) == 1
    line, column, _, message = doc.problems[0]
    assert (line, column) == (2, 13)
    assert message == "YAML error: unacceptable character #x0000: special characters are not allowed"
    assert "\n" not in message


def test_syntax_error_position_and_context() -> None:
    doc = read("image: a:1\nmanifests:\n  - {image: x\n  - image: y\n")
    ((line, column, path, message),) = doc.problems
    assert (line, path) == (4, "")
    assert message.startswith("YAML syntax error: ")
    assert "that starts at line 3" in message


def test_multiple_documents() -> None:
    doc = read("a: 1\n---\na: 2\n")
    assert doc.problems[0][0] == 2
    assert "expected a single document" in doc.problems[0][3]


def test_single_document_with_markers_is_fine() -> None:
    doc = read("---\na: 1\n...\n")
    assert doc.problems == [] and doc.data == {"a": "1"}


def test_alias_bomb() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    doc = read("\n".join(lines) + "\n")
    assert doc.data is None
    assert len(doc.problems) == 1
    line, _, _, message = doc.problems[0]
    assert message == f"YAML expands to more than {MAX_NODES} values; at most {MAX_NODES} (an alias bomb expands to billions)"
    assert line == 5  # e: the first level past the node budget, not the innocent `a`


def test_aliases_below_the_budget_are_fine() -> None:
    doc = read("a: &a [x, y]\nb: [*a, *a]\n")
    assert doc.problems == []
    assert doc.data["b"] == [["x", "y"], ["x", "y"]]


def test_recursive_alias() -> None:
    doc = read("image: a:1\nloop: &l [*l]\n")
    assert doc.data is None
    assert doc.problems[0][:2] == (2, 1)
    assert "alias bomb" in doc.problems[0][3]


def test_recursive_merge_key() -> None:
    doc = read("image: a:1\nx: &x {<<: *x, a: b}\n")
    assert doc.data is None
    assert doc.problems[0][0] == 2
    assert "alias bomb" in doc.problems[0][3]


def test_deep_nesting() -> None:
    doc = read("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n")
    assert doc.data is None
    assert "levels" in doc.problems[0][3]
    doc = read("a: " + "[" * 100_000 + "\n")
    assert doc.problems == [(1, 1, "", f"YAML nests far deeper than {MAX_DEPTH} levels; a spec nests 4")]


# --- variables -----------------------------------------------------------------------------


def test_variable_substitution_and_defaults() -> None:
    doc = read("a: ${X}\nb: ${Y:-dflt}\nc: pre-${X}-${X}-post\nd: ${Z:-}\ne: ${E:-e}\n", X="1", E="")
    assert doc.problems == []
    assert doc.data == {"a": "1", "b": "dflt", "c": "pre-1-1-post", "d": "", "e": "e"}


def test_set_but_empty_without_default_is_empty() -> None:
    assert read("a: x${E}y\n", E="").data == {"a": "xy"}


def test_dollar_dollar_and_lone_dollars() -> None:
    doc = read("a: $$\nb: $${X}\nc: $X and $ and 5$\nd: $$$$\n", X="no")
    assert doc.problems == []
    assert doc.data == {"a": "$", "b": "${X}", "c": "$X and $ and 5$", "d": "$$"}


def test_substituted_values_are_not_substituted_again() -> None:
    assert read("a: ${X}\n", X="${Y}", Y="no").data == {"a": "${Y}"}


def test_keys_are_not_substituted() -> None:
    assert read("${X}: v\n", X="k").data == {"${X}": "v"}


def test_variables_in_quoted_scalars() -> None:
    assert read("a: \"${X}\"\nb: '${X}'\n", X="1").data == {"a": "1", "b": "1"}


def test_undefined_variable_names_it_and_its_line() -> None:
    doc = read("image: a:1\ntags:\n  - ${MISSING_TAG}\n")
    assert doc.problems == [
        (
            3,
            5,
            "tags[0]",
            "undefined variable ${MISSING_TAG}: pass --var MISSING_TAG=VALUE, set it in the environment, "
            "or write ${MISSING_TAG:-default}",
        )
    ]
    assert doc.unreadable == {("tags", 0)}


@pytest.mark.parametrize("text", ["${", "${}", "${1X}", "${X", "${X-y}", "${X:y}", "${a b}"])
def test_malformed_variables(text: str) -> None:
    doc = read(f"a: 'pre {text}'\n", X="1")
    assert len(doc.problems) == 1, doc.problems
    assert doc.problems[0][:3] == (1, 4, "a")
    assert doc.problems[0][3].startswith("malformed variable $")
    assert "write ${NAME} or ${NAME:-default}, or $$ for a literal $" in doc.problems[0][3]


SPEC_WITH_VARS = b"image: ${REG}/team/app:${TAG}\nmanifests:\n  - image: ${REG}/team/app:${TAG}-amd64\n"


def test_var_beats_environment() -> None:
    spec = parse_spec(SPEC_WITH_VARS, "s.yaml", {"TAG": "from-var"}, environ={"TAG": "from-env", "REG": "reg.example.com"})
    assert str(spec.image) == "reg.example.com/team/app:from-var"
    assert str(spec.members[0].image) == "reg.example.com/team/app:from-var-amd64"


def test_environment_is_used_when_no_var() -> None:
    spec = parse_spec(SPEC_WITH_VARS, "s.yaml", environ={"TAG": "from-env", "REG": "reg.example.com"})
    assert spec.image.tag == "from-env"


def test_environ_argument_replaces_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAG", "process")
    monkeypatch.setenv("REG", "reg.example.com")
    assert parse_spec(SPEC_WITH_VARS, "s.yaml").image.tag == "process"
    problems = problems_of(SPEC_WITH_VARS, environ={})
    assert {p.line for p in problems} == {1, 3}
    assert all(p.message.startswith("undefined variable ${") for p in problems)
    # each undefined use is one problem: no follow-up "invalid reference" noise
    assert len(problems) == 4
    assert sorted({p.message.split("}")[0] for p in problems}) == ["undefined variable ${REG", "undefined variable ${TAG"]


def test_undefined_variable_in_tags_reported_once() -> None:
    problems = problems_of(b"image: a:1\ntags: ['${NOPE}']\nmanifests: [{image: 'a:2'}]\n", environ={})
    assert [(p.line, p.path) for p in problems] == [(2, "tags[0]")]


def test_unquoted_variable_in_flow_collection_gets_a_hint() -> None:
    doc = read("tags: [a, ${X}]\n", X="1")
    ((line, column, _, message),) = doc.problems
    assert (line, column) == (1, 12)
    assert message.endswith("; inside [...] or {...} quote a value that uses ${NAME}")
    assert read("tags: [a, '${X}']\n", X="1").data == {"tags": ["a", "1"]}
    assert read("tags:\n  - ${X}\n", X="1").data == {"tags": ["1"]}  # block style needs no quotes
