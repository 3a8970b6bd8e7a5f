"""Settings from [tool.subinterp-audit] in pyproject.toml (command-line flags override them)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.judging.policy import Ignore, parse_verdicts
from auditor.model import Verdict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TABLE = "tool.subinterp-audit"

# key -> what it holds, for error messages (and the README's configuration section).
KEYS = {
    "python": "interpreters to audit (a string or a list)",
    "package": "distributions to audit (a string or a list)",
    "module": "modules or packages to audit (a string or a list)",
    "imports": "modules (pure-Python too) whose import is probed itself (a string or a list)",
    "paths": "directories or files to audit, relative to pyproject.toml (a list)",
    "require": "the minimum verdict: own_gil, shared_gil or legacy_only",
    "fail-on": "verdicts that fail the gate (a string or a list)",
    "fail-on-interpreter-bugs": "true: a known CPython bug fails the gate like any finding",
    "ignore": 'modules exempted from the gate: [{module = "...", reason = "..."}]',
    "baseline": "a JSON report to compare with, relative to pyproject.toml",
    "timeout": "seconds one probe may take",
    "jobs": "probes to run in parallel",
    "depth": '"full" (default: import and depth probes) or "import" (import probes only)',
    "smoke": 'code run after each import: a string, or {"module.name" = "code", "*" = "code"}',
    "json": "where to write the JSON report, relative to pyproject.toml",
    "html": "where to write the HTML report, relative to pyproject.toml",
    "junit": "where to write JUnit XML, relative to pyproject.toml",
    "sarif": "where to write SARIF, relative to pyproject.toml",
}
OUTPUT_KEYS = ("json", "html", "junit", "sarif")
DEPTH_CHOICES = ("full", "import")
REQUIRE_CHOICES = ("own_gil", "shared_gil", "legacy_only")


@dataclass(frozen=True)
class Settings:
    """What the configuration file says; None/empty where it says nothing."""

    source: Path | None = None
    python: tuple[str, ...] = ()
    package: tuple[str, ...] = ()
    module: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    paths: tuple[Path, ...] = ()
    require: Verdict | None = None
    fail_on: frozenset[Verdict] = frozenset()
    fail_interpreter_bugs: bool | None = None
    ignore: tuple[Ignore, ...] = field(default=())
    baseline: Path | None = None
    timeout: float | None = None
    jobs: int | None = None
    depth: str | None = None
    smoke: dict[str, str] = field(default_factory=dict)  # module name or "*" -> code
    outputs: dict[str, Path] = field(default_factory=dict)  # OUTPUT_KEYS -> path


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: '{key}' must be a string or a list of strings")


def parse(table: dict[str, Any], source: Path) -> Settings:
    """Validate the table; every problem names its key."""
    where = f"{source} [{TABLE}]"
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known keys: {', '.join(KEYS)})")
    base = source.parent
    values: dict[str, Any] = {"source": source}
    for key in ("python", "package", "module", "imports"):
        if key in table:
            values[key] = _strings(table[key], key, where)
    if "paths" in table:
        values["paths"] = tuple(base / p for p in _strings(table["paths"], "paths", where))
    if "require" in table:
        require = table["require"]
        if require not in REQUIRE_CHOICES:
            raise ConfigError(
                f"{where}: 'require' must be one of {', '.join(REQUIRE_CHOICES)}, not {require!r}"
            )
        values["require"] = Verdict(require)
    if "fail-on" in table:
        try:
            values["fail_on"] = parse_verdicts(
                _strings(table["fail-on"], "fail-on", where), "'fail-on'"
            )
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if "fail-on-interpreter-bugs" in table:
        if not isinstance(table["fail-on-interpreter-bugs"], bool):
            raise ConfigError(f"{where}: 'fail-on-interpreter-bugs' must be true or false")
        values["fail_interpreter_bugs"] = table["fail-on-interpreter-bugs"]
    if "ignore" in table:
        values["ignore"] = _ignores(table["ignore"], where)
    outputs = {}
    for key in OUTPUT_KEYS:
        if key in table:
            if not isinstance(table[key], str) or not table[key]:
                raise ConfigError(f"{where}: '{key}' must be a path (a string)")
            outputs[key] = base / table[key]
    if outputs:
        values["outputs"] = outputs
    if "baseline" in table:
        if not isinstance(table["baseline"], str):
            raise ConfigError(f"{where}: 'baseline' must be a path (a string)")
        values["baseline"] = base / table["baseline"]
    if "timeout" in table:
        timeout = table["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"{where}: 'timeout' must be a positive number of seconds")
        values["timeout"] = float(timeout)
    if "jobs" in table:
        jobs = table["jobs"]
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ConfigError(f"{where}: 'jobs' must be a positive integer")
        values["jobs"] = jobs
    if "depth" in table:
        if table["depth"] not in DEPTH_CHOICES:
            raise ConfigError(f'{where}: \'depth\' must be "full" or "import"')
        values["depth"] = table["depth"]
    if "smoke" in table:
        smoke = table["smoke"]
        if isinstance(smoke, str):
            smoke = {"*": smoke}
        if not isinstance(smoke, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in smoke.items()
        ):
            raise ConfigError(
                f"{where}: 'smoke' must be a string or a table of module name = code strings"
            )
        for name, code in smoke.items():
            try:
                compile(code, f"<smoke for {name}>", "exec")
            except SyntaxError as exc:
                raise ConfigError(f"{where}: 'smoke' for {name}: {exc.msg}") from None
        values["smoke"] = dict(smoke)
    return Settings(**values)


def _ignores(value: Any, where: str) -> tuple[Ignore, ...]:
    if not isinstance(value, list):
        raise ConfigError(
            f'{where}: \'ignore\' must be a list of tables [{{module = "...", reason = "..."}}]'
        )
    entries = []
    for number, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: ignore entry {number} must be a table with module and reason"
            )
        extra = sorted(set(entry) - {"module", "reason"})
        if extra:
            raise ConfigError(f"{where}: ignore entry {number}: unknown key '{extra[0]}'")
        module, reason = entry.get("module"), entry.get("reason")
        if not isinstance(module, str) or not module:
            raise ConfigError(f"{where}: ignore entry {number} needs a 'module'")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"{where}: ignore entry {number} ({module}) needs a 'reason': "
                f"say why the module may stay as it is"
            )
        entries.append(Ignore(module, reason.strip()))
    return tuple(entries)


def load(path: Path | None) -> Settings:
    """The settings of `path`, or of ./pyproject.toml when it exists; else no settings."""
    explicit = path is not None
    path = path or Path("pyproject.toml")
    if not path.is_file():
        if explicit:
            raise ConfigError(f"{path}: no such file")
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    table = data.get("tool", {}).get("subinterp-audit")
    if table is None:
        return Settings(source=path)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{TABLE}] must be a table")
    return parse(table, path)
