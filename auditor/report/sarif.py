"""SARIF 2.1.0: rules are reason codes, results are modules' reasons, located at the module file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.advice import advise
from auditor.classify import REASON_CODES
from auditor.model import Reason
from auditor.policy import GateResult, target_key

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


def _location(path: str, root: Path) -> dict[str, Any]:
    absolute = Path(path).resolve()
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        artifact = {"uri": absolute.as_uri()}
    else:
        artifact = {"uri": relative.as_posix(), "uriBaseId": "SRCROOT"}
    return {"physicalLocation": {"artifactLocation": artifact}}


def render_sarif(data: dict[str, Any], gate: GateResult, root: Path | None = None) -> str:
    """Every reason of every module that is not own_gil, as a result of rule <code>.

    Results of modules that fail the gate are errors; the others are warnings (or notes when
    ignored), so that code-scanning UIs show the whole picture with the gate's view of it.
    """
    root = (root or Path(os.getcwd())).resolve()
    results_by_module = {(m.target, m.name): m for m in gate.modules}
    results = []
    for target in data["targets"]:
        key = target_key(target)
        for module in target["modules"]:
            gate_result = results_by_module[(key, module["name"])]
            level = (
                "error" if gate_result.failed else ("note" if gate_result.ignored else "warning")
            )
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
                        "locations": [_location(module["path"], root)],
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
                "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"
