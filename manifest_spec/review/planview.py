"""Plans as text for people, Markdown for a pull-request comment, JSON-ready dicts for machines. Pure."""

from __future__ import annotations

from typing import Any

from manifest_spec.carry.view import carry_json, carry_lines
from manifest_spec.review.plan import (
    ADDED,
    CHANGED,
    CREATE,
    KIND_NAMES,
    MISSING,
    NOT_INDEX,
    REMOVED,
    UNCHANGED,
    UPDATE,
    SpecPlan,
    TagPlan,
)

_TEXT_SIGN = {CREATE: "+", UPDATE: "~", UNCHANGED: "=", ADDED: "+", REMOVED: "-", CHANGED: "~"}
_MD_ACTION = {CREATE: "**create**", UPDATE: "**update**", UNCHANGED: "unchanged"}


def short(digest: str) -> str:
    """`sha256:` and 12 hex digits: enough to tell digests apart in a review."""
    return digest[:19] if digest else ""


def counts(plans: list[SpecPlan]) -> dict[str, int]:
    tags = [t for p in plans for t in p.tags]
    return {action: sum(t.action == action for t in tags) for action in (CREATE, UPDATE, UNCHANGED)}


def summary(plans: list[SpecPlan]) -> str:
    c = counts(plans)
    carrying = sum(len(p.prepared.carry.tag_writes) for p in plans if p.prepared.carry)
    if not c[CREATE] and not c[UPDATE] and carrying:
        return f"No index changes: {c[UNCHANGED]} tag(s) already hold their index; {carrying} tag(s) to write for carried referrers."
    if not c[CREATE] and not c[UPDATE]:
        return f"No changes: {c[UNCHANGED]} tag(s) already hold their index."
    return f"Plan: {c[CREATE]} tag(s) to create, {c[UPDATE]} to update, {c[UNCHANGED]} unchanged."


def _index_line(plan: SpecPlan) -> str:
    index = plan.prepared.index
    return f"{KIND_NAMES.get(index.media_type, index.media_type)} {index.digest} ({index.size} bytes)"


def _now(tag: TagPlan) -> str:
    if tag.current.state == MISSING:
        return "missing"
    if tag.current.state == NOT_INDEX:
        return f"not an index: {tag.current.media_type} {short(tag.current.digest)}"
    return short(tag.current.digest)


def choice_lines(prepared: Any) -> list[str]:
    """What annotationsFromLabels and `attestations: drop` did to the index, one line each."""
    lines = [f"annotation {key}={value!r} from the images' labels" for key, value in prepared.from_labels]
    dropped = [d for member in prepared.resolution.members for d in member.dropped]
    if dropped:
        lines.append(f"{len(dropped)} attestation entr{'y' if len(dropped) == 1 else 'ies'} of member indexes dropped "
                     f"(attestations: drop): {', '.join(short(d.digest) for d in dropped)}")
    return lines


def choice_json(prepared: Any) -> dict[str, Any]:
    """The same for JSON: keys only when used, so other output stays as it was."""
    dropped = [d.digest for member in prepared.resolution.members for d in member.dropped]
    return {**({"annotationsFromLabels": dict(prepared.from_labels)} if prepared.from_labels else {}),
            **({"attestationsDropped": dropped} if dropped else {})}


def render_text(plans: list[SpecPlan]) -> str:
    lines: list[str] = []
    for plan in plans:
        spec = plan.prepared.spec
        lines.append(f"{spec.image.name} from {spec.path}: {_index_line(plan)}")
        for warning in plan.prepared.resolution.skipped:
            lines.append(f"  warning: {warning}")
        lines += [f"  {line}" for line in choice_lines(plan.prepared)]
        width = max(len(t.tag) for t in plan.tags)
        for tag in plan.tags:
            after = short(plan.prepared.index.digest)
            change = f"{_now(tag)} → {after}" if tag.action != UNCHANGED else after
            lines.append(f"  {_TEXT_SIGN[tag.action]} {tag.action:<9} {tag.tag:<{width}}  {change}")
            if tag.action == UNCHANGED:
                continue
            for entry in tag.entries:
                digests = (f"{short(entry.before)} → {short(entry.after)}" if entry.change == CHANGED
                           else short(entry.after or entry.before))
                lines.append(f"      {_TEXT_SIGN.get(entry.change, ' ')} {entry.platform:<32} {entry.change:<9} {digests}")
            for note in tag.notes:
                lines.append(f"      note: {note}")
        lines += [f"  {line}" for line in carry_lines(plan.prepared.carry, done=False)]
        lines.append("")
    lines.append(summary(plans))
    return "\n".join(lines) + "\n"


def render_markdown(plans: list[SpecPlan]) -> str:
    lines = [f"#### manifest-spec plan — {summary(plans)}", ""]
    for plan in plans:
        spec = plan.prepared.spec
        lines.append(f"**`{spec.image}`** from `{spec.path}`: {_index_line(plan).replace(plan.prepared.index.digest, f'`{plan.prepared.index.digest}`')}")
        lines.append("")
        for warning in plan.prepared.resolution.skipped:
            lines.append(f"> warning: {warning}")
        lines += [f"- {line}" for line in choice_lines(plan.prepared)] + ([""] if choice_lines(plan.prepared) else [])
        lines += ["| tag | action | now | after |", "|---|---|---|---|"]
        for tag in plan.tags:
            lines.append(f"| `{tag.tag}` | {_MD_ACTION[tag.action]} | {_md_code(_now(tag))} | `{short(plan.prepared.index.digest)}` |")
        lines.append("")
        for tag in plan.tags:
            if tag.action == UNCHANGED:
                continue
            lines += [f"<details><summary><code>{tag.tag}</code>: platforms</summary>", "",
                      "| platform | change | before | after |", "|---|---|---|---|"]
            for entry in tag.entries:
                change = entry.change if entry.change == UNCHANGED else f"**{entry.change}**"
                lines.append(f"| {entry.platform} | {change} | {_md_code(short(entry.before))} | {_md_code(short(entry.after))} |")
            lines += [""] + ([f"- {note}" for note in tag.notes] + [""] if tag.notes else []) + ["</details>", ""]
        carried = carry_lines(plan.prepared.carry, done=False)
        if carried:
            lines += [f"<details><summary>{carried[0]}</summary>", "", "```", *(c.strip() for c in carried[1:]), "```", "</details>", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_code(text: str) -> str:
    return f"`{text}`" if text.startswith("sha256:") else (text or "—")


def plan_json(plans: list[SpecPlan]) -> dict[str, Any]:
    return {
        "changes": any(p.changes for p in plans),
        "summary": counts(plans),
        "specs": [
            {
                "spec": plan.prepared.spec.path,
                "target": str(plan.prepared.spec.image),
                "index": {
                    "digest": plan.prepared.index.digest,
                    "mediaType": plan.prepared.index.media_type,
                    "size": plan.prepared.index.size,
                },
                "warnings": list(plan.prepared.resolution.skipped),
                "tags": [tag_json(tag) for tag in plan.tags],
                "referrers": carry_json(plan.prepared.carry),
                **choice_json(plan.prepared),
            }
            for plan in plans
        ],
    }


def tag_json(tag: TagPlan) -> dict[str, Any]:
    return {
        "tag": tag.tag,
        "reference": str(tag.reference),
        "action": tag.action,
        "current": {"state": tag.current.state, "digest": tag.current.digest or None,
                    "mediaType": tag.current.media_type or None},
        "platforms": [
            {"platform": e.platform, "change": e.change, "before": e.before or None, "after": e.after or None}
            for e in tag.entries
        ],
        "notes": list(tag.notes),
    }
