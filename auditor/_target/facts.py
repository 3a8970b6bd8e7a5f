"""A distribution's installed version and the distributions of some modules; run BY THE TARGET.

Standard library only, Python 3.8+ syntax.  Never imports an audited module.  The survey
(auditor/survey/run.py) runs it with ``-I`` in a throwaway venv after the scan.

``facts.py DIST [MODULE ...]``
    One JSON object: ``{"version": DIST's installed version or null, "owners": {MODULE:
    the distribution that installed its top-level package, "stdlib", or null}}``.
"""

import importlib.metadata as md
import json
import sys


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
    return {"version": version, "owners": owners}


def main(argv):
    print(json.dumps(facts(argv[0], argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
