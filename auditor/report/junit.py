"""JUnit XML: one test case per module and probe, plus one for the module's verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from auditor.judging.policy import GateResult, ModuleResult, target_key
from auditor.model import Outcome, ProbeResult
from auditor.report.json import probe_results


def _probe_text(result: ProbeResult) -> str:
    parts = [result.outcome.value]
    if result.exception or result.message:
        parts.append(f"{result.exception}: {result.message}")
    if result.signal or result.exit_code not in (0, None):
        parts.append(f"{result.signal or 'exit ' + str(result.exit_code)} at stage {result.stage}")
    after = result.main_after
    if after is not None and not after.ok:
        parts.append(f"then main: {after.outcome.value}: {after.message}")
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
            probes = probe_results(module)
            for name, probe in probes.items():
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=classname,
                    name=name,
                    time=f"{probe.seconds:.3f}",
                )
                counts["tests"] += 1
                if probe.passed:
                    continue
                if result.failed:
                    failure = ET.SubElement(
                        case, "failure", type=probe.outcome.value, message=_probe_text(probe)
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
                p.stderr_tail
                for p in probes.values()
                if p.outcome in (Outcome.CRASH, Outcome.TIMEOUT)
            ):
                ET.SubElement(case, "system-err").text = stderr
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
