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
    """What one interpreter runs: the project's sys.path, then pytest with its JUnit file;
    when pytest itself cannot be imported there, the minimal collector (MINIMAL)."""
    args = list(plan["args"]) + PYTEST_FLAGS + ["--junitxml", plan["junit"][index]]
    return (
        "import sys\n"
        "sys.path[:] = %r\n"
        "sys.argv = ['pytest']\n"
        "try:\n"
        "    import pytest\n"
        "except ImportError as _blocked:\n"
        "    exec(%r, {'__name__': '__subinterp_audit__', 'blocked': _blocked,"
        " 'plan': %r, 'index': %d})\n"
        "else:\n"
        "    _subinterp_audit_rc = pytest.main(%r)\n"
    ) % (list(plan["paths"]), MINIMAL, plan, index, args)


# Run inside a subinterpreter that cannot import pytest (`blocked`: the ImportError): say
# which module blocks it, with the chain of imports that led there (the importing modules'
# frames, outermost first), then run what can run without pytest: the plain test functions
# (no arguments: no fixtures, no parameters) and the methods of plain Test* classes of the
# files pytest would collect, each reported in a JUnit file named as pytest names its
# cases, so that the runs compare test by test.  A file that cannot be imported there is a
# collection error, as pytest reports it.
MINIMAL = r"""
import json, os, sys, traceback

def _status(**fields):
    fields["interpreter"] = index
    with open(plan["status"], "a", encoding="utf-8") as out:
        out.write(json.dumps(fields) + "\n")

def _chain(exc):
    names, current = [], exc
    for _ in range(6):  # and what it was raised from
        if current is None:
            break
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            name = frame.f_globals.get("__name__")
            if frame.f_code.co_name == "<module>" and isinstance(name, str) \
                    and name != "__main__" and name not in names:
                names.append(name)
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    # The module that refused: named by the error, or by CPython's refusal message.
    refused = getattr(exc, "name", None)
    if not refused:
        words = str(exc).split()
        if words[:1] == ["module"] and "does not support loading in subinterpreters" in str(exc):
            refused = words[1]
    if refused and refused not in names:
        names.append(refused)
    return names

_status(stage="blocked", chain=_chain(blocked),
        error="%s: %s" % (type(blocked).__name__, blocked))

SKIP_DIRS = {"build", "dist", "node_modules", "venv", "CVS", "_darcs", "__pycache__"}

def _files(args):
    roots = [a.split("::")[0] for a in args if not a.startswith("-")]
    roots = [r for r in roots if os.path.exists(r)] or ["."]
    for root in roots:
        if os.path.isfile(root):
            yield os.path.abspath(root)
            continue
        for top, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                             and not d.endswith(".egg"))
            for name in sorted(names):
                if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
                    yield os.path.abspath(os.path.join(top, name))

def _import(path):
    base = os.path.dirname(path)
    while os.path.exists(os.path.join(base, "__init__.py")):
        base = os.path.dirname(base)
    if base not in sys.path:
        sys.path.insert(0, base)
    name = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
    __import__(name)
    return sys.modules[name]

def _plain(function, bound):
    code = getattr(function, "__code__", None)
    return code is not None and code.co_argcount == (1 if bound else 0)

def _call(function):
    try:
        function()
    except BaseException as exc:  # pytest's outcome: a failed test
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return ("failure", "%s: %s" % (type(exc).__name__, exc), text)
    return None

NEEDS = "needs fixtures or parameters: the minimal collector runs plain test functions only"

def _cases(module):
    for name, value in sorted(vars(module).items()):
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if name.startswith("test") and callable(value) and not isinstance(value, type):
            yield None, name, (_call(value) if _plain(value, False) else ("skipped", NEEDS, ""))
        elif name.startswith("Test") and isinstance(value, type):
            if value.__init__ is not object.__init__:
                continue  # pytest does not collect it either
            for method in sorted(m for m in dir(value) if m.startswith("test")):
                function = getattr(value, method)
                if not callable(function):
                    continue
                if _plain(function, True):
                    yield name, method, _call(getattr(value(), method))
                else:
                    yield name, method, ("skipped", NEEDS, "")

def _xml(text):
    text = "".join(c if c in "\t\n" or " " <= c else "?" for c in str(text))
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))

rows, ran = [], 0
rootdir = os.getcwd()
for path in _files(plan["args"]):
    dotted = os.path.relpath(path, rootdir)[:-3].replace(os.sep, ".")
    try:
        module = _import(path)
    except BaseException as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        last = "E   %s: %s" % (type(exc).__name__, exc)
        rows.append('<testcase classname="" name="%s"><error message="collection failure">'
                    "%s\n%s</error></testcase>" % (_xml(dotted), _xml(text), _xml(last)))
        continue
    for cls, name, failed in _cases(module):
        ran += 1
        classname = dotted + ("." + cls if cls else "")
        case = '<testcase classname="%s" name="%s"' % (_xml(classname), _xml(name))
        if failed is None:
            rows.append(case + " />")
        else:
            tag, message, text = failed
            rows.append('%s><%s message="%s">%s</%s></testcase>'
                        % (case, tag, _xml(message), _xml(text), tag))
with open(plan["junit"][index], "w", encoding="utf-8") as out:
    out.write('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="minimal">'
              + "".join(rows) + "</testsuite></testsuites>\n")
_status(stage="minimal", tests=ran)
"""


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
