#!/usr/bin/env python3
"""Compare a subinterp-audit JSON report with the independent oracle (tests/fixtures/oracle.py).

Stdlib only; run by any python3 (3.8+).  The oracle itself is run by the *target* interpreter.

    python3 compare.py REPORT.json [--python TARGET] [--path DIR] [MODULE ...]

With no MODULE, every module of the report whose probes contain no crash/timeout is compared.
For each module and each subinterpreter probe -- ``<config>`` (oracle order "fresh") and
``<config>_after_main`` (order "after_main") -- it compares the tool's ``outcome`` and
``message`` (and exception type name) with the oracle's, and for fresh probes also
``main_after.outcome`` / ``main_after.message`` (/ ``.exception``).  When either side crashed or
timed out only ``outcome`` and ``signal`` are compared.

Known convention difference that is mapped rather than reported: the tool reports ``not_run``
for every subinterpreter probe of a module that main cannot import (it queues those probes only
after its ``main`` probe worked; an after_main probe whose main import fails first says so in
its message).  The oracle always runs the subinterpreter.  Such a pair is compared as: the
oracle's clean main import (``main_before`` of the after_main record of the same config; the
fresh record's ``main_after`` only if that is missing) must fail too, with the same outcome,
exception and message as the tool's ``main`` probe.  A probe missing on either side is listed
as "not comparable".
Tool messages are capped at 8192 characters; oracle messages are cut to the same length first.

Exit without main's import: a fresh tool probe also forks once after its subinterpreter
ended, and that copy exits at once (``exit_after_sub``); a crash there makes the probe a
``crash`` at stage ``exit_after_subinterpreter`` (its ``import_outcome`` keeps what the
subinterpreter's import did, ``main_after`` what main's import did in the other branch).
The oracle's fresh child always imports in main before it exits, so it cannot see that
crash.  Such a probe is compared on what both sides ran: the subinterpreter's import
(``import_outcome``, ``exception``, ``message``) and ``main_after``, as "exit_after_sub";
the crash itself is listed apart, as not observable by the oracle.  When the oracle's child
crashed too, at its own exit (phase "exit"), the signals are compared as well.  These
modules are no longer left out of the default module list; other crashes, timeouts and tool
failures still are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ORACLE = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "fixtures", "oracle.py"))
CONFIGS = ("legacy", "isolated", "own_gil")
ORDERS = ("fresh", "after_main")
BAD = ("crash", "timeout")
MAX_MESSAGE = 8192  # native/probe.c MAX_MESSAGE and worker.py _exception_fields


def probe_name(config: str, order: str) -> str:
    return config if order == "fresh" else config + "_after_main"


def load_target(report_path: str, index: int) -> dict[str, Any]:
    with open(report_path, encoding="utf-8") as stream:
        report = json.load(stream)
    return report["targets"][index]


def exit_crash(probe: dict[str, Any]) -> bool:
    """A fresh probe whose only crash was the exit without main's import (see above)."""
    return probe.get("outcome") == "crash" and probe.get("stage") == "exit_after_subinterpreter"


def default_modules(target: dict[str, Any]) -> list[str]:
    names = []
    for module in target["modules"]:
        probes = module["probes"].values()
        outcomes = {p.get("outcome") for p in probes if not exit_crash(p)}
        outcomes |= {(p.get("main_after") or {}).get("outcome") for p in probes}
        if not outcomes & {*BAD, "tool_failure"}:
            names.append(module["name"])
    return names


def target_purelib(python: str) -> str:
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return subprocess.run(
        [python, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def run_oracle(
    python: str,
    oracle: str,
    path: str,
    modules: list[str],
    jobs: int,
    timeout: float,
    raw_out: str | None,
) -> list[dict[str, Any]]:
    cmd = [python, oracle, "--path", path, "--jobs", str(jobs), "--timeout", str(timeout)]
    cmd += modules
    print(
        "oracle:", " ".join(cmd[:8]), "... (%d modules)" % len(modules), file=sys.stderr, flush=True
    )
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit("oracle failed with exit code %d" % proc.returncode)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if raw_out:
        with open(raw_out, "w", encoding="utf-8") as stream:
            for line in lines:
                stream.write(json.dumps(line) + "\n")
    return lines


def _cut(message: str | None) -> str | None:
    return message[:MAX_MESSAGE] if isinstance(message, str) else message


def compare_probe(
    tool: dict[str, Any],
    oracle: dict[str, Any],
    main_probe: dict[str, Any] | None = None,
    clean_main: dict[str, Any] | None = None,
) -> tuple[list[str], str]:
    """Return (differences, how) for one probe; no differences means a match."""
    diffs: list[str] = []
    t_out, o_out = tool.get("outcome"), oracle.get("outcome")
    if exit_crash(tool) and (
        o_out not in BAD or (o_out == "crash" and oracle.get("phase") == "exit")
    ):
        # Compare what the oracle also ran: the subinterpreter's import, main's import after.
        tool = dict(tool, outcome=tool.get("import_outcome"))
        if o_out == "crash":  # both died at exit; the oracle's record kept no import outcome
            if tool.get("signal") != oracle.get("signal"):
                diffs.append(
                    "signal: tool=%r oracle=%r" % (tool.get("signal"), oracle.get("signal"))
                )
            tool["outcome"] = None
        return diffs + _compare_imports(tool, oracle), "exit_after_sub"
    if t_out in BAD or o_out in BAD:
        for key in ("outcome", "signal"):
            if tool.get(key) != oracle.get(key):
                diffs.append("%s: tool=%r oracle=%r" % (key, tool.get(key), oracle.get(key)))
        return diffs, "crash"
    if t_out == "not_run":
        # The tool did not run the subinterpreter because main could not import the module:
        # either the scheduler skipped the probe (main probe failed), or, inside an after_main
        # probe, main's import failed first.  Check the oracle's main import failed the same way.
        # Compare with a main import nothing ran before: the oracle's main_before (of the
        # after_main record of this config), not main_after, which the subinterpreter's
        # attempt may have changed (e.g. numpy's "cannot load module more than once").
        o_main = clean_main or oracle.get("main_before") or oracle.get("main_after") or {}
        prefix = "the import in the main interpreter failed first: "
        if (tool.get("message") or "").startswith(prefix):
            t_main = {
                "outcome": None,
                "exception": tool.get("exception"),
                "message": tool["message"][len(prefix) :],
            }
        else:
            t_main = dict(main_probe or {})
        if o_main.get("outcome") == "ok":
            diffs.append(
                "outcome: tool='not_run' (main failed) but the oracle's main import "
                "was ok (oracle sub outcome=%r)" % (o_out,)
            )
        for key in ("outcome", "exception", "message"):
            if t_main.get(key) is None and key == "outcome":
                continue
            if _cut(t_main.get(key)) != _cut(o_main.get(key)):
                diffs.append("main %s: tool=%r oracle=%r" % (key, t_main.get(key), o_main.get(key)))
        return diffs, "not_run"
    return diffs + _compare_imports(tool, oracle), "full"


def _compare_imports(tool: dict[str, Any], oracle: dict[str, Any]) -> list[str]:
    """The subinterpreter's import, and main's import after it (fresh order)."""
    diffs: list[str] = []
    for key in ("outcome", "message", "exception"):
        t_val, o_val = tool.get(key), oracle.get(key)
        if key == "outcome" and t_val is None:
            continue  # not known on one side (see compare_probe)
        if key == "message":
            t_val, o_val = _cut(t_val), _cut(o_val)
        if t_val != o_val:
            diffs.append("%s: tool=%r oracle=%r" % (key, t_val, o_val))
    if oracle.get("order") == "fresh":
        t_main = tool.get("main_after") or {}
        o_main = oracle.get("main_after") or {}
        for key in ("outcome", "message", "exception"):
            t_val, o_val = t_main.get(key), o_main.get(key)
            if key == "message":
                t_val, o_val = _cut(t_val), _cut(o_val)
            if t_val != o_val:
                diffs.append("main_after.%s: tool=%r oracle=%r" % (key, t_val, o_val))
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="subinterp-audit JSON report")
    parser.add_argument(
        "modules",
        nargs="*",
        metavar="MODULE",
        help="modules to compare (default: all without crash/timeout)",
    )
    parser.add_argument("--python", help="target interpreter (default: the report's)")
    parser.add_argument(
        "--target-index", type=int, default=0, help="which target of the report (default 0)"
    )
    parser.add_argument("--path", help="--path for the oracle (default: target's purelib)")
    parser.add_argument("--oracle", default=DEFAULT_ORACLE)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="oracle per-probe timeout (default 60, like the tool)",
    )
    parser.add_argument("--modules-file", help="read module names from this file too")
    parser.add_argument("--save-oracle", metavar="FILE", help="write the oracle's JSON lines")
    parser.add_argument(
        "--oracle-lines",
        metavar="FILE",
        help="reuse saved oracle JSON lines instead of running the oracle",
    )
    parser.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    args = parser.parse_args(argv)

    target = load_target(args.report, args.target_index)
    by_name = {m["name"]: m for m in target["modules"]}
    modules = list(args.modules)
    if args.modules_file:
        with open(args.modules_file, encoding="utf-8") as stream:
            modules += [
                line.strip() for line in stream if line.strip() and not line.startswith("#")
            ]
    if not modules:
        modules = default_modules(target)
    unknown = [m for m in modules if m not in by_name]
    if unknown:
        parser.error("not in the report: %s" % ", ".join(unknown))
    python = args.python or target["python"]["executable"]

    if args.oracle_lines:
        with open(args.oracle_lines, encoding="utf-8") as stream:
            lines = [json.loads(line) for line in stream if line.strip()]
    else:
        path = args.path or target_purelib(python)
        lines = run_oracle(
            python, args.oracle, path, modules, args.jobs, args.timeout, args.save_oracle
        )
    oracle = {(r["module"], r["config"], r["order"]): r for r in lines}

    compared = matched = 0
    not_comparable: list[str] = []
    exit_crashes: list[str] = []
    mismatches: list[dict[str, Any]] = []
    hows: dict[str, int] = {}
    for name in modules:
        probes = by_name[name]["probes"]
        for config in CONFIGS:
            for order in ORDERS:
                pname = probe_name(config, order)
                o_rec = oracle.get((name, config, order))
                t_rec = probes.get(pname)
                if o_rec is None or t_rec is None:
                    main = probes.get("main", {})
                    not_comparable.append(
                        "%s %s: %s (tool main: %s)"
                        % (
                            name,
                            pname,
                            "no oracle line" if o_rec is None else "probe absent from tool report",
                            main.get("outcome"),
                        )
                    )
                    continue
                compared += 1
                if exit_crash(t_rec):
                    exit_crashes.append(
                        "%s %s: %s at the exit without main's import (oracle: %s)"
                        % (
                            name,
                            pname,
                            t_rec.get("signal") or t_rec.get("exit_code"),
                            o_rec["outcome"],
                        )
                    )
                clean = (oracle.get((name, config, "after_main")) or {}).get("main_before")
                diffs, how = compare_probe(t_rec, o_rec, probes.get("main"), clean)
                hows[how] = hows.get(how, 0) + 1
                if diffs:
                    mismatches.append(
                        {
                            "module": name,
                            "probe": pname,
                            "diffs": diffs,
                            "tool": t_rec,
                            "oracle": o_rec,
                        }
                    )
                else:
                    matched += 1

    print("report: %s  target: %s" % (args.report, python))
    print(
        "modules: %d  (module, probe) pairs compared: %d  matched: %d  mismatched: %d"
        % (len(modules), compared, matched, len(mismatches))
    )
    print("compared as: %s" % ", ".join("%s=%d" % kv for kv in sorted(hows.items())))
    if exit_crashes:
        print("crashes the oracle cannot observe (compared on the imports): %d" % len(exit_crashes))
        for line in exit_crashes:
            print("  " + line)
    if not_comparable:
        print("not comparable: %d" % len(not_comparable))
        for line in not_comparable:
            print("  " + line)
    for mm in mismatches:
        print("MISMATCH %s %s" % (mm["module"], mm["probe"]))
        for diff in mm["diffs"]:
            print("    " + diff)
        tool, orc = mm["tool"], mm["oracle"]
        print(
            "    tool:   outcome=%r stage=%r signal=%r exit=%r import_outcome=%r"
            % (
                tool.get("outcome"),
                tool.get("stage"),
                tool.get("signal"),
                tool.get("exit_code"),
                tool.get("import_outcome"),
            )
        )
        print(
            "    oracle: outcome=%r phase=%r signal=%r exit=%r"
            % (orc.get("outcome"), orc.get("phase"), orc.get("signal"), orc.get("exit_code"))
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as stream:
            json.dump(
                {
                    "compared": compared,
                    "matched": matched,
                    "mismatches": mismatches,
                    "not_comparable": not_comparable,
                    "exit_crashes": exit_crashes,
                    "modules": modules,
                },
                stream,
                indent=1,
            )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
