"""Find the extension modules of a target: every importable file, or those asked for."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from auditor.errors import SelectionError, TargetError
from auditor.model import Distribution, ExtensionModule, Interpreter, NonExtension
from auditor.probing.target import target_script
from auditor.static.elf import exported_init_symbols


@dataclass(frozen=True)
class Discovery:
    modules: tuple[ExtensionModule, ...]
    non_extensions: tuple[NonExtension, ...]
    shadowed: tuple[dict[str, str], ...]
    # What the whole environment holds (before narrowing): for the result cache's key.
    distributions: tuple[tuple[str, str], ...] = ()
    all_files: tuple[str, ...] = ()
    # The standard library's extension modules, whatever the narrowing (the stdlib controls
    # of known CPython bugs come from here); empty when discovery walked given paths only.
    stdlib: tuple[ExtensionModule, ...] = ()

    def stdlib_module(self, name: str) -> ExtensionModule | None:
        return next((m for m in self.stdlib if m.name == name), None)


def _run_environment(interp: Interpreter, args: Sequence[str], what: str, timeout: float) -> dict:
    """The JSON answer of auditor/_target/environment.py run by the target with `args`;
    TargetError("<what> in <python>: ...") when it cannot answer."""
    command = [interp.executable, str(target_script("environment.py")), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"{what} in {interp.executable}: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TargetError(f"{what} in {interp.executable}: {last}")
    result: dict = json.loads(done.stdout)
    return result


def _run_discovery(interp: Interpreter, paths: Sequence[Path]) -> dict:
    args = ["discover", *(str(p.resolve()) for p in paths)]
    return _run_environment(interp, args, "discovery failed", timeout=600)


def locate_imports(interp: Interpreter, names: Sequence[str]) -> list[ExtensionModule]:
    """The modules to probe for --import NAME: each by its own name (a pure-Python module
    too), found on the target's sys.path or else in the current directory, never imported here.
    """
    args = ["locate", "--fallback", os.getcwd(), *names]
    located = _run_environment(interp, args, "cannot look up --import names", timeout=120)
    modules = []
    for item in located["located"]:
        if "error" in item:
            raise SelectionError(f"--import {item['name']}: {item['error']} in {interp.executable}")
        dist = item.get("dist")
        modules.append(
            ExtensionModule(
                name=item["name"],
                path=item["path"],
                origin="import",
                distribution=Distribution(dist["name"], dist["version"]) if dist else None,
                init_suffix="",
                root=item["root"],
            )
        )
    return modules


def _module(data: dict) -> ExtensionModule:
    dist = data.get("distribution")
    return ExtensionModule(
        name=data["name"],
        path=data["path"],
        origin=data["origin"],
        distribution=Distribution(dist["name"], dist["version"]) if dist else None,
        init_suffix=data["init_suffix"],
        root=data["root"],
        abi=data.get("abi", "version"),
    )


def _selected(module: ExtensionModule, packages: set[NormalizedName], names: Sequence[str]) -> bool:
    if packages and not (
        module.distribution and canonicalize_name(module.distribution.name) in packages
    ):
        return False
    return not names or any(module.name == n or module.name.startswith(n + ".") for n in names)


def discover(
    interp: Interpreter,
    *,
    paths: Sequence[Path] = (),
    packages: Sequence[str] = (),
    module_names: Sequence[str] = (),
    imports: Sequence[str] = (),
    exports_of: Callable[[str], set[str] | None] = exported_init_symbols,
) -> Discovery:
    """Extension modules importable by `interp`, narrowed by distribution, name or path,
    and the modules named by --import (`imports`; then the extension modules only when a
    distribution, name or path also asks for them).

    A file whose name says "extension" but that exports no init function is listed as a
    NonExtension, never probed; one whose name is not an identifier (only C code can import
    it) is a module only if it exports the init function of its name, and is skipped otherwise.
    """
    for path in paths:
        if not path.exists():
            raise SelectionError(f"{path}: no such file or directory")
    data = _run_discovery(interp, paths)
    wanted = {canonicalize_name(p) for p in packages}
    modules: list[ExtensionModule] = []
    others: list[NonExtension] = []
    located = locate_imports(interp, imports) if imports else []
    only_imports = bool(imports) and not (packages or module_names or paths)
    for item in data["modules"]:
        module = _module(item)
        if only_imports or not _selected(module, wanted, module_names):
            continue
        exports = exports_of(module.path)
        expected = {f"PyInit{module.init_suffix}", f"PyModExport{module.init_suffix}"}
        if not item.get("identifier", True) and not (exports and exports & expected):
            # A name only C code can import (mypyc's "<hash>__mypyc" runtime): a module if
            # it exports the init function of that name, else an ordinary shared library
            # that happens to end in ".so" ("libfoo-1.so"), not worth a line.
            continue
        if exports is not None and not exports & expected:
            found = ", ".join(sorted(exports)) or "none"
            others.append(
                NonExtension(
                    module.name,
                    module.path,
                    f"exports no PyInit{module.init_suffix} (init symbols found: {found}): "
                    f"not a Python extension module",
                )
            )
            continue
        modules.append(module)
    extensions = {m.name for m in modules}
    modules += [m for m in located if m.name not in extensions]  # scanned once, as extension
    if not modules:  # nothing to scan: an error, whatever else was found
        what = []
        if packages:
            what.append("--package " + ", ".join(packages))
        if module_names:
            what.append("--module " + ", ".join(module_names))
        if paths:
            what.append(", ".join(str(p) for p in paths))
        where = " and ".join(what) or "the environment"
        hint = ""
        if others:
            first = others[0]
            more = f" and {len(others) - 1} more" if len(others) > 1 else ""
            hint = f"; {Path(first.path).name}{more}: {first.reason}"
        elif packages:
            hint = " (is the distribution installed in this interpreter, with compiled modules?)"
        raise SelectionError(f"no extension modules found for {where} in {interp.executable}{hint}")
    return Discovery(
        tuple(modules),
        tuple(others),
        tuple(data.get("shadowed", ())),
        tuple((str(n), str(v)) for n, v in data.get("distributions", ())),
        tuple(m["path"] for m in data["modules"]) + tuple(s["path"] for s in data["shadowed"]),
        tuple(_module(m) for m in data["modules"] if m["origin"] == "stdlib" and not paths),
    )
