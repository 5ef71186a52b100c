"""`validate` end to end (click's CliRunner on the real command) and `load_spec` on edge cases.

Every file in tests/specs/invalid/ holds ONE mistake and says, in its first comment lines,
what the error must say (`# expect: <fragment>`) and which line it must point at
(`# expect-line: <N>`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from manifest_spec.cli.main import main
from manifest_spec.errors import SpecError
from manifest_spec.oci.reference import Reference
from manifest_spec.specfile.document import MAX_BYTES
from manifest_spec.specfile.spec import check_type, load_spec

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
INVALID = sorted((TESTS / "specs" / "invalid").glob("*.yaml"))
VALID = sorted((TESTS / "specs" / "valid").glob("*.yaml"))
PROJECT_SPECS = sorted((ROOT / "specs").glob("*.yaml"))
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
VECTOR_SPECS = ("docker-list.spec.yaml", "oci-index.spec.yaml")

# Variables the spec files use; none of them may leak in from the environment.
_TEST_VARIABLES = (
    "MANIFEST_SPEC_TEST_UNSET_VERSION",
    "MANIFEST_SPEC_TEST_REGISTRY",
    "MANIFEST_SPEC_TEST_VERSION",
    "MANIFEST_SPEC_TEST_MINOR",
    "VERSION",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _TEST_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def expectation(path: Path) -> tuple[str, int]:
    """The (`# expect:` fragment, `# expect-line:` number) declared at the top of an invalid spec."""
    text = path.read_text("utf-8")
    fragment = re.search(r"^# expect: (.+)$", text, re.M)
    line = re.search(r"^# expect-line: (\d+)$", text, re.M)
    assert fragment and line, f"{path.name} must start with '# expect:' and '# expect-line:' comments"
    return fragment.group(1), int(line.group(1))


def validate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


# --- invalid specs -------------------------------------------------------------------------


def test_there_are_enough_invalid_specs() -> None:
    assert len(INVALID) >= 30
    fragments = [expectation(p)[0] for p in INVALID]
    # One distinct mistake each; the three alias-bomb-like files share their message on purpose.
    assert len(set(fragments)) >= len(fragments) - 2


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_spec_is_reported_at_its_line(path: Path) -> None:
    fragment, line = expectation(path)
    code, out, _ = validate(str(path))
    assert code == 1, out
    lines = out.splitlines()
    assert any(f"{path}:{line}:" in text and fragment in text for text in lines), (
        f"expected a line with {path}:{line}: and {fragment!r}, got:\n{out}"
    )
    # Every problem line has the FILE:LINE:COL: form, and none is said twice.
    for text in lines:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", text), text
    assert len(lines) == len(set(lines)), out


def test_empty_platform_names_each_missing_key_once() -> None:
    path = TESTS / "specs" / "invalid" / "platform-empty.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    assert [p.message.split(":")[0] for p in info.value.problems] == [
        "missing required key 'os'",
        "missing required key 'architecture'",
    ]


def test_null_type_is_described_in_words(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("type:\nimage: a:1\nmanifests: [{image: 'b:1'}]\n", "utf-8")
    code, out, _ = validate(str(path))
    assert code == 1
    assert f"{path}:1:6: type: must be one of docker, oci, got nothing (null)" in out


def test_all_invalid_specs_at_once_reports_every_file() -> None:
    code, out, err = validate(*(str(p) for p in INVALID))
    assert code == 1
    for path in INVALID:
        fragment, line = expectation(path)
        assert any(text.startswith(f"{path}:{line}:") and fragment in text for text in out.splitlines()), path.name
    assert f"{len(INVALID)} of {len(INVALID)} spec file(s) invalid" in err


def test_valid_and_invalid_together_reports_both() -> None:
    good, bad = VALID[0], INVALID[0]
    code, out, _ = validate(str(good), str(bad))
    assert code == 1
    assert f"{good}: ok" in out
    assert f"{bad}:" in out


def test_file_over_one_mib_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    body = "image: registry.example.com/team/app:1.0\nmanifests:\n" + (
        "  - image: registry.example.com/team/app:1.0-amd64\n" * (MAX_BYTES // 40)
    )
    path.write_text(body, "utf-8")
    assert path.stat().st_size > MAX_BYTES
    code, out, _ = validate(str(path))
    assert code == 1
    assert f"{path}:1:1: spec file is over the 1 MiB limit" in out


def test_deep_nesting_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("image: " + "[" * 200_000 + "\n", "utf-8")
    code, out, err = validate(str(path))
    assert code == 1
    assert f"{path}:1:1: YAML nests far deeper than 64 levels" in out
    assert "unexpected" not in err


def test_missing_file_is_reported_with_the_others(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, _ = validate(str(missing), str(VALID[0]))
    assert code == 1
    assert f"{missing}: cannot read spec: No such file or directory" in out
    assert f"{VALID[0]}: ok" in out


def test_unknown_platform_allowed_on_purpose() -> None:
    path = TESTS / "specs" / "invalid" / "unknown-architecture-aarch64.yaml"
    assert validate(str(path))[0] == 1
    code, out, _ = validate("--allow-unknown-platform", str(path))
    assert code == 0, out
    assert f"{path}: ok" in out


def test_allow_unknown_platform_still_finds_duplicates() -> None:
    path = TESTS / "specs" / "invalid" / "duplicate-platform-arm64-v8.yaml"
    code, out, _ = validate("--allow-unknown-platform", str(path))
    assert code == 1
    assert "duplicate platform" in out


def test_var_sets_an_undefined_variable() -> None:
    path = TESTS / "specs" / "invalid" / "undefined-variable.yaml"
    code, out, _ = validate("--var", "MANIFEST_SPEC_TEST_UNSET_VERSION=1.4.2", str(path))
    assert code == 0, out


def test_var_value_is_still_validated() -> None:
    path = TESTS / "specs" / "invalid" / "undefined-variable.yaml"
    code, out, _ = validate("--var", "MANIFEST_SPEC_TEST_UNSET_VERSION=Bad Tag", str(path))
    assert code == 1
    assert f"{path}:4:" in out and "invalid tag 'Bad Tag'" in out


@pytest.mark.parametrize("bad", ["NOEQUALS", "1X=2", "=value", "A-B=1"])
def test_malformed_var_is_a_usage_error(bad: str) -> None:
    code, out, err = validate("--var", bad, str(VALID[0]))
    assert code == 2
    assert "--var" in err and "is not NAME=VALUE" in err
    assert "ok" not in out


def test_validate_without_files_is_a_usage_error() -> None:
    code, _, err = validate()
    assert code == 2
    assert "SPEC" in err


def test_json_output_structure() -> None:
    good = VALID[0]
    bad = TESTS / "specs" / "invalid" / "duplicate-platform-arm64-v8.yaml"
    code, out, _ = validate("--output", "json", str(good), str(bad))
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert [f["file"] for f in report["files"]] == [str(good), str(bad)]
    first, second = report["files"]
    assert first == {"file": str(good), "valid": True, "errors": []}
    assert second["valid"] is False
    assert len(second["errors"]) == 1
    error = second["errors"][0]
    assert set(error) == {"line", "column", "path", "message"}
    assert error["line"] == 9 and error["column"] == 5
    assert error["path"] == "manifests[1].platform"
    assert error["message"].startswith("duplicate platform linux/arm64/v8: manifests[0] (line 6)")


def test_json_output_valid() -> None:
    code, out, _ = validate("--output", "json", *(str(p) for p in VALID))
    assert code == 0
    report = json.loads(out)
    assert report["valid"] is True
    assert len(report["files"]) == len(VALID)
    assert all(f["valid"] and f["errors"] == [] for f in report["files"])


# --- valid specs ---------------------------------------------------------------------------


def _vector_specs() -> list[Path]:
    return [VECTORS / name for name in VECTOR_SPECS]


ALL_VALID = VALID + PROJECT_SPECS + _vector_specs()


def test_there_are_valid_specs_and_vectors() -> None:
    assert len(VALID) >= 10
    for path in _vector_specs():
        assert path.is_file(), f"missing shared vector spec {path}"


@pytest.mark.parametrize("path", ALL_VALID, ids=[f"{p.parent.name}/{p.name}" for p in ALL_VALID])
def test_valid_spec(path: Path) -> None:
    assert path.is_file(), f"missing {path}"
    code, out, _ = validate(str(path))
    assert code == 0, out
    assert out == f"{path}: ok\n"


def valid(name: str):  # type: ignore[no-untyped-def]
    return load_spec(str(TESTS / "specs" / "valid" / name))


def test_unquoted_scalars_are_the_text_written() -> None:
    spec = valid("unquoted-scalars.yaml")
    assert spec.tags == ("1.10", "2", "latest")
    assert spec.image.tag == "1.10"
    assert spec.members[0].platform is not None
    assert spec.members[0].platform.architecture == "386"


def test_platform_omitted_is_none() -> None:
    spec = valid("platform-omitted.yaml")
    assert [m.platform for m in spec.members] == [None, None]
    assert [m.line for m in spec.members] == [4, 5]


def test_digest_members_and_bare_name_means_latest() -> None:
    spec = valid("digest-members.yaml")
    pinned, both, bare = spec.members
    assert pinned.image.digest == "sha256:" + "0123456789abcdef" * 4 and pinned.image.tag == ""
    assert both.image.tag == "1.4.2-arm64" and both.image.digest.startswith("sha256:fedcba")
    assert bare.image == Reference("registry.example.com", "team/app-s390x", tag="latest")


def test_merge_keys_expand_and_earlier_wins() -> None:
    spec = valid("anchors-and-merge-keys.yaml")
    platforms = [(m.platform.os, m.platform.architecture, m.platform.variant) for m in spec.members if m.platform]
    assert platforms == [("linux", "arm", "v6"), ("linux", "arm", "v7"), ("linux", "arm64", "v8")]


def test_dollar_dollar_is_a_literal_dollar() -> None:
    spec = valid("dollar-literal.yaml")
    assert dict(spec.annotations) == {
        "com.example.price": "$5 and ${NOT_A_VARIABLE}",
        "com.example.shell": "echo $HOME",
    }
    assert spec.type == "oci"


def test_variable_defaults_and_overrides() -> None:
    path = str(TESTS / "specs" / "valid" / "variable-defaults.yaml")
    spec = load_spec(path, environ={})
    assert str(spec.image) == "localhost:5000/team/app:1.4.2"
    assert spec.tags == ("1.4",)
    assert str(spec.members[0].image) == "localhost:5000/team/app:1.4.2-amd64"
    spec = load_spec(
        path,
        {"MANIFEST_SPEC_TEST_VERSION": "2.0.0"},
        environ={"MANIFEST_SPEC_TEST_VERSION": "9.9.9", "MANIFEST_SPEC_TEST_REGISTRY": "reg.example.com"},
    )
    assert str(spec.image) == "reg.example.com/team/app:2.0.0"
    # An empty value takes the default, as ${NAME:-default} does in a shell.
    spec = load_spec(path, {"MANIFEST_SPEC_TEST_MINOR": ""}, environ={})
    assert spec.tags == ("1.4",)


def test_windows_both_spellings() -> None:
    spec = valid("windows-os-version.yaml")
    p2019, p2022, linux = (m.platform for m in spec.members)
    assert p2019 is not None and p2022 is not None and linux is not None
    assert (p2019.os_version, p2019.os_features) == ("10.0.17763.2300", ("win32k",))
    assert (p2022.os_version, p2022.os_features) == ("10.0.20348.2113", ("win32k",))
    assert linux.os_version == "" and linux.os_features == ()


def test_riscv64_profile() -> None:
    spec = valid("riscv64-profile.yaml")
    assert [m.platform.variant for m in spec.members if m.platform] == ["", "rva22u64"]


def test_docker_hub_short_names_normalise() -> None:
    spec = valid("docker-hub-short-names.yaml")
    assert str(spec.image) == "docker.io/team/app:3.19"
    assert [str(m.image) for m in spec.members] == [
        "docker.io/library/alpine:3.19",
        "docker.io/library/alpine:3.19-arm64",
        "docker.io/team/app:3.19-ppc64le",
    ]


def test_oci_annotations_and_check_type() -> None:
    spec = valid("oci-annotations.yaml")
    assert spec.type == "oci"
    assert dict(spec.annotations)["org.opencontainers.image.description"] == "naïve café: 1 < 2 & 3 > 2"
    assert spec.members[0].annotations == (("org.opencontainers.image.ref.name", "1.4.2-amd64"),)
    check_type(spec, "oci")
    with pytest.raises(SpecError) as info:
        check_type(spec, "docker")  # --type docker on the command line
    paths = [p.path for p in info.value.problems]
    assert paths == ["annotations", "manifests[0].annotations"]
    assert all("type: oci" in p.message for p in info.value.problems)


def test_spec_without_type_leaves_it_to_the_flag() -> None:
    spec = valid("platform-omitted.yaml")
    assert spec.type is None
    check_type(spec, "docker")  # nothing to lose


def test_sha256_is_of_the_file_bytes() -> None:
    import hashlib

    path = TESTS / "specs" / "valid" / "platform-omitted.yaml"
    assert load_spec(str(path)).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_spec_lists_every_problem_sorted() -> None:
    path = TESTS / "specs" / "invalid" / "duplicate-key.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(str(path))
    assert [(p.line, p.path) for p in info.value.problems] == [(7, "image")]
    assert str(info.value) == f"{path}:7:1: image: duplicate key 'image' (first at line 4)"
