"""Does the C helper leak?  Compare its memory growth with CPython's own subinterpreter API.

    python bench/leak_check.py [--python 3.13]

Runs in the target interpreter (3.13: `_interpreters` is the reference): creates and ends many
subinterpreters through native/probe.c's run_in_subinterpreter and through
`_interpreters.create/run_string/destroy`, and calls read_init many times. CPython itself keeps
some memory per ended interpreter, so the helper should grow by the same amount as the reference,
and read_init by nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import _subinterp_probe as helper
import _interpreters

def rss():
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

N = 300
code = (
    "import sys; sys.path[0:0] = ['/x/a', '/x/b']\n"
    "try:\n import no_such_module\nexcept ImportError: pass"
)
for kind in ("legacy", "isolated"):
    for _ in range(30):
        helper.run_in_subinterpreter(kind, "no_such_module", ["/x/a", "/x/b"], -1, os.getpid())
    before = rss()
    for _ in range(N):
        helper.run_in_subinterpreter(kind, "no_such_module", ["/x/a", "/x/b"], -1, os.getpid())
    mine = rss() - before
    config = _interpreters.new_config(kind)
    before = rss()
    for _ in range(N):
        interp = _interpreters.create(config)
        _interpreters.run_string(interp, code)
        _interpreters.destroy(interp)
    theirs = rss() - before
    print(f"{kind:9} {N} interpreters: helper +{mine} KiB, CPython's _interpreters +{theirs} KiB, "
          f"difference {mine - theirs:+d} KiB")
path = os.path.join(os.path.dirname(os.__file__), "lib-dynload")
module = next(f for f in os.listdir(path) if f.startswith("_json."))
for _ in range(100):
    helper.read_init(os.path.join(path, module), "__json")
before = rss()
for _ in range(20000):
    helper.read_init(os.path.join(path, module), "__json")
print(f"read_init x20000: +{rss() - before} KiB")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default="3.13")
    args = parser.parse_args()
    from auditor.probing.helper import build_helper
    from auditor.probing.target import describe, resolve

    interp = describe(resolve(args.python))
    helper = build_helper(interp)
    return subprocess.run([interp.executable, "-c", CHILD, str(helper.directory)]).returncode


if __name__ == "__main__":
    sys.exit(main())
