"""The survey: packages of an index, each installed alone into a throwaway venv of each target
and scanned; one record per package and target, saved as each finishes (a rerun resumes),
sharded for CI, and merged into one report and a tracker page.

A survey file (contract, ``"kind": "subinterp-audit-survey"``)::

    {"version": 1, "kind": ..., "tool": {...}, "meta": {...},
     "records": [{"package", "spec", "python", "python_version", "gil_disabled", "depth",
                  "status", "version", "message", "verdict",
                  "modules": [{"name", "verdict", "reasons", "toolkit",
                               "blocked_by": [{"module", "chain", "distribution"}]}]}],
     "summary": {...}, "changes": [...] | null}          # the last two: merged files only

Everything that depends on the run (timestamps, command lines, shards, executables) is in
``meta``; the rest depends on the records only and is sorted, so the merge of a sharded run
equals the merge of the same run unsharded, except for ``meta``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from rich.markup import escape

from auditor import __version__
from auditor.console import console, err_console
from auditor.errors import AuditorError, InstallError, SelectionError, UsageError
from auditor.model import AuditReport, Verdict
from auditor.pipeline import now
from auditor.probe_plan import DepthSettings
from auditor.probing.audit import scan_target
from auditor.probing.cache import ResultCache
from auditor.probing.helper import build_helper
from auditor.probing.target import describe, resolve
from auditor.probing.throwaway import InstallOptions, installed, requirement
from auditor.project_settings import DEPTH_CHOICES
from auditor.report import plural
from auditor.report.json import report_dict
from auditor.report.output import check_output, write_report

# Survey file format history (bump on any incompatible change; adding fields is compatible):
# 1: first version.
SURVEY_VERSION = 1
SURVEY_KIND = "subinterp-audit-survey"

STATUSES = ("ok", "no_extensions", "install_failed", "scan_failed")


# --- the list of packages -------------------------------------------------------------------


@dataclass(frozen=True)
class Requested:
    """One line of the requirements file: the distribution and the requirement as written."""

    package: NormalizedName
    spec: str


def read_requirements(path: Path) -> list[Requested]:
    """The requirements of a survey list: one per line, `NAME` or `NAME<op>VERSION` (extras
    allowed); blank lines and comments (`#`) are skipped.  Raises UsageError naming the line
    for pip options, URLs, environment markers and a package listed twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    found: list[Requested] = []
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        if line.startswith("-"):
            raise UsageError(f"{where}: pip options ({line.split()[0]}) are not supported here")
        try:
            parsed = Requirement(line)
        except InvalidRequirement as exc:
            said = str(exc).splitlines()[0]  # packaging adds the line and a caret below
            raise UsageError(f"{where}: {line!r} is not a requirement: {said}") from None
        if parsed.url:
            raise UsageError(f"{where}: give a name and a version, not a URL")
        if parsed.marker is not None:
            raise UsageError(f"{where}: environment markers are not supported in a survey list")
        name = canonicalize_name(parsed.name)
        if name in lines:
            raise UsageError(f"{where}: {name} is already listed on line {lines[name]}")
        lines[name] = number
        found.append(Requested(name, line))
    return found


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` -> (I, N), 1 <= I <= N.  Raises UsageError."""
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise UsageError(f"--shard {text}: give I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text}: I must be between 1 and N")
    return i, n


def shard(items: Iterable[Requested], index: int, count: int) -> list[Requested]:
    """Shard `index` of `count` (1-based): the requirements sorted by canonical name, every
    `count`-th starting with the `index`-th.  The shards are disjoint, cover the list, and
    depend only on the set of names (not on their order in the file)."""
    ordered = sorted(items, key=lambda r: r.package)
    return ordered[index - 1 :: count]


# --- targets and records --------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyTarget:
    """A target interpreter of the survey."""

    label: str  # "3.13", "3.14t": the tracker's columns
    version: str  # "3.13.0"
    gil_disabled: bool
    executable: Path


def python_order(label: str) -> tuple[int, ...]:
    """Sort key of a label: 3.9 < 3.13 < 3.13t < 3.14."""
    numbers = tuple(int(part) for part in label.rstrip("t").split(".") if part.isdigit())
    return (*numbers, label.endswith("t"))


def record_order(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["package"], python_order(record["python"]), record["spec"])


def resume_key(record: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """A record a rerun does not redo: same package, requirement, target and depth."""
    return (
        record["package"],
        record["spec"],
        record["python"],
        record["python_version"],
        record["depth"],
    )


def _blocked_by(reasons: list[dict[str, Any]], owners: dict[str, str | None]) -> list[Any]:
    found = {
        (r["module"], tuple(r["details"].get("chain") or (r["module"],)))
        for r in reasons
        if r["code"] == "blocked_by" and r.get("module")
    }
    return [
        {"module": module, "chain": list(chain), "distribution": owners.get(module)}
        for module, chain in sorted(found)
    ]


def module_entry(module: dict[str, Any], owners: dict[str, str | None]) -> dict[str, Any]:
    """A module of the JSON report (auditor/report/json.py), as a survey records it."""
    binding = module.get("binding") or {}
    return {
        "name": module["name"],
        "verdict": module["verdict"],
        "reasons": sorted({r["code"] for r in module["reasons"]}),
        "toolkit": binding.get("toolkit"),
        "blocked_by": _blocked_by(module["reasons"], owners),
    }


def package_verdict(modules: Sequence[dict[str, Any]]) -> str | None:
    """A package's verdict: its worst module's, among the modules that import at all.  A
    module that is broken even in the main interpreter (an optional backend whose dependency
    is not installed: zstandard._cffi without cffi) says nothing about subinterpreters; the
    package is broken only when every module is."""
    usable = [m["verdict"] for m in modules if m["verdict"] != "broken"]
    return worst(usable) if usable else worst(m["verdict"] for m in modules)


def worst(verdicts: Iterable[str]) -> str | None:
    """The worst of some verdicts (Verdict's order), None for none."""
    ranked = [Verdict(v) for v in verdicts]
    return max(ranked, key=lambda v: v.rank).value if ranked else None


@dataclass(frozen=True)
class SurveySettings:
    """How every package is installed and scanned."""

    install: InstallOptions
    depth: str  # "full" | "import"
    timeout: float
    jobs: int


# Run by a throwaway venv's interpreter: the installed version of the distribution, and the
# distribution (or "stdlib") of each blocking module.
_FACTS = """
import json, sys
import importlib.metadata as md
dist, names = sys.argv[1], sys.argv[2:]
try:
    version = md.version(dist)
except Exception:
    version = None
try:
    tops = md.packages_distributions()
except Exception:
    tops = {}
stdlib = getattr(sys, "stdlib_module_names", ()) or ()
owners = {}
for name in names:
    top = name.split(".")[0]
    if top in stdlib or name in sys.builtin_module_names:
        owners[name] = "stdlib"
    else:
        dists = sorted(tops.get(top, ()))
        owners[name] = dists[0] if dists else None
print(json.dumps({"version": version, "owners": owners}))
"""


def _facts(python: Path, dist: str, names: Sequence[str]) -> tuple[str | None, dict[str, Any]]:
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _FACTS, dist, *names],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        facts = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None, {}
    owners = {
        name: canonicalize_name(owner) if owner and owner != "stdlib" else owner
        for name, owner in facts.get("owners", {}).items()
    }
    return facts.get("version"), owners


def survey_package(
    requested: Requested, target: SurveyTarget, settings: SurveySettings
) -> dict[str, Any]:
    """Install one requirement into a throwaway venv of the target, scan the modules of its
    distribution (not those of its dependencies), and return the record."""
    record: dict[str, Any] = {
        "package": requested.package,
        "spec": requested.spec,
        "python": target.label,
        "python_version": target.version,
        "gil_disabled": target.gil_disabled,
        "depth": settings.depth,
        "status": "ok",
        "version": None,
        "message": None,
        "verdict": None,
        "modules": [],
    }
    depth = DepthSettings() if settings.depth == "full" else None
    try:
        with installed(target.executable, requirement(requested.spec), settings.install) as venv:
            try:
                audit = scan_target(
                    describe(venv),
                    packages=(requested.package,),
                    jobs=settings.jobs,
                    timeout=settings.timeout,
                    isolation="shared",
                    # Nothing to reuse: every venv is new (and the user's cache stays clean).
                    cache=ResultCache(Path(), enabled=False),
                    depth=depth,
                    smoke={},
                )
            except SelectionError:
                record["status"] = "no_extensions"  # a pure-Python distribution
                record["version"], _ = _facts(venv, requested.package, ())
                return record
            except AuditorError as exc:
                record["status"], record["message"] = "scan_failed", str(exc)
                record["version"], _ = _facts(venv, requested.package, ())
                return record
            except Exception as exc:  # a bug of this tool: one package, not the whole survey
                record["status"] = "scan_failed"
                record["message"] = f"internal error: {type(exc).__name__}: {exc}"
                return record
            modules = report_dict(AuditReport((audit,), "", ""))["targets"][0]["modules"]
            blockers = {
                r["module"] for m in modules for r in m["reasons"] if r["code"] == "blocked_by"
            }
            record["version"], owners = _facts(venv, requested.package, sorted(blockers - {None}))
    except InstallError as exc:
        record["status"], record["message"] = "install_failed", str(exc)
        return record
    entries = sorted((module_entry(m, owners) for m in modules), key=lambda m: m["name"])
    record["modules"] = entries
    record["verdict"] = package_verdict(entries)
    if audit.incomplete:
        record["message"] = "the tool failed on " + ", ".join(sorted(audit.incomplete))
    return record


# --- survey files ---------------------------------------------------------------------------


def survey_document(records: Iterable[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": SURVEY_VERSION,
        "kind": SURVEY_KIND,
        "tool": {"name": "subinterp-audit", "version": __version__},
        "meta": meta,
        "records": sorted(records, key=record_order),
    }


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def load_survey(path: Path) -> dict[str, Any]:
    """A survey file (a shard or a merge).  Raises UsageError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != SURVEY_KIND:
        raise UsageError(f"{path} is not a subinterp-audit survey file")
    if data.get("version") != SURVEY_VERSION:
        raise UsageError(
            f"{path} has survey version {data.get('version')!r}; this subinterp-audit reads "
            f"version {SURVEY_VERSION}"
        )
    records = data.get("records")
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and {"package", "spec", "python", "python_version", "depth"} <= set(r)
        for r in records
    ):
        raise UsageError(f"{path}: its records are not survey records")
    return data


def resolve_targets(specs: Sequence[str]) -> list[SurveyTarget]:
    """Each --python once, described (and the C helper built: a target that cannot be
    probed fails the survey before any install, not each package)."""
    targets: dict[str, SurveyTarget] = {}
    for spec in specs:
        executable = resolve(spec)
        interp = describe(executable)
        label = "{}.{}".format(*interp.short_version) + ("t" if interp.gil_disabled else "")
        if label in targets:
            err_console.print(f"[dim]{escape(spec)}: Python {label} again, surveyed once[/]")
            continue
        build_helper(interp)
        targets[label] = SurveyTarget(label, interp.version, interp.gil_disabled, executable)
    return sorted(targets.values(), key=lambda t: python_order(t.label))


def _describe_record(record: dict[str, Any]) -> str:
    status = record["status"]
    version = f" {record['version']}" if record.get("version") else ""
    if status == "ok":
        modules = record["modules"]
        blockers = sorted({b["module"] for m in modules for b in m["blocked_by"]})
        text = f"{record['verdict']} ({plural(len(modules), 'module')}"
        text += f"; blocked by {', '.join(blockers)})" if blockers else ")"
    elif status == "no_extensions":
        text = "no extension modules (pure Python)"
    else:
        text = f"{status}: {record['message']}"
    return f"{record['package']}{version} on {record['python']}: {text}"


def run_survey(
    requested: Sequence[Requested],
    targets: Sequence[SurveyTarget],
    settings: SurveySettings,
    out: Path,
    meta: dict[str, Any],
) -> list[dict[str, Any]]:
    """Survey every requirement on every target; `out` is rewritten after each record.  The
    records already in `out` with the same resume key are kept and not redone; a new record
    replaces an older one of the same package and target (another spec or depth)."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    if out.exists():
        for record in load_survey(out)["records"]:
            records[(record["package"], record["python"])] = record
    # Only what finished is kept: a failed install (the network) or scan is tried again.
    done = {resume_key(r) for r in records.values() if r.get("status") in ("ok", "no_extensions")}
    total = len(requested) * len(targets)
    step = 0
    for item in requested:
        for target in targets:
            step += 1
            key = (item.package, item.spec, target.label, target.version, settings.depth)
            prefix = f"[{step}/{total}]"
            if key in done:
                err_console.print(
                    f"{prefix} {escape(item.spec)} on {target.label}: skipped (already in "
                    f"{escape(str(out))})",
                    soft_wrap=True,
                    highlight=False,
                )
                continue
            started = time.monotonic()
            record = survey_package(item, target, settings)
            records[(item.package, target.label)] = record
            write_report(out, dump(survey_document(records.values(), {**meta, "finished": now()})))
            err_console.print(
                f"{prefix} {escape(_describe_record(record))} "
                f"[dim]({time.monotonic() - started:.1f} s)[/]",
                soft_wrap=True,
                highlight=False,
            )
    # Also when nothing was left to do: the file says this run's meta.
    document = survey_document(records.values(), {**meta, "finished": now()})
    write_report(out, dump(document))
    return list(document["records"])


# --- merging and the summary ----------------------------------------------------------------


def merge_records(sources: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The records of several survey files, one per package and target.  The same record in
    two files counts once; two different ones raise UsageError naming both files."""
    merged: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for name, document in sources:
        for record in document["records"]:
            key = (record["package"], record["python"])
            if key in merged and merged[key][1] != record:
                first = merged[key][0]
                raise UsageError(
                    f"{record['package']} on Python {record['python']}: {first} and {name} "
                    f"disagree ({_state(merged[key][1])} vs {_state(record)}); merge shards "
                    f"of one survey"
                )
            merged[key] = (name, record)
    return sorted((record for _, record in merged.values()), key=record_order)


def _state(record: dict[str, Any]) -> str:
    """What a tracker cell says: the verdict, or why there is none."""
    return str(record["verdict"]) if record["status"] == "ok" else str(record["status"])


def root_blockers(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The modules that block other distributions' modules (reason blocked_by), ranked by how
    many modules they block, then by how many packages."""
    blocked: dict[str, set[tuple[str, str]]] = defaultdict(set)
    pythons: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for module in record["modules"]:
            for block in module["blocked_by"]:
                if block["distribution"] == record["package"]:
                    continue  # its own distribution's module: not another package's blocker
                blocked[block["module"]].add((record["package"], module["name"]))
                pythons[block["module"]].add(record["python"])
                if block["distribution"]:
                    owners[block["module"]].add(block["distribution"])
    ranked = [
        {
            "module": name,
            "distributions": sorted(owners[name]),
            "blocked_modules": len(pairs),
            "packages": sorted({package for package, _ in pairs}),
            "pythons": sorted(pythons[name], key=python_order),
        }
        for name, pairs in blocked.items()
    ]
    return sorted(ranked, key=lambda b: (-b["blocked_modules"], -len(b["packages"]), b["module"]))


def toolkit_counts(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many modules (and packages) each binding toolkit made, over every target."""
    modules: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in records:
        for module in record["modules"]:
            modules[module["toolkit"] or "unknown"].add((record["package"], module["name"]))
    counts = [
        {"toolkit": kit, "modules": len(pairs), "packages": len({p for p, _ in pairs})}
        for kit, pairs in modules.items()
    ]
    return sorted(counts, key=lambda c: (-c["modules"], c["toolkit"]))


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    pythons = sorted({r["python"] for r in records}, key=python_order)
    states: dict[str, Counter[str]] = {p: Counter() for p in pythons}
    for record in records:
        states[record["python"]][_state(record)] += 1
    order = [v.value for v in Verdict] + list(STATUSES[1:])
    return {
        "packages": len({r["package"] for r in records}),
        "pythons": pythons,
        "states": {p: {s: states[p][s] for s in order if states[p][s]} for p in pythons},
        "root_blockers": root_blockers(records),
        "toolkits": toolkit_counts(records),
    }


def changes(previous: Sequence[dict[str, Any]], current: Sequence[dict[str, Any]]) -> list[Any]:
    """Per package and target whose verdict (or status) changed: before, after, and how."""
    before = {(r["package"], r["python"]): r for r in previous}
    after = {(r["package"], r["python"]): r for r in current}
    found = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (k[0], python_order(k[1]))):
        old, new = before.get(key), after.get(key)
        old_state = _state(old) if old else None
        new_state = _state(new) if new else None
        if old_state == new_state:
            continue
        if old_state is None:
            kind = "new"
        elif new_state is None:
            kind = "gone"
        elif old and new and old["verdict"] and new["verdict"]:
            worse = Verdict(new["verdict"]).rank > Verdict(old["verdict"]).rank
            kind = "regressed" if worse else "improved"
        else:
            kind = "changed"
        found.append(
            {
                "package": key[0],
                "python": key[1],
                "kind": kind,
                "before": old_state,
                "after": new_state,
                "before_version": old["version"] if old else None,
                "after_version": new["version"] if new else None,
            }
        )
    return found


def merge_documents(
    sources: Sequence[tuple[str, dict[str, Any]]],
    previous: dict[str, Any] | None = None,
    merged_at: str | None = None,
) -> dict[str, Any]:
    """One survey report from shards: sorted records, the summary, and the changes against
    `previous` (None without one)."""
    records = merge_records(sources)
    shards = [{"file": name, **document.get("meta", {})} for name, document in sources]
    document = survey_document(records, {"merged": merged_at or now(), "sources": shards})
    document["summary"] = summarize(records)
    document["changes"] = changes(previous["records"], records) if previous else None
    return document


# --- the commands ---------------------------------------------------------------------------


@click.command()
@click.argument("requirements", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--python",
    "pythons",
    multiple=True,
    required=True,
    metavar="PYTHON",
    help="A target interpreter (as for scan: a version such as 3.13, a path or a venv); "
    "repeat for several.",
)
@click.option(
    "--shard",
    "shard_spec",
    metavar="I/N",
    help="Survey shard I of N only: the requirements sorted by canonical name, every N-th "
    "starting with the I-th.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The survey file, rewritten after each package. If it exists, its records for the "
    "same package, requirement, target and depth are kept and not surveyed again (resume).",
)
@click.option("--find-links", multiple=True, metavar="DIR|URL", help="Passed to pip (repeatable).")
@click.option("--no-index", is_flag=True, help="Passed to pip: only --find-links.")
@click.option(
    "--allow-sdist",
    is_flag=True,
    help="Let pip build a package from its source distribution when no wheel fits "
    "(default: wheels only, what users of the target get without a compiler).",
)
@click.option(
    "--depth",
    type=click.Choice(DEPTH_CHOICES),
    default="full",
    show_default=True,
    help="As for scan: import probes only, or real use too.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds one probe may take before it counts as a hang.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    metavar="N",
    help="Probes run at once. Default: one per CPU.",
)
def survey(
    requirements: Path,
    pythons: tuple[str, ...],
    shard_spec: str | None,
    out: Path,
    find_links: tuple[str, ...],
    no_index: bool,
    allow_sdist: bool,
    depth: str,
    timeout: float,
    jobs: int | None,
) -> None:
    """Survey the packages of REQUIREMENTS: each installed alone (wheels only by default)
    into a throwaway venv of each --python, and its extension modules scanned.

    \b
    One record per package and target: the installed version, the status (ok,
    no_extensions, install_failed, scan_failed), the package's verdict (its worst
    module's) and each module's verdict, reasons, toolkit and blockers. Interrupted?
    Run the same command again: finished packages are kept.

    \b
    Examples:
      subinterp-audit survey top.txt --python 3.13 --python 3.14 --out survey.json
      subinterp-audit survey top.txt --python 3.13 --shard 2/4 --out shard-2.json

    \b
    Exit codes: 0 done (packages that failed to install or scan say so in their
    records), 2 usage error, 130 interrupted (the finished records are saved).
    """
    requested = read_requirements(requirements)
    if not requested:
        raise UsageError(f"{requirements} lists no requirements")
    shard_text = None
    if shard_spec is not None:
        index, count = parse_shard(shard_spec)
        requested, shard_text = shard(requested, index, count), f"{index}/{count}"
    else:
        requested = shard(requested, 1, 1)
    problem = check_output(out)
    if problem:
        raise UsageError(f"cannot write {out}: {problem}")
    if out.exists():
        load_survey(out)  # fails now, not after the first package
    targets = resolve_targets(pythons)
    settings = SurveySettings(
        InstallOptions(find_links=find_links, no_index=no_index, binary_only=not allow_sdist),
        depth=depth,
        timeout=timeout,
        jobs=jobs or os.cpu_count() or 1,
    )
    meta = {
        "started": now(),
        "argv": sys.argv[1:],
        "requirements": str(requirements),
        "shard": shard_text,
        "targets": [
            {"python": t.label, "version": t.version, "executable": str(t.executable)}
            for t in targets
        ],
    }
    what = plural(len(requested), "package")
    err_console.print(
        f"[dim]survey: {what}{f' (shard {shard_text})' if shard_text else ''} on "
        f"{', '.join(t.label for t in targets)} -> {escape(str(out))}[/]",
        soft_wrap=True,
    )
    try:
        records = run_survey(requested, targets, settings, out, meta)
    except KeyboardInterrupt:
        err_console.print(
            f"subinterp-audit: interrupted; the finished packages are in {escape(str(out))}: "
            f"run the same command again to go on",
            soft_wrap=True,
        )
        raise SystemExit(130) from None
    statuses = Counter(r["status"] for r in records)
    console.print(
        f"{escape(str(out))}: {plural(len(records), 'record')} ("
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        + ")",
        soft_wrap=True,
        highlight=False,
    )


@click.command()
@click.argument(
    "shards", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged survey here.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the tracker page here (one self-contained file).",
)
@click.option(
    "--previous",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An earlier merged survey: list the verdicts that changed since.",
)
def merge(
    shards: tuple[Path, ...], json_path: Path | None, html_path: Path | None, previous: Path | None
) -> None:
    """Merge survey files (the shards of one survey) into one survey and a tracker page.

    \b
    The merged records are sorted, so merging the shards of a run gives the same
    survey as the run unsharded (all but "meta"). A package surveyed twice on one
    target with different results is an error.

    \b
    Example:
      subinterp-audit merge shard-*.json --json survey.json --html tracker.html \\
        --previous last-week.json
    """
    from auditor.report.tracker import render_tracker

    if json_path is None and html_path is None:
        raise UsageError("merge: give --json PATH, --html PATH or both")
    for path in (json_path, html_path):
        problem = check_output(path) if path is not None else None
        if problem:
            raise UsageError(f"cannot write {path}: {problem}")
    sources = [(str(path), load_survey(path)) for path in shards]
    old = load_survey(previous) if previous is not None else None
    document = merge_documents(sources, old)
    outputs = []
    if json_path is not None:
        outputs.append((json_path, dump(document)))
    if html_path is not None:
        outputs.append((html_path, render_tracker(document)))
    for path, text in outputs:
        write_report(path, text)
    summary = document["summary"]
    console.print(
        f"{plural(len(document['records']), 'record')} of {plural(summary['packages'], 'package')}"
        f" on {', '.join(summary['pythons']) or 'no target'}"
        + (f"; {plural(len(document['changes']), 'change')}" if old is not None else "")
        + "; written to "
        + ", ".join(escape(str(p)) for p, _ in outputs),
        soft_wrap=True,
        highlight=False,
    )
