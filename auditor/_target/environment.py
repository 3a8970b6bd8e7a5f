"""Describe the target interpreter and find its extension modules; run BY THE TARGET.

Standard library only, Python 3.8+ syntax.  Never imports an audited module.

``environment.py describe``
    One JSON object: version, ABI, build flags, the sysconfig values needed to compile
    the C helper, and sys.path.
``environment.py discover [ROOT ...]``
    One JSON object listing every extension module file importable from sys.path (or,
    when ROOTs are given, found under them), with its dotted name and the distribution
    that installed it (importlib.metadata RECORD), or "stdlib".

The host imports it too (``from auditor._target import environment``): ``scan --static-only``
(auditor/static/names.py and reader.py) names modules and their ABI with the same rules,
module_name(), init_suffix() and _abi(), so importing this module must stay free of side
effects.
"""

import csv
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import sysconfig

_HERE = os.path.dirname(os.path.abspath(__file__))


def _search_path():
    """sys.path as the audited programs see it: existing directories, this script's out."""
    seen = []
    for entry in sys.path:
        if not entry:
            continue
        path = os.path.abspath(entry)
        if path == _HERE or not os.path.isdir(path) or path in seen:
            continue
        seen.append(path)
    return seen


def describe():
    config = sysconfig.get_config_var
    return {
        "executable": sys.executable,
        "version": platform.python_version(),
        "version_info": list(sys.version_info[:3]),
        "build": sys.version,
        "implementation": sys.implementation.name,
        "soabi": config("SOABI"),
        "ext_suffix": config("EXT_SUFFIX"),
        "gil_disabled": bool(config("Py_GIL_DISABLED")),
        # 3.14+ (PEP 734): whether this build can create isolated interpreters at all.
        "supports_isolated_interpreters": getattr(
            sys.implementation, "supports_isolated_interpreters", None
        ),
        "platform": sys.platform,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "sys_path": _search_path(),
        "compiler": {
            "cc": config("CC"),
            "cflags": config("CFLAGS"),
            "ccshared": config("CCSHARED"),
            "ldshared": config("LDSHARED"),
            "include": sysconfig.get_paths().get("include") or config("INCLUDEPY"),
        },
    }


def _abi(suffix):
    """Which ABI an extension suffix names: the version's, the stable ABI (abi3), or the
    free-threading stable ABI (abi3t, PEP 803, 3.15+)."""
    if suffix.startswith(".abi3t"):
        return "stable_free_threading"
    return "stable" if suffix.startswith(".abi3") else "version"


def init_suffix(name):
    """PyInit<suffix> for a module's last name component (PEP 489 for non-ASCII names)."""
    last = name.rpartition(".")[2]
    try:
        last.encode("ascii")
    except UnicodeEncodeError:
        return "U_" + last.encode("punycode").decode("ascii").replace("-", "_")
    return "_" + last


def _stdlib_dirs():
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib") if key in paths}
    dest = sysconfig.get_config_var("DESTSHARED")
    if dest:
        dirs.add(os.path.realpath(dest))
    return dirs


def _site_dirs():
    paths = sysconfig.get_paths()
    return {os.path.realpath(paths[key]) for key in ("purelib", "platlib") if key in paths}


def _headers(dist):
    """Name and Version from the metadata file's headers, without parsing the whole
    message (the email parser costs more than the rest of discovery); None when absent."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found = {}
    for line in text.splitlines():
        if not line:
            break  # the headers end at the first empty line
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version") and key not in found:
            found[key] = value.strip()
    return found.get("Name"), found.get("Version")


def _extension_records(dist, suffixes):
    """The extension files a distribution installed, as its RECORD names them (read
    directly: Distribution.files stats every file of the distribution); other metadata
    formats through Distribution.files."""
    text = dist.read_text("RECORD")
    if text is None:
        return [str(f) for f in dist.files or () if str(f).endswith(suffixes)]
    return [row[0] for row in csv.reader(text.splitlines()) if row and row[0].endswith(suffixes)]


def _owner_map(roots):
    """realpath of each installed extension file -> {"name", "version"} of its distribution,
    and the [name, version] of every distribution found."""
    try:
        import importlib.metadata as metadata
    except ImportError:  # 3.7 and older: no mapping
        return {}, []
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    owners = {}
    seen = []
    for dist in metadata.distributions(path=roots):
        try:
            name, version = _headers(dist)
            if name is None or version is None:
                name, version = dist.metadata["Name"], dist.version
            records = _extension_records(dist, suffixes)
        except Exception:  # a broken RECORD must not stop discovery
            continue
        seen.append([str(name), str(version)])
        for record in records:
            real = os.path.realpath(str(dist.locate_file(record)))
            owners.setdefault(real, {"name": name, "version": version})
    return owners, seen


def _package_init(directory):
    """Whether `directory` is a regular package: FileFinder finds an ``__init__`` with any of
    its suffixes (extension modules first, then source, then bytecode)."""
    suffixes = (
        importlib.machinery.EXTENSION_SUFFIXES
        + importlib.machinery.SOURCE_SUFFIXES
        + importlib.machinery.BYTECODE_SUFFIXES
    )
    return any(os.path.isfile(os.path.join(directory, "__init__" + s)) for s in suffixes)


def module_name(parts, stem):
    """The name an extension file is imported by, and whether that name is made of identifiers;
    None when nothing can import it by name.

    ``pkg/__init__<suffix>`` is the package ``pkg`` itself: its init function is
    ``PyInit_pkg`` (mypyc's shims also export ``PyInit___init__``, which would load the same
    file a second time under the name ``pkg.__init__``).  A stem that is not an identifier
    cannot appear in an import statement, but C code imports it by name
    (``PyImport_ImportModule``), which works for any name without a dot: mypyc's shared
    runtime ``<hash>__mypyc`` is imported so by every module of its group.
    """
    if stem == "__init__":
        if not parts:  # a sys.path entry is not a package
            return None
        return ".".join(parts), True
    if not stem or "." in stem:
        return None
    return ".".join(parts + [stem]), stem.isidentifier()


def _walk(root, start):
    """Yield (dotted name, path, suffix, identifier) for extension files under `start`, named
    relative to `root`, in the order FileFinder prefers them: within a directory, for one
    name, the suffixes in EXTENSION_SUFFIXES order."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for dirpath, dirnames, filenames in os.walk(start):
        rel = os.path.relpath(dirpath, root)
        parts = [] if rel == "." else rel.split(os.sep)
        # Only directories with identifier names can be (namespace) packages.
        dirnames[:] = sorted(d for d in dirnames if d.isidentifier())
        found = []
        for filename in filenames:
            for rank, suffix in enumerate(suffixes):
                if filename.endswith(suffix):
                    named = module_name(parts, filename[: -len(suffix)])
                    if named is not None:
                        found.append((named[0], rank, filename, suffix, named[1]))
                    break
        for name, _, filename, suffix, identifier in sorted(found):
            yield name, os.path.join(dirpath, filename), suffix, identifier


def discover(requested):
    search = _search_path()
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    plan = []  # (root, start) pairs to walk
    extra_roots = []
    if requested:
        for item in requested:
            item = os.path.abspath(item)
            start = item if os.path.isdir(item) else os.path.dirname(item)
            root = next((r for r in search if start == r or start.startswith(r + os.sep)), None)
            if root is None:
                root = start
                extra_roots.append(root)
            plan.append((root, item))
    else:
        plan = [(root, root) for root in search]
    stdlib = _stdlib_dirs()
    site = _site_dirs()
    owners, distributions = _owner_map(search + extra_roots)
    modules, shadowed = [], []
    chosen = {}
    for root, start in plan:
        if os.path.isfile(start):
            found = [
                found_file
                for found_file in _walk(root, os.path.dirname(start))
                if os.path.samefile(found_file[1], start)
            ]
        else:
            found = _walk(root, start)
        for name, path, suffix, identifier in found:
            real = os.path.realpath(path)
            if name in chosen:
                if chosen[name] != real:
                    shadowed.append({"name": name, "path": path, "by": chosen[name]})
                continue
            is_init = os.path.basename(path) == "__init__" + suffix
            package_dir = os.path.join(os.path.dirname(path), name.rpartition(".")[2])
            if not is_init and _package_init(package_dir):
                # FileFinder prefers a regular package of the same name.
                shadowed.append({"name": name, "path": path, "by": package_dir})
                continue
            chosen[name] = real
            owner = owners.get(real)
            in_site = any(real.startswith(s + os.sep) for s in site)
            if owner is not None:
                origin = "distribution"
            elif not in_site and any(real.startswith(s + os.sep) for s in stdlib):
                origin = "stdlib"
            else:
                origin = "unowned"
            modules.append(
                {
                    "name": name,
                    "path": path,
                    "root": root,
                    "abi": _abi(suffix),
                    "init_suffix": init_suffix(name),
                    # False: imported by name from C only; a module only if it exports
                    # PyInit<init_suffix> (checked on the host, auditor/probing/discover.py).
                    "identifier": identifier,
                    "origin": origin,
                    "distribution": owner,
                }
            )
    return {
        "modules": modules,
        "shadowed": shadowed,
        "distributions": distributions,
        "extra_roots": extra_roots,
        "suffixes": suffixes,
    }


def locate(names, fallback=()):
    """Where each import name's top-level module comes from, without importing anything:
    {"name", "path", "root", "dist"} or {"name", "error"}.  `fallback`: directories searched
    after sys.path (the user's current directory, as `python -c "import app"` would)."""
    search = _search_path() + [os.path.abspath(f) for f in fallback]
    try:
        import importlib.metadata as metadata

        top_dists = metadata.packages_distributions()
    except (ImportError, AttributeError):  # 3.9 and older
        metadata, top_dists = None, {}
    located = []
    for name in names:
        top = name.partition(".")[0]
        spec = importlib.machinery.PathFinder.find_spec(top, search)
        if spec is None:
            # An editable install's finder on sys.meta_path (meson-python, scikit-build-core,
            # setuptools): for a top-level name, find_spec imports nothing.
            try:
                spec = importlib.util.find_spec(top)
            except (ImportError, ValueError):
                spec = None
        if spec is None:
            if top in sys.builtin_module_names:
                located.append({"name": name, "path": sys.executable, "root": "", "dist": None})
                continue
            located.append({"name": name, "error": "no module named %r" % (top,)})
            continue
        origin = spec.origin if spec.origin not in (None, "namespace") else None
        locations = list(spec.submodule_search_locations or [])
        path = origin or (locations[0] if locations else "")
        roots = [r for r in search if path == r or path.startswith(r.rstrip(os.sep) + os.sep)]
        root = max(roots, key=len) if roots else ""  # lib-dynload, not the stdlib above it
        owner = None
        for dist_name in top_dists.get(top, [])[:1]:
            try:
                owner = {"name": dist_name, "version": metadata.version(dist_name)}
            except Exception:  # a broken installation must not stop the scan
                owner = None
        located.append({"name": name, "path": path, "root": root, "dist": owner})
    return {"located": located}


def main(argv):
    if sys.path and os.path.abspath(sys.path[0] or ".") == _HERE:
        del sys.path[0]
    if argv[:1] == ["describe"]:
        data = describe()
    elif argv[:1] == ["discover"]:
        data = discover(argv[1:])
    elif argv[:2] == ["locate", "--fallback"]:
        data = locate(argv[3:], argv[2:3])
    else:
        sys.exit(
            "usage: environment.py describe | discover [ROOT ...] | locate --fallback DIR NAME ..."
        )
    sys.stdout.write(json.dumps(data) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
