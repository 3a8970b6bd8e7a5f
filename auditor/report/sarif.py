"""SARIF 2.1.0: rules are reason codes, results are modules' reasons, located at the module's
source in the project (or its installed file, relative to the environment)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor import __version__
from auditor.judging.advice import advise
from auditor.judging.classify import REASON_CODES
from auditor.judging.policy import GateResult, target_key
from auditor.model import Reason
from auditor.report.sources import (
    InstalledLocation,
    SourceIndex,
    SourceLocation,
    default_root,
    installed_location,
)

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://docs.python.org/3/howto/isolating-extensions.html"


def _rule(code: str) -> dict[str, Any]:
    advice = advise(Reason(code, ""), None)
    rule: dict[str, Any] = {
        "id": code,
        "name": "".join(part.title() for part in code.split("_")),
        "shortDescription": {"text": advice.title},
        "fullDescription": {"text": advice.explanation},
        "help": {"text": advice.fix},
    }
    if advice.links:
        rule["helpUri"] = advice.links[0][1]
    return rule


def _artifact(uri: str, base: str) -> dict[str, Any]:
    return {"uri": quote(uri), "uriBaseId": base}


class _EnvironmentBases:
    """uriBaseIds for the folders installed module files are given relative to: ENVROOT for
    the first (a target's sys.prefix, as a rule), ENVROOT2, ... for others."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.described: dict[str, dict[str, Any]] = {}

    def location(self, installed: InstalledLocation, python: str) -> dict[str, Any]:
        base = self.ids.get(installed.root)
        if base is None:
            base = "ENVROOT" + (str(len(self.ids) + 1) if self.ids else "")
            self.ids[installed.root] = base
            what = (
                f"The environment of the audited Python {python} (its sys.prefix)"
                if installed.kind == "prefix"
                else f"The sys.path entry of the audited Python {python} its modules are in"
            )
            self.described[base] = {
                "uri": Path(installed.root).as_uri() + "/",
                "description": {"text": what},
            }
        return {"physicalLocation": {"artifactLocation": _artifact(installed.relative, base)}}


class _Sources:
    """Finds modules' sources below the SARIF root, walking the tree at the first question."""

    def __init__(self, root: Path, sources: SourceIndex | None) -> None:
        self.root, self.sources = root, sources

    def find(self, module: str) -> SourceLocation | None:
        if self.sources is None:
            self.sources = SourceIndex.build(self.root)
        return self.sources.find(module, relative_to=self.root)


def _locations(
    module: dict[str, Any], key: str, prefix: str | None, env: _EnvironmentBases, sources: _Sources
) -> dict[str, Any]:
    """The result's locations: the module's source, with the installed file as a related
    location, or the installed file alone when the project's tree has no source of it."""
    installed = env.location(installed_location(module["path"], module["name"], prefix), key)
    source = sources.find(module["name"])
    if source is None:
        return {"locations": [installed]}
    located = {
        "physicalLocation": {
            "artifactLocation": _artifact(source.path, "SRCROOT"),
            "region": {"startLine": source.line},
        }
    }
    installed["message"] = {"text": "the installed module file"}
    return {"locations": [located], "relatedLocations": [installed]}


def render_sarif(
    data: dict[str, Any],
    gate: GateResult,
    root: Path | None = None,
    *,
    sources: SourceIndex | None = None,
) -> str:
    """Every reason of every module that is not own_gil, as a result of rule <code>.

    Results of modules that fail the gate are errors; the others are warnings (or notes when
    ignored), so that code-scanning UIs show the whole picture with the gate's view of it.
    A result is located at the source that defines its module in the project's tree, `root`
    (SRCROOT; default: $GITHUB_WORKSPACE, else the current folder), found by `sources` (an
    index of `root` or of a tree that holds it; built here when not given); else at the
    installed module file, relative to its environment (ENVROOT).
    """
    root = root.resolve() if root else default_root()
    found = _Sources(root, sources)
    env = _EnvironmentBases()
    results_by_module = {(m.target, m.name): m for m in gate.modules}
    results = []
    for target in data["targets"]:
        key = target_key(target)
        prefix = target["python"].get("prefix")
        for module in target["modules"]:
            gate_result = results_by_module[(key, module["name"])]
            level = (
                "error" if gate_result.failed else ("note" if gate_result.ignored else "warning")
            )
            if not module["reasons"]:
                continue
            located = _locations(module, key, prefix, env, found)
            for reason in module["reasons"]:
                advice = reason.get("advice") or {}
                text = f"{module['name']} (Python {key}, {module['verdict']}): {reason['message']}"
                if advice.get("fix"):
                    text += f" Fix: {advice['fix']}"
                results.append(
                    {
                        "ruleId": reason["code"],
                        "ruleIndex": REASON_CODES.index(reason["code"]),
                        "level": level,
                        "message": {"text": text},
                        **copy.deepcopy(located),
                        "partialFingerprints": {
                            "module/v1": f"{key}:{module['name']}:{reason['code']}",
                        },
                        "properties": {
                            "module": module["name"],
                            "python": key,
                            "verdict": module["verdict"],
                            "probes": reason.get("probes", []),
                        },
                    }
                )
    bases = {
        "SRCROOT": {
            "uri": root.as_uri() + "/",
            "description": {"text": "The project's source tree"},
        },
        **env.described,
    }
    sarif = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "subinterp-audit",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(code) for code in REASON_CODES],
                    }
                },
                "originalUriBaseIds": bases,
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"
