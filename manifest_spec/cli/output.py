"""Reporters: the only module that writes results to stdout (and diagnostics to stderr).

A command picks its reporter by `--output` (cli/common.reporter) and hands it what the API returned:
`Reporter` writes text for people (and manifest-tool's lines), `MarkdownReporter` a plan for a
pull-request comment, `cli/jsonout.JsonReporter` one JSON document for programs.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Collection

from manifest_spec.errors import Problem
from manifest_spec.scrub import redact

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def diagnostic(message: str) -> None:
    """One line for a person on stderr (warnings, progress, errors), never with a secret in it; control
    characters a registry put in its error text (newlines, escapes that colour or rewrite the
    terminal) are shown escaped, so each diagnostic stays one plain line."""
    sys.stderr.write(_CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], redact(message)) + "\n")


def report_error(message: str) -> None:
    """A failed command, as text: one line on stderr (cli/common.reporter picks by --output)."""
    Reporter().error(message)


def is_stdout_failure(error: OSError) -> bool:
    """Whether `error` came from writing standard output (ENOSPC, EIO on flush), not from a file."""
    import errno

    return error.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG) and error.filename is None


def drop_stdout() -> None:
    """Whatever is still buffered for stdout cannot be written; send it nowhere so exit stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def carry_lines(prepared: Any, done: bool, prefix: str = "") -> None:
    """What travels with the members (signatures, attestations, SBOMs), on stderr: stdout stays manifest-tool's."""
    if prepared.carry is None:
        return  # nothing from elsewhere, or carrying off: no line, and none of the carry code (~10 ms) loaded to say so
    from manifest_spec.carry.view import carry_lines as lines

    for line in lines(prepared.carry, done=done):
        diagnostic(f"{prefix}{line}")


def stale_locks(results: list[tuple[str, str, list[str]]]) -> None:
    stale = [spec for spec, _, drift in results if drift]
    if stale:
        diagnostic(f"{len(stale)} of {len(results)} lock file(s) out of date: run `manifest-spec lock {' '.join(stale)}` and review the diff")


class Reporter:
    """Text: what each command prints for people; the other formats override what they change."""

    def validation(self, results: list[tuple[str, list[Problem]]], skipped: Collection[str] = ()) -> None:
        """`validate`: one line per problem (FILE:LINE:COL: path: message); `skipped`: not specs."""
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

    def schema(self, text: str) -> None:
        """`schema`: the JSON Schema, exactly as packaged."""
        sys.stdout.write(text)

    def error(self, message: str) -> None:
        """A failed command: one line on stderr."""
        diagnostic(f"error: {message}")

    def failures(self, failures: list[tuple[str, str]]) -> None:
        """Several specs failed: `error: SPEC: message` each on stderr."""
        for spec, message in failures:
            diagnostic(f"error: {spec}: {message}")

    def push(self, outcomes: list[Any]) -> None:
        """`push`: manifest-tool's `Digest: sha256:<hex> <size>` line; for several specs one line per
        spec, naming its file; failures on stderr."""
        if len(outcomes) == 1:
            self.one_push(outcomes[0].value, "")
            return
        for o in outcomes:
            if o.error is not None:
                diagnostic(f"error: {o.spec.path}: {o.error}")
            else:
                self.one_push(o.value, f"{o.spec.path}: ")

    def one_push(self, result: Any, prefix: str) -> None:
        index, target = result.prepared.index, result.prepared.spec.image
        # stdout stays manifest-tool's one line; a tag left alone is worth a word on stderr.
        carry_lines(result.prepared, True, prefix)
        for t in result.tag_results:
            if t.status == "unchanged":
                diagnostic(f"{prefix}unchanged: {target.with_tag(t.tag)} already points at {index.digest}; not written")
        sys.stdout.write(f"{prefix}Digest: {index.digest} {index.size}\n")

    def dry_run(self, plans: list[Any]) -> None:
        """`push --dry-run`: the exact index JSON and its digest line; tags on stderr. For several
        specs: one `SPEC: Digest:` line each."""
        several = len(plans) > 1
        for plan in plans:
            prepared = plan.prepared
            index = prepared.index
            carry_lines(prepared, False, f"{prepared.spec.path}: " if several else "")
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

    def plan(self, plans: list[Any]) -> None:
        """`plan`: per tag create/update/unchanged, per platform."""
        from manifest_spec.review import planview

        sys.stdout.write(planview.render_text(plans))

    def locks(self, written: list[tuple[str, str, Any]]) -> None:
        """`lock`: which lock file was written for which spec, and the index it pins."""
        for spec_path, lock_file, index in written:
            sys.stdout.write(f"{lock_file}: locked {spec_path} (index {index.digest})\n")

    def lock_check(self, results: list[tuple[str, str, list[str]]]) -> None:
        """`lock --check`: `LOCK: up to date`, or one line per drift naming what moved."""
        for _, lock_file, drift in results:
            if not drift:
                sys.stdout.write(f"{lock_file}: up to date\n")
            for item in drift:
                sys.stdout.write(f"{lock_file}: {item}\n")
        stale_locks(results)

    def raw(self, description: Any) -> None:
        """`inspect --raw`: the exact bytes the registry returned, whatever the format."""
        sys.stdout.buffer.write(description.manifest.data)
        sys.stdout.flush()

    def inspect(self, description: Any) -> None:
        """`inspect`: a readable listing of the index (or image), its entries and layers."""
        out, manifest = sys.stdout, description.manifest
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
            self.layers(entry.layers, "   ")
        self.layers(description.layers, "")

    def layers(self, layers: Any, indent: str) -> None:
        if layers:
            total = sum(layer.size for layer in layers)
            sys.stdout.write(f"{indent}Layers:    {len(layers)} ({total} bytes)\n")
            for layer in layers:
                sys.stdout.write(f"{indent}  {layer.digest} {layer.size}\n")

    def pulled(self, reference: Any, descriptor: Any) -> None:
        """`inspect --platform`: the digest a puller gets, all of stdout (as `crane digest`)."""
        sys.stdout.write(f"{descriptor.digest}\n")

    def to_spec(self, adopted: Any, source: str) -> None:
        """`inspect --to-spec`: the spec as YAML, ready to redirect into a file."""
        from manifest_spec.review.tospec import render_spec

        sys.stdout.write(render_spec(adopted, source))


class MarkdownReporter(Reporter):
    """`plan --output markdown`: the plan for a pull-request comment; everything else as text."""

    def plan(self, plans: list[Any]) -> None:
        from manifest_spec.review import planview

        sys.stdout.write(planview.render_markdown(plans))
