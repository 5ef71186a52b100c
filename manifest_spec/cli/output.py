"""Reporters: the only module that writes results to stdout (and diagnostics to stderr)."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Collection, Optional, TextIO

from manifest_spec.errors import Problem
from manifest_spec.oci.platforms import platform_json
from manifest_spec.scrub import redact


def _write_json(obj: Any, out: TextIO) -> None:
    out.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def diagnostic(message: str) -> None:
    """One line for a person on stderr (warnings, progress, errors), never with a secret in it; control
    characters a registry put in its error text (newlines, escapes that colour or rewrite the
    terminal) are shown escaped, so each diagnostic stays one plain line."""
    sys.stderr.write(_CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], redact(message)) + "\n")


def report_validation(results: list[tuple[str, list[Problem]]], fmt: str, skipped: Collection[str] = ()) -> None:
    """`validate`: one line per problem (FILE:LINE:COL: path: message), or one JSON object; `skipped`: not specs."""
    if fmt == "json":
        _write_json(
            {
                "valid": not any(problems for _, problems in results),
                "files": [
                    {
                        "file": name,
                        "valid": not problems,
                        **({"skipped": True} if name in skipped else {}),
                        "errors": [
                            {"line": p.line, "column": p.column, "path": p.path, "message": p.message}
                            for p in problems
                        ],
                    }
                    for name, problems in results
                ],
            },
            sys.stdout,
        )
        return
    for name, problems in results:
        if problems:
            for problem in problems:
                sys.stdout.write(f"{problem}\n")
        elif name in skipped:
            sys.stdout.write(f"{name}: skipped (no top-level manifests:, so not a manifest spec)\n")
        else:
            sys.stdout.write(f"{name}: ok\n")
    bad = [problems for _, problems in results if problems]
    if bad:
        count = sum(len(p) for p in bad)
        diagnostic(f"{len(bad)} of {len(results)} spec file(s) invalid, {count} problem(s)")


def report_schema(text: str) -> None:
    """`schema`: the JSON Schema, exactly as packaged."""
    sys.stdout.write(text)


def report_error(message: str, fmt: Optional[str] = None) -> None:
    """A failed command: one line on stderr, plus a JSON object on stdout for --output json."""
    if fmt == "json":
        _write_json({"error": redact(message)}, sys.stdout)
    diagnostic(f"error: {message}")


def report_failures(failures: list[tuple[str, str]], fmt: Optional[str] = None) -> None:
    """Several specs failed: `error: SPEC: message` each on stderr, and one JSON object for --output json."""
    if fmt == "json":
        _write_json({"errors": [{"spec": spec, "error": redact(message)} for spec, message in failures]}, sys.stdout)
    for spec, message in failures:
        diagnostic(f"error: {spec}: {message}")


def _push_json(prepared: Any) -> dict[str, Any]:
    index = prepared.index
    return {
        "target": str(prepared.spec.image),
        "digest": index.digest,
        "size": index.size,
        "mediaType": index.media_type,
        "tags": list(prepared.tags),
        "members": [
            {"image": str(member.member.image), "digest": d.digest, "mediaType": d.media_type, "platform": platform_json(d.platform)}
            for member in prepared.resolution.members
            for d in member.descriptors
        ],
        "referrers": _carry_json(prepared),
        **_choice_json(prepared),
    }


def _choice_json(prepared: Any) -> dict[str, Any]:
    from manifest_spec.review.planview import choice_json

    return choice_json(prepared)


def _carry_json(prepared: Any) -> Any:
    from manifest_spec.carry.view import carry_json

    return carry_json(prepared.carry)


def _carry_lines(prepared: Any, done: bool, prefix: str = "") -> None:
    """What travels with the members (signatures, attestations, SBOMs), on stderr: stdout stays manifest-tool's."""
    from manifest_spec.carry.view import carry_lines

    for line in carry_lines(prepared.carry, done=done):
        diagnostic(f"{prefix}{line}")


def report_push(outcomes: list[Any], fmt: str) -> None:
    """`push`: manifest-tool's `Digest: sha256:<hex> <size>` line, or one JSON object (with each tag's status);
    for several specs one line (one object in a JSON list) per spec, naming its file; failures on stderr."""
    if len(outcomes) == 1:
        _report_one_push(outcomes[0].value, fmt, "")
        return
    if fmt == "json":
        _write_json([_push_body(o.value) | {"spec": o.spec.path} if o.error is None else {"spec": o.spec.path, "error": redact(str(o.error))}
                     for o in outcomes], sys.stdout)
    for o in outcomes:
        if o.error is not None:
            diagnostic(f"error: {o.spec.path}: {o.error}")
        elif fmt != "json":
            _report_one_push(o.value, fmt, f"{o.spec.path}: ")


def _push_body(result: Any) -> dict[str, Any]:
    body = _push_json(result.prepared)
    body["tagStatus"] = [{"tag": t.tag, "status": t.status, "previous": t.previous or None} for t in result.tag_results]
    return body


def _report_one_push(result: Any, fmt: str, prefix: str) -> None:
    index, target = result.prepared.index, result.prepared.spec.image
    if fmt == "json":
        _write_json(_push_body(result), sys.stdout)
    else:
        # stdout stays manifest-tool's one line; a tag left alone is worth a word on stderr.
        _carry_lines(result.prepared, True, prefix)
        for t in result.tag_results:
            if t.status == "unchanged":
                diagnostic(f"{prefix}unchanged: {target.with_tag(t.tag)} already points at {index.digest}; not written")
        sys.stdout.write(f"{prefix}Digest: {index.digest} {index.size}\n")


def report_dry_run(plans: list[Any], fmt: str) -> None:
    """`push --dry-run`: the exact index JSON and its digest line (or the full JSON result); tags on stderr.
    For several specs: one `SPEC: Digest:` line each (a JSON list of the objects)."""
    from manifest_spec.review.planview import tag_json

    several = len(plans) > 1
    bodies = []
    for plan in plans:
        prepared = plan.prepared
        index = prepared.index
        if fmt == "json":
            body = _push_json(prepared)
            body.update({"dryRun": True, "index": json.loads(index.data), "tagPlan": [tag_json(t) for t in plan.tags]})
            bodies.append(body | {"spec": prepared.spec.path} if several else body)
            continue
        _carry_lines(prepared, False, f"{prepared.spec.path}: " if several else "")
        from manifest_spec.review.planview import choice_lines

        for line in choice_lines(prepared):
            diagnostic(f"dry run: {prepared.spec.path + ': ' if several else ''}{line}")
        for t in plan.tags:
            now = f" (now {t.current.digest})" if t.current.digest and t.action != "unchanged" else ""
            diagnostic(f"dry run: {t.reference}: {'would ' + t.action if t.action != 'unchanged' else 'unchanged'}{now}")
        if several:
            sys.stdout.write(f"{prepared.spec.path}: Digest: {index.digest} {index.size}\n")
        else:
            sys.stdout.write(index.data.decode("utf-8") + "\n")
            sys.stdout.write(f"Digest: {index.digest} {index.size}\n")
    if fmt == "json":
        _write_json(bodies if several else bodies[0], sys.stdout)


def report_plan(plans: list[Any], fmt: str) -> None:
    """`plan`: text for people, Markdown for a pull-request comment, or one JSON object."""
    from manifest_spec.review import planview

    if fmt == "json":
        _write_json(planview.plan_json(plans), sys.stdout)
    elif fmt == "markdown":
        sys.stdout.write(planview.render_markdown(plans))
    else:
        sys.stdout.write(planview.render_text(plans))


def report_locks(written: list[tuple[str, str, Any]], fmt: str) -> None:
    """`lock`: which lock file was written for which spec, and the index it pins."""
    if fmt == "json":
        _write_json({"locks": [{"spec": s, "lock": lock, "digest": index.digest} for s, lock, index in written]}, sys.stdout)
        return
    for spec_path, lock_file, index in written:
        sys.stdout.write(f"{lock_file}: locked {spec_path} (index {index.digest})\n")


def report_lock_check(results: list[tuple[str, str, list[str]]], fmt: str) -> None:
    """`lock --check`: `LOCK: up to date`, or one line per drift naming what moved."""
    if fmt == "json":
        _write_json(
            {
                "upToDate": not any(drift for _, _, drift in results),
                "locks": [{"spec": s, "lock": lock, "upToDate": not drift, "drift": drift} for s, lock, drift in results],
            },
            sys.stdout,
        )
    else:
        for _, lock_file, drift in results:
            if not drift:
                sys.stdout.write(f"{lock_file}: up to date\n")
            for item in drift:
                sys.stdout.write(f"{lock_file}: {item}\n")
    stale = [spec for spec, _, drift in results if drift]
    if stale:
        diagnostic(f"{len(stale)} of {len(results)} lock file(s) out of date: run `manifest-spec lock {' '.join(stale)}` and review the diff")


def report_to_spec(text: str) -> None:
    """`inspect --to-spec`: the spec, ready to redirect into a file."""
    sys.stdout.write(text)


def report_inspect(description: Any, fmt: str, raw: bool) -> None:
    """`inspect`: the exact bytes (--raw), a JSON summary, or a readable listing."""
    from manifest_spec.oci.index import descriptor_json

    manifest = description.manifest
    if raw:
        sys.stdout.buffer.write(manifest.data)
        sys.stdout.flush()
        return
    if fmt == "json":
        _write_json(
            {
                "reference": str(description.reference),
                **descriptor_json(manifest),
                "annotations": dict(description.annotations),
                "manifests": [
                    descriptor_json(e.descriptor, platform=platform_json(e.descriptor.platform),
                                    annotations=dict(e.descriptor.annotations),
                                    layers=[descriptor_json(layer) for layer in e.layers])
                    for e in description.entries
                ],
                "layers": [descriptor_json(layer) for layer in description.layers],
                "platform": platform_json(description.platform),
            },
            sys.stdout,
        )
        return
    out = sys.stdout
    kind = "index" if description.is_index else "image"
    out.write(f"Name:      {description.reference}\n")
    out.write(f"MediaType: {manifest.media_type} ({kind})\n")
    out.write(f"Digest:    {manifest.digest}\n")
    out.write(f"Size:      {manifest.size}\n")
    if description.platform:
        out.write(f"Platform:  {description.platform}\n")
    for key, value in description.annotations:
        out.write(f"Annotation: {key}={value}\n")
    for number, entry in enumerate(description.entries, 1):
        d = entry.descriptor
        out.write(f"\n{number}. {d.platform if d.platform else '(no platform)'}\n")
        out.write(f"   Digest:    {d.digest}\n   MediaType: {d.media_type}\n   Size:      {d.size}\n")
        for key, value in d.annotations:
            out.write(f"   Annotation: {key}={value}\n")
        _write_layers(out, entry.layers, "   ")
    _write_layers(out, description.layers, "")


def report_pulled(reference: Any, descriptor: Any, fmt: str) -> None:
    """`inspect --platform`: the digest a puller gets (all of stdout, as `crane digest`), or one object."""
    if fmt == "json":
        from manifest_spec.oci.index import descriptor_json

        _write_json(
            {
                "reference": str(reference),
                **descriptor_json(descriptor, platform=platform_json(descriptor.platform)),
            },
            sys.stdout,
        )
    else:
        sys.stdout.write(f"{descriptor.digest}\n")


def _write_layers(out: TextIO, layers: Any, indent: str) -> None:
    if layers:
        total = sum(layer.size for layer in layers)
        out.write(f"{indent}Layers:    {len(layers)} ({total} bytes)\n")
        for layer in layers:
            out.write(f"{indent}  {layer.digest} {layer.size}\n")


