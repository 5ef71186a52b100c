"""`--output json`: one JSON document on stdout per command, for programs; diagnostics as in text."""

from __future__ import annotations

import json
import sys
from typing import Any, Collection

from manifest_spec.cli.output import Reporter, diagnostic, stale_locks, write_json
from manifest_spec.errors import Problem
from manifest_spec.oci.index import descriptor_json
from manifest_spec.oci.platforms import platform_json
from manifest_spec.scrub import redact


def push_json(prepared: Any) -> dict[str, Any]:
    from manifest_spec.carry.view import carry_json
    from manifest_spec.review.planview import choice_json

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
        "referrers": carry_json(prepared.carry),
        **choice_json(prepared),
    }


def push_body(result: Any) -> dict[str, Any]:
    body = push_json(result.prepared)
    body["tagStatus"] = [{"tag": t.tag, "status": t.status, "previous": t.previous or None} for t in result.tag_results]
    return body


class JsonReporter(Reporter):
    def validation(self, results: list[tuple[str, list[Problem]]], skipped: Collection[str] = ()) -> None:
        write_json({
            "valid": not any(problems for _, problems in results),
            "files": [
                {
                    "file": name,
                    "valid": not problems,
                    **({"skipped": True} if name in skipped else {}),
                    "errors": [{"line": p.line, "column": p.column, "path": p.path, "message": p.message} for p in problems],
                }
                for name, problems in results
            ],
        })

    def error(self, message: str) -> None:
        write_json({"error": redact(message)})
        super().error(message)

    def failures(self, failures: list[tuple[str, str]]) -> None:
        write_json({"errors": [{"spec": spec, "error": redact(message)} for spec, message in failures]})
        super().failures(failures)

    def push(self, outcomes: list[Any]) -> None:
        """One object with each tag's status; for several specs a list of them, each naming its file."""
        if len(outcomes) == 1:
            write_json(push_body(outcomes[0].value))
            return
        write_json([push_body(o.value) | {"spec": o.spec.path} if o.error is None else {"spec": o.spec.path, "error": redact(str(o.error))}
                    for o in outcomes])
        for o in outcomes:
            if o.error is not None:
                diagnostic(f"error: {o.spec.path}: {o.error}")

    def dry_run(self, plans: list[Any]) -> None:
        """The full result plus `dryRun`, the `index` and its `tagPlan` (a list of them for several specs)."""
        from manifest_spec.review.planview import tag_json

        bodies = []
        for plan in plans:
            body = push_json(plan.prepared)
            body.update({"dryRun": True, "index": json.loads(plan.prepared.index.data), "tagPlan": [tag_json(t) for t in plan.tags]})
            bodies.append(body | {"spec": plan.prepared.spec.path} if len(plans) > 1 else body)
        write_json(bodies if len(plans) > 1 else bodies[0])

    def plan(self, plans: list[Any]) -> None:
        from manifest_spec.review import planview

        write_json(planview.plan_json(plans))

    def locks(self, written: list[tuple[str, str, Any]]) -> None:
        write_json({"locks": [{"spec": s, "lock": lock, "digest": index.digest} for s, lock, index in written]})

    def lock_check(self, results: list[tuple[str, str, list[str]]]) -> None:
        write_json({
            "upToDate": not any(drift for _, _, drift in results),
            "locks": [{"spec": s, "lock": lock, "upToDate": not drift, "drift": drift} for s, lock, drift in results],
        })
        stale_locks(results)

    def inspect(self, description: Any) -> None:
        write_json({
            "reference": str(description.reference),
            **descriptor_json(description.manifest),
            "annotations": dict(description.annotations),
            "manifests": [
                descriptor_json(e.descriptor, platform=platform_json(e.descriptor.platform), annotations=dict(e.descriptor.annotations),
                                layers=[descriptor_json(layer) for layer in e.layers])
                for e in description.entries
            ],
            "layers": [descriptor_json(layer) for layer in description.layers],
            "platform": platform_json(description.platform),
        })

    def pulled(self, reference: Any, descriptor: Any) -> None:
        write_json({"reference": str(reference), **descriptor_json(descriptor, platform=platform_json(descriptor.platform))})

    def to_spec(self, adopted: Any, source: str) -> None:
        sys.stdout.write(json.dumps(adopted.data, indent=2) + "\n")
