"""Run a project's pytest suite in K subinterpreters of one kind at once; run BY THE TARGET.

Standard library only (pytest comes from the target's environment), Python 3.12+ syntax-safe.
Started by auditor/suites/runner.py in a sacrificial process, in the project's directory:

``suite.py PLAN.json``
    PLAN: ``{"kind": "main" | "legacy" | "isolated" | "own_gil", "interpreters": K,
    "paths": sys.path for each interpreter, "args": pytest's arguments, "junit": [K paths],
    "status": a path}``.  For "main", pytest runs once in this process's main interpreter
    (the baseline).  Otherwise K threads each create an interpreter of the kind, wait for the
    others, run ``pytest.main`` in it with its own JUnit file, and end it, one at a time (what
    InterpreterPoolExecutor does, but for the ends).  After each stage the status file gets
    one JSON line, so that a crash or a hang still tells how far each interpreter got.
"""

import json
import os
import sys
import threading

# pytest's own process-wide machinery cannot be shared by interpreters running at once: the
# file-descriptor capture (dup2 on fds 1 and 2), faulthandler (one handler per process) and
# the cache directory.  A test file that cannot be imported in a subinterpreter (it imports a
# single-phase module: tracemalloc on 3.13) must not stop the others from running.  Every
# run, main's included, uses the same settings.
PYTEST_FLAGS = [
    "--capture=sys",
    "-p",
    "no:faulthandler",
    "-p",
    "no:cacheprovider",
    "--continue-on-collection-errors",
    "-q",
]

_status_lock = threading.Lock()


def _status(plan, **fields):
    with _status_lock, open(plan["status"], "a", encoding="utf-8") as out:
        out.write(json.dumps(fields) + "\n")
        out.flush()
        os.fsync(out.fileno())


def _code(plan, index):
    """What one interpreter runs: the project's sys.path, then pytest with its JUnit file."""
    args = list(plan["args"]) + PYTEST_FLAGS + ["--junitxml", plan["junit"][index]]
    return (
        "import sys\n"
        "sys.path[:] = %r\n"
        "sys.argv = ['pytest']\n"
        "import pytest\n"
        "_subinterp_audit_rc = pytest.main(%r)\n"
    ) % (list(plan["paths"]), args)


def _interpreters_api(kind):
    """create(), run(id, code) -> error text or None, destroy(id) for the kind; raises
    ValueError when this interpreter cannot create that kind from Python."""
    try:
        import _interpreters as api  # type: ignore[import-not-found]  # 3.13+
    except ImportError:
        api = None
    if api is not None:
        if kind == "own_gil":
            config = api.new_config("isolated")
        elif kind == "isolated":
            config = api.new_config("isolated", gil="shared")
        else:
            config = api.new_config("legacy")

        def run(interp, code):
            failed = api.exec(interp, code)
            return None if failed is None else "%s: %s" % (failed.type.__name__, failed.msg)

        return (lambda: api.create(config)), run, api.destroy
    import _xxsubinterpreters as old  # type: ignore[import-not-found]  # 3.12

    if kind == "isolated":
        raise ValueError("Python 3.12 cannot create an isolated interpreter with a shared GIL")

    def run_312(interp, code):
        try:
            old.run_string(interp, code)
        except Exception as exc:  # RunFailedError: the exception inside, as text
            return str(exc)
        return None

    return (lambda: old.create(isolated=(kind == "own_gil"))), run_312, old.destroy


def _run_main(plan):
    sys.path[:] = list(plan["paths"])
    _status(plan, interpreter=0, stage="run")
    import pytest

    args = list(plan["args"]) + PYTEST_FLAGS + ["--junitxml", plan["junit"][0]]
    code = pytest.main(args)
    _status(plan, interpreter=0, stage="done", exit_code=int(code))


def _run_subinterpreters(plan):
    # CPython 3.13's _datetime is not isolated (gh-136423): two interpreters that import it
    # first, at once, share its types' state (pytest then fails with "fromtimestamp() takes
    # exactly one argument") and free it twice as they end.  CPython's advice, which real
    # programs follow anyway: main imports datetime first.
    import datetime  # noqa: F401

    try:
        create, run, destroy = _interpreters_api(plan["kind"])
    except ValueError as exc:
        _status(plan, interpreter=None, stage="unsupported", error=str(exc))
        return
    count = plan["interpreters"]
    barrier = threading.Barrier(count)
    # The interpreters end one at a time: CPython 3.13 aborts when interpreters that imported
    # _datetime (pytest does) end at the same time (gh-136423), which is not the suite's.
    ending = threading.Lock()

    def one(index):
        _status(plan, interpreter=index, stage="create")
        interp = create()
        barrier.wait()
        _status(plan, interpreter=index, stage="run")
        error = run(interp, _code(plan, index))
        _status(plan, interpreter=index, stage="end", error=error)
        with ending:
            destroy(interp)
        _status(plan, interpreter=index, stage="done", error=error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv):
    with open(argv[0], encoding="utf-8") as source:
        plan = json.load(source)
    if plan["kind"] == "main":
        _run_main(plan)
    else:
        _run_subinterpreters(plan)
    _status(plan, interpreter=None, stage="process_exit")


if __name__ == "__main__":
    main(sys.argv[1:])
