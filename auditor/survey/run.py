"""Running a survey: each requirement installed into a throwaway venv of each target, scanned."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from rich.markup import escape

from auditor.console import err_console
from auditor.errors import AuditorError, InstallError, SelectionError
from auditor.model import AuditReport
from auditor.pipeline import now
from auditor.probe_plan import DepthSettings, ProbeSettings
from auditor.probing.audit import audit_target
from auditor.probing.cache import ResultCache
from auditor.probing.helper import build_helper
from auditor.probing.target import describe, resolve, target_script
from auditor.probing.throwaway import InstallOptions, installed, requirement
from auditor.report import plural
from auditor.report.json import dump_json, report_dict
from auditor.report.output import write_report
from auditor.survey.records import (
    finish_imports,
    fixed_verdict,
    import_entry,
    import_once,
    load_survey,
    module_entry,
    package_verdict,
    python_order,
    resume_key,
    survey_document,
    worst,
)
from auditor.survey.requirements import Requested

# --- targets and settings -------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyTarget:
    """A target interpreter of the survey."""

    label: str  # "3.13", "3.14t": the tracker's columns
    version: str  # "3.13.0"
    gil_disabled: bool
    executable: Path


@dataclass(frozen=True)
class SurveySettings:
    """How every package is installed and scanned."""

    install: InstallOptions
    depth: str  # "full" | "import"
    timeout: float
    jobs: int

    @property
    def probe(self) -> ProbeSettings:
        """How every package's probes run (no smoke code: the packages are not ours)."""
        depth = DepthSettings() if self.depth == "full" else None
        return ProbeSettings(jobs=self.jobs, timeout=self.timeout, depth=depth)


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


# --- one package ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What auditor/_target/facts.py, run by the target, says of a distribution."""

    version: str | None
    imports: tuple[str, ...]  # the names users import it by
    owners: dict[str, Any]  # module -> its distribution, "stdlib" or None


def _facts(python: Path, dist: str, names: Sequence[str]) -> Facts:
    """The installed version of `dist`, its import names and the distribution (or "stdlib")
    of each module in `names`; nothing known when the script cannot tell."""
    try:
        done = subprocess.run(
            [str(python), "-I", str(target_script("facts.py")), dist, *names],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        facts = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return Facts(None, (), {})
    owners = {
        name: canonicalize_name(owner) if owner and owner != "stdlib" else owner
        for name, owner in facts.get("owners", {}).items()
    }
    return Facts(facts.get("version"), tuple(facts.get("imports", ())), owners)


def survey_package(
    requested: Requested, target: SurveyTarget, settings: SurveySettings
) -> dict[str, Any]:
    """Install one requirement into a throwaway venv of the target; probe the import of each
    of its import names (--import, as users import it) and scan the extension modules of its
    distribution (not those of its dependencies); return the record."""
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
        "verdict_on_fixed_interpreter": None,
        "cpython_bugs": [],
        "import_verdict": None,
        "modules_verdict": None,
        "import_once": None,
        "imports": [],
        "modules": [],
    }
    try:
        with installed(target.executable, requirement(requested.spec), settings.install) as venv:
            facts = _facts(venv, requested.package, ())
            record["version"] = facts.version
            try:
                audit = audit_target(
                    describe(venv),
                    settings.probe,
                    packages=(requested.package,),
                    imports=facts.imports,
                    # Nothing to reuse: every venv is new (and the user's cache stays clean).
                    cache=ResultCache(Path(), enabled=False),
                )
            except SelectionError:
                record["status"] = "no_extensions"  # nothing to import, nothing compiled
                return record
            except AuditorError as exc:
                record["status"], record["message"] = "scan_failed", str(exc)
                return record
            except Exception as exc:  # a bug of this tool: one package, not the whole survey
                record["status"] = "scan_failed"
                record["message"] = f"internal error: {type(exc).__name__}: {exc}"
                return record
            modules = report_dict(AuditReport((audit,), "", ""))["targets"][0]["modules"]
            blockers = {
                r["module"] for m in modules for r in m["reasons"] if r["code"] == "blocked_by"
            }
            owners = _facts(venv, requested.package, sorted(blockers - {None})).owners
    except InstallError as exc:
        record["status"], record["message"] = "install_failed", str(exc)
        return record
    names = set(facts.imports)
    # An import name that is itself an extension module (mmh3) is scanned once, as one: it
    # is both an import and a module of the record.
    imports = [import_entry(m, owners) for m in modules if m["name"] in names]
    extensions = [m for m in modules if m["origin"] != "import"]
    entries = sorted((module_entry(m, owners) for m in extensions), key=lambda m: m["name"])
    record["modules"] = entries
    record["modules_verdict"] = package_verdict(entries)
    record["import_verdict"] = worst(i["verdict"] for i in imports)
    record["import_once"] = import_once(imports)
    record["imports"] = sorted(finish_imports(imports), key=lambda i: i["name"])
    record["verdict"] = record["import_verdict"] or record["modules_verdict"]
    # What decides the verdict: the imports, else the modules (tests left out).
    deciding = imports or [e for e in entries if not e["test"]] or entries
    record["cpython_bugs"] = sorted({bug for e in deciding for bug in e["cpython_bugs"]})
    if record["cpython_bugs"]:
        record["verdict_on_fixed_interpreter"] = fixed_verdict(deciding)
    if audit.incomplete:
        record["message"] = "the tool failed on " + ", ".join(sorted(audit.incomplete))
    return record


# --- the survey -----------------------------------------------------------------------------


def _describe_record(record: dict[str, Any]) -> str:
    status = record["status"]
    version = f" {record['version']}" if record.get("version") else ""
    if status == "ok":
        modules = record["modules"]
        entries = [*record["imports"], *modules]
        blockers = sorted({b["module"] for m in entries for b in m["blocked_by"]})
        size = plural(len(modules), "module") if modules else "pure Python"
        text = f"{record['verdict']} ({size}"
        if record["import_verdict"] and record["modules_verdict"] not in (
            None,
            record["import_verdict"],
        ):
            text += f", all modules: {record['modules_verdict']}"
        if record.get("cpython_bugs"):
            text += f"; {record['verdict_on_fixed_interpreter']} without CPython's "
            text += ", ".join(record["cpython_bugs"])
        if (record.get("import_once") or {}).get("differs"):
            text += "; import-once says ready"
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
    # A record of an older survey version (no import verdict) is redone too.
    done = {
        resume_key(r)
        for r in records.values()
        if r.get("status") in ("ok", "no_extensions") and "import_verdict" in r
    }
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
            write_report(
                out, dump_json(survey_document(records.values(), {**meta, "finished": now()}))
            )
            err_console.print(
                f"{prefix} {escape(_describe_record(record))} "
                f"[dim]({time.monotonic() - started:.1f} s)[/]",
                soft_wrap=True,
                highlight=False,
            )
    # Also when nothing was left to do: the file says this run's meta.
    document = survey_document(records.values(), {**meta, "finished": now()})
    write_report(out, dump_json(document))
    return list(document["records"])
