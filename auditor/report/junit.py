"""JUnit XML: one test case per module and probe, plus one for the module's verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from auditor.judging.policy import GateResult, ModuleResult, target_key


def _probe_passed(probe: dict[str, Any]) -> bool:
    after = probe.get("main_after")
    return probe["outcome"] == "ok" and (after is None or after["outcome"] == "ok")


def _probe_text(probe: dict[str, Any]) -> str:
    parts = [probe["outcome"]]
    if probe.get("exception") or probe.get("message"):
        parts.append(f"{probe.get('exception')}: {probe.get('message')}")
    if probe.get("signal") or probe.get("exit_code") not in (0, None):
        parts.append(
            f"{probe.get('signal') or 'exit ' + str(probe['exit_code'])} "
            f"at stage {probe.get('stage')}"
        )
    after = probe.get("main_after")
    if after and after["outcome"] != "ok":
        parts.append(f"then main: {after['outcome']}: {after.get('message')}")
    return "; ".join(parts)


def _details(module: dict[str, Any]) -> str:
    lines = []
    for reason in module["reasons"]:
        lines.append(f"[{reason['code']}] {reason['message']}")
        advice = reason.get("advice") or {}
        if advice.get("fix"):
            lines.append(f"  fix: {advice['fix']}")
    return "\n".join(lines)


def render_junit(data: dict[str, Any], gate: GateResult) -> str:
    results = {(m.target, m.name): m for m in gate.modules}
    suites = ET.Element("testsuites", name="subinterp-audit")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for target in data["targets"]:
        key = target_key(target)
        suite = ET.SubElement(suites, "testsuite", name=f"subinterp-audit Python {key}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for module in target["modules"]:
            result: ModuleResult = results[(key, module["name"])]
            classname = f"subinterp-audit.py{key}.{module['name']}"
            for name, probe in module["probes"].items():
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=classname,
                    name=name,
                    time=f"{probe.get('seconds', 0):.3f}",
                )
                counts["tests"] += 1
                if _probe_passed(probe):
                    continue
                if result.failed:
                    failure = ET.SubElement(
                        case, "failure", type=probe["outcome"], message=_probe_text(probe)
                    )
                    failure.text = _details(module)
                    counts["failures"] += 1
                else:
                    why = (
                        f"ignored: {result.ignored.reason}"
                        if result.ignored
                        else "allowed by the policy"
                    )
                    ET.SubElement(case, "skipped", message=f"{_probe_text(probe)} ({why})")
                    counts["skipped"] += 1
            case = ET.SubElement(suite, "testcase", classname=classname, name="verdict")
            counts["tests"] += 1
            if result.failed:
                failure = ET.SubElement(
                    case,
                    "failure",
                    type=result.verdict.value,
                    message=f"{result.violation}: {result.reason}",
                )
                failure.text = _details(module)
                counts["failures"] += 1
            if stderr := "\n".join(
                p.get("stderr_tail", "")
                for p in module["probes"].values()
                if p["outcome"] in ("crash", "timeout")
            ):
                ET.SubElement(case, "system-err").text = stderr
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
