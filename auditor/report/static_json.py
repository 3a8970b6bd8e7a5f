"""``scan --static-only --json``: the JSON document of a static analysis (kind "static": not a
scan report), written by auditor/report/output.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.report.json import dump_json
from auditor.report.output import write_report
from auditor.static.artifact import NO_PROBE, RUN_SCAN, Artifact, OtherFile, StaticModule, TagInfo

FORMAT_VERSION = 1


def _tag_dict(tag: TagInfo) -> dict[str, Any]:
    data: dict[str, Any] = {"tag": tag.tag, "meaning": tag.meaning}
    if tag.platform is not None:
        data["platforms"] = tag.platform.split(", ")
    return data


def _module_dict(module: StaticModule) -> dict[str, Any]:
    binding = module.info.binding
    return {
        "name": module.name,
        "file": module.file,
        "suffix": module.suffix,
        "abi": module.abi,
        "toolkit": binding.toolkit,
        "toolkit_version": binding.version,
        "evidence": list(binding.evidence),
        "exports": list(module.exports),
        "init_guess": module.init_guess,
        "imports_python_api": module.info.imports_python_api,
        "hints": [
            {"symbol": hint.symbol, "kind": hint.kind, "meaning": hint.meaning}
            for hint in module.info.hints
        ],
        "note": module.note,
    }


def _other_dict(other: OtherFile) -> dict[str, Any]:
    return {"file": other.file, "name": other.name, "reason": other.reason}


def static_dict(artifacts: Sequence[Artifact]) -> dict[str, Any]:
    """The JSON document of a static analysis (kind "static": not a scan report)."""
    return {
        "version": FORMAT_VERSION,
        "kind": "static",
        "tool": {"name": "subinterp-audit", "version": __version__},
        "meta": {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "no_probe_ran": True,
        "note": f"{NO_PROBE} {RUN_SCAN}",
        "artifacts": [
            {
                "path": artifact.path,
                "kind": artifact.kind,
                "tags": [_tag_dict(tag) for tag in artifact.tags],
                "modules": [
                    _module_dict(m)
                    for m in sorted(artifact.modules, key=lambda m: (m.name, m.file))
                ],
                "not_extensions": [
                    _other_dict(o) for o in sorted(artifact.others, key=lambda o: o.file)
                ],
                "refused": [_other_dict(r) for r in artifact.refused],
            }
            for artifact in artifacts
        ],
    }


def write_static_json(path: Path, artifacts: Sequence[Artifact]) -> None:
    """Write the JSON document of `artifacts` to `path` (ReportError when that fails)."""
    write_report(path, dump_json(static_dict(artifacts)))
