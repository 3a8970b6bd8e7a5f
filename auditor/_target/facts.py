"""A distribution's installed version and the distributions of some modules; run BY THE TARGET.

Standard library only, Python 3.8+ syntax.  Never imports an audited module.  The survey
(auditor/survey/run.py) runs it with ``-I`` in a throwaway venv after the scan.

``facts.py DIST [MODULE ...]``
    One JSON object: ``{"version": DIST's installed version or null, "imports": the names
    users import DIST by, "owners": {MODULE: the distribution that installed its top-level
    package, "stdlib", or null}}``.
"""

import importlib.metadata as md
import json
import sys

# Top-level names that are a distribution's own tests, docs or examples: nobody imports them.
NOT_IMPORTED = {"test", "tests", "testing", "doc", "docs", "example", "examples", "benchmarks"}
MODULE_SUFFIXES = (".py", ".so", ".pyd")


def _importable(parts):
    """The import name a RECORD path stands for at its depth: a package directory (with its
    __init__), a module file; None for anything else."""
    if len(parts) > 1:
        return parts[0]
    name = parts[0]
    if name.endswith(MODULE_SUFFIXES):
        return name.split(".")[0]
    return None


def import_names(dist):
    """The names users import DIST by, from its RECORD: each top-level package and module;
    a namespace package (no __init__.py) stands for its subpackages and modules
    (google-auth: google.auth, google.oauth2).  Private names (_cffi_backend) only when
    nothing public is left; tests, docs and examples never.  top_level.txt when there is no
    RECORD.  [] when DIST is not installed."""
    try:
        found = md.distribution(dist)
    except Exception:
        return []
    files = [f.parts for f in (found.files or ())]
    if not files:
        text = found.read_text("top_level.txt") or ""
        return sorted({n.strip() for n in text.splitlines() if n.strip().isidentifier()})
    inits = {parts[0] for parts in files if len(parts) == 2 and parts[1] == "__init__.py"}
    names = set()
    for parts in files:
        top = parts[0]
        if top in ("..", "__pycache__") or top.endswith((".dist-info", ".data", ".egg-info")):
            continue
        if len(parts) > 1 and top not in inits:  # a namespace package: one level down
            sub = _importable(parts[1:])
            if sub and sub.isidentifier() and sub != "__pycache__":
                names.add(top + "." + sub)
            continue
        name = _importable(parts)
        if name and name.isidentifier():
            names.add(name)
    names = {n for n in names if not set(n.split(".")) & NOT_IMPORTED}
    public = {n for n in names if not n.split(".")[-1].startswith("_")}
    return sorted(public or names)


def facts(dist, names):
    try:
        version = md.version(dist)
    except Exception:
        version = None
    try:
        tops = md.packages_distributions()
    except Exception:  # 3.8 and 3.9 have no packages_distributions()
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
    return {"version": version, "imports": import_names(dist), "owners": owners}


def main(argv):
    print(json.dumps(facts(argv[0], argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
