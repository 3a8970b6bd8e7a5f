"""auditor.static.reader without a target interpreter: wheels assembled here from tiny shared
objects compiled with gcc (no Python headers), names, tags, refusals, output and JSON."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import pytest
from packaging.tags import Tag
from rich.console import Console

from auditor.errors import SelectionError, UsageError
from auditor.static.artifact import NO_PROBE, RUN_SCAN
from auditor.static.elf import Symbols
from auditor.static.names import describe_tag, member_module, suffix_abi, wheel_tags
from auditor.static.reader import (
    GUESS_EXPORT_HOOK,
    GUESS_MULTI,
    GUESS_SINGLE,
    GUESS_UNKNOWN,
    extract_member,
    init_guess,
    read_path,
    read_wheel,
)
from auditor.static_scan import run_static
from tests.unit.test_binding import Source, build

SUFFIX = ".cpython-313-x86_64-linux-gnu.so"
WHEEL = "demo-1.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def console() -> Console:
    return Console(file=io.StringIO(), width=80, record=True, color_system=None)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (f"pkg/sub/_x{SUFFIX}", ("pkg.sub._x", SUFFIX)),
        ("pkg/_x.abi3.so", ("pkg._x", ".abi3.so")),
        (
            "pkg/_x.cpython-314t-x86_64-linux-gnu.so",
            ("pkg._x", ".cpython-314t-x86_64-linux-gnu.so"),
        ),
        ("_top.so", ("_top", ".so")),
        (f"pkg/__init__{SUFFIX}", ("pkg", SUFFIX)),
        (f"demo-1.0.data/platlib/plat/_p{SUFFIX}", ("plat._p", SUFFIX)),
        (f"demo-1.0.data/purelib/pure/_q{SUFFIX}", ("pure._q", SUFFIX)),
        ("pkg/_w.cp313-win_amd64.pyd", ("pkg._w", ".cp313-win_amd64.pyd")),
        (f"demo-1.0.data/scripts/tool{SUFFIX}", None),
        (f"demo-1.0.data/platlib{SUFFIX}", None),
        (f"demo-1.0.dist-info/_x{SUFFIX}", None),
        ("demo.libs/libopenblas-r0.so", None),  # a vendored library: no import reaches it
        ("pkg/libfoo.so.1", None),
        ("pkg/_x.weird.so", None),
        (f"__init__{SUFFIX}", None),
        ("pkg/_x.py", None),
    ],
)
def test_member_module(member: str, expected: tuple[str, str] | None) -> None:
    assert member_module(member) == expected


@pytest.mark.parametrize(
    ("tag", "meaning"),
    [
        ("cp313-cp313-linux_x86_64", "CPython 3.13"),
        ("cp314-cp314t-linux_x86_64", "CPython 3.14, free-threaded"),
        ("cp39-abi3-linux_x86_64", "stable ABI, CPython 3.9+"),
        ("cp315-abi3t-linux_x86_64", "free-threading stable ABI (PEP 803), CPython 3.15+"),
        ("cp312-cp312d-linux_x86_64", "CPython 3.12, debug build"),
        ("py3-none-any", "pure Python"),
        ("cp313-none-linux_x86_64", "CPython 3.13, no compiled module"),
        ("pp310-pypy310_pp73-linux_x86_64", "PyPy 3.10, ABI pypy310_pp73"),
    ],
)
def test_describe_tag(tag: str, meaning: str) -> None:
    assert describe_tag(Tag(*tag.split("-"))) == meaning


def test_wheel_tags_group_platforms() -> None:
    (tag,) = wheel_tags(WHEEL)
    assert (tag.tag, tag.meaning) == ("cp313-cp313", "CPython 3.13")
    assert tag.platform == "manylinux2014_x86_64, manylinux_2_17_x86_64"


@pytest.mark.parametrize(
    ("suffix", "abi"),
    [
        (SUFFIX, "CPython 3.13"),
        (".cpython-314t-x86_64-linux-gnu.so", "CPython 3.14, free-threaded"),
        (".abi3.so", "stable ABI"),
        (".so", "untagged: any interpreter that finds it"),
    ],
)
def test_suffix_abi(suffix: str, abi: str) -> None:
    assert suffix_abi(suffix) == abi


@pytest.mark.parametrize(
    ("imports", "exports", "guess"),
    [
        ({"PyModuleDef_Init"}, {"PyInit_x"}, GUESS_MULTI),
        ({"PyModule_Create2"}, {"PyInit_x"}, GUESS_SINGLE),
        ({"PyModule_Create2", "PyModuleDef_Init"}, {"PyInit_x"}, GUESS_MULTI),
        ({"PyModule_Create2"}, {"PyInit_x", "PyModExport_x"}, GUESS_EXPORT_HOOK),
        ({"PyType_Ready"}, {"PyInit_x"}, GUESS_UNKNOWN),
    ],
)
def test_init_guess(imports: set[str], exports: set[str], guess: str) -> None:
    assert init_guess(Symbols(frozenset(imports), frozenset(exports))) == guess


@pytest.fixture
def objects(tmp_path: Path) -> dict[str, bytes]:
    """Shared objects by role: multi-phase, single-phase, export hook, and no init at all."""
    sources = {
        "multi": Source(imports=("PyModuleDef_Init", "PyModule_GetState"), exports=("PyInit__m",)),
        "single": Source(
            imports=("PyModule_Create2", "PyState_FindModule"), exports=("PyInit__s",)
        ),
        "hook": Source(imports=("PyModule_GetToken",), exports=("PyModExport__h",)),
        "library": Source(imports=("some_dependency",), exports=("helper",)),
    }
    built = {}
    for role, source in sources.items():
        work = tmp_path / role
        work.mkdir()
        built[role] = build(work, source, role).read_bytes()
    return built


def make_zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_wheel_modules_refusals_and_others(tmp_path: Path, objects: dict[str, bytes]) -> None:
    wheel = make_zip(
        tmp_path / WHEEL,
        {
            f"pkg/_m{SUFFIX}": objects["multi"],
            f"pkg/sub/_s{SUFFIX}": objects["single"],
            f"demo-1.0.data/platlib/plat/_h{SUFFIX}": objects["hook"],
            f"pkg/_lib{SUFFIX}": objects["library"],
            f"pkg/_text{SUFFIX}": b"not an object file",
            f"pkg/_mac{SUFFIX}": b"\xcf\xfa\xed\xfe" + b"\0" * 60,
            f"pkg/_big{SUFFIX}": objects["multi"] + b"\0" * 100_000,
            f"../../evil{SUFFIX}": objects["multi"],
            f"/abs/evil{SUFFIX}": objects["multi"],
            "pkg/__init__.py": b"",
            "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n",
        },
        symlink=f"pkg/_link{SUFFIX}",
    )
    artifact = read_wheel(wheel, max_bytes=len(objects["multi"]) + 50_000)
    found = {m.name: (m.file, m.init_guess, m.exports) for m in artifact.modules}
    assert found == {
        "pkg._m": (f"pkg/_m{SUFFIX}", GUESS_MULTI, ("PyInit__m",)),
        "pkg.sub._s": (f"pkg/sub/_s{SUFFIX}", GUESS_SINGLE, ("PyInit__s",)),
        "plat._h": (
            f"demo-1.0.data/platlib/plat/_h{SUFFIX}",
            GUESS_EXPORT_HOOK,
            ("PyModExport__h",),
        ),
    }
    single = next(m for m in artifact.modules if m.name == "pkg.sub._s")
    assert [h.symbol for h in single.info.red_flags] == ["PyModule_Create2", "PyState_FindModule"]
    assert single.info.binding.toolkit == "c"
    others = {o.file: o.reason for o in artifact.others}
    assert others == {
        f"pkg/_lib{SUFFIX}": "not an extension module (it exports no PyInit_ or PyModExport_"
        " function)",
        f"pkg/_text{SUFFIX}": "not an extension module (not an ELF file)",
        f"pkg/_mac{SUFFIX}": "a Mach-O file: only ELF shared objects are read",
        f"pkg/_link{SUFFIX}": "a symbolic link: not read",
    }
    refused = {r.file: r.reason for r in artifact.refused}
    assert refused[f"../../evil{SUFFIX}"] == "path outside the wheel (..): refused"
    assert refused[f"/abs/evil{SUFFIX}"] == "absolute path: refused"
    assert refused[f"pkg/_big{SUFFIX}"].endswith("limit: refused")
    assert len(refused) == 3
    # Nothing was written outside the (deleted) temporary directory, under any member's name.
    assert not list(tmp_path.parent.glob(f"**/evil{SUFFIX}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([WHEEL, *objects])


def test_size_cap(tmp_path: Path, objects: dict[str, bytes]) -> None:
    """A member of the cap's size is read; one byte over, it is refused from its declared size,
    and the copy itself stops at the cap too."""
    size = len(objects["multi"])
    wheel = make_zip(tmp_path / WHEEL, {f"pkg/_m{SUFFIX}": objects["multi"]})
    assert [m.name for m in read_wheel(wheel, max_bytes=size).modules] == ["pkg._m"]
    artifact = read_wheel(wheel, max_bytes=size - 1)
    assert artifact.modules == []
    assert [r.reason for r in artifact.refused] == [
        f"{size} bytes, over the {size - 1} bytes limit: refused"
    ]
    with zipfile.ZipFile(wheel) as archive:
        (info,) = archive.infolist()
        problem = extract_member(archive, info, tmp_path / "copy", 1000)
    assert problem == "larger than the 1000 bytes limit: refused"
    assert (tmp_path / "copy").stat().st_size <= 1000


def test_run_static_output_and_json(tmp_path: Path, objects: dict[str, bytes]) -> None:
    wheel = make_zip(
        tmp_path / WHEEL,
        {f"pkg/_m{SUFFIX}": objects["multi"], f"pkg/sub/_s{SUFFIX}": objects["single"]},
    )
    pure = make_zip(tmp_path / "purelib_only-2.0-py3-none-any.whl", {"p/__init__.py": b""})
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    (tree / "pkg" / f"_m{SUFFIX}").write_bytes(objects["multi"])
    (tree / "pkg" / "_h.abi3.so").write_bytes(objects["hook"])
    (tree / "not.a.package").mkdir()
    (tree / "not.a.package" / f"_skipped{SUFFIX}").write_bytes(objects["multi"])
    out = tmp_path / "static.json"
    screen = console()
    assert run_static([wheel, pure], [tree / "pkg"], out, screen) == 0

    text = screen.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    flat = " ".join(text.split())
    assert flat.startswith(NO_PROBE)
    assert flat.endswith(f"{NO_PROBE} {RUN_SCAN}")
    assert "cp313-cp313 (CPython 3.13) on manylinux2014_x86_64, manylinux_2_17_x86_64" in flat
    assert "py3-none (pure Python) on any no extension module in it" in flat
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  pkg.")}
    assert rows == {
        "pkg._m": ["c", "multi-phase", "(probably)", "0"],
        "pkg.sub._s": ["c", "single-phase", "(probably)", "2"],
        "pkg._h": ["c", "multi-phase", "(PEP", "793", "export", "hook)", "0"],
    }

    data = json.loads(out.read_text())
    assert set(data) == {"version", "kind", "tool", "meta", "no_probe_ran", "note", "artifacts"}
    assert (data["version"], data["kind"], data["no_probe_ran"]) == (1, "static", True)
    assert data["tool"]["name"] == "subinterp-audit"
    first, second, third = data["artifacts"]
    assert (first["path"], first["kind"]) == (str(wheel), "wheel")
    assert first["tags"] == [
        {
            "tag": "cp313-cp313",
            "meaning": "CPython 3.13",
            "platforms": ["manylinux2014_x86_64", "manylinux_2_17_x86_64"],
        }
    ]
    assert [m["name"] for m in first["modules"]] == ["pkg._m", "pkg.sub._s"]
    single = first["modules"][1]
    assert set(single) == {
        "name",
        "file",
        "suffix",
        "abi",
        "toolkit",
        "toolkit_version",
        "evidence",
        "exports",
        "init_guess",
        "imports_python_api",
        "hints",
        "note",
    }
    assert single["file"] == f"pkg/sub/_s{SUFFIX}"
    assert single["exports"] == ["PyInit__s"]
    assert single["init_guess"] == GUESS_SINGLE
    assert [(h["symbol"], h["kind"]) for h in single["hints"]] == [
        ("PyModule_Create2", "red_flag"),
        ("PyState_FindModule", "red_flag"),
    ]
    assert second["modules"] == [] and second["tags"][0]["meaning"] == "pure Python"
    assert third["kind"] == "path"
    assert [(m["name"], m["suffix"]) for m in third["modules"]] == [
        ("pkg._h", ".abi3.so"),
        ("pkg._m", SUFFIX),
    ]
    assert third["tags"] == [
        {"tag": ".abi3.so", "meaning": "stable ABI"},
        {"tag": SUFFIX, "meaning": "CPython 3.13"},
    ]


def test_path_names_from_site_packages_and_single_files(
    tmp_path: Path, objects: dict[str, bytes]
) -> None:
    site = tmp_path / "lib" / "site-packages"
    (site / "ns" / "inner").mkdir(parents=True)  # a namespace package: no __init__
    (site / "ns" / "inner" / f"_m{SUFFIX}").write_bytes(objects["multi"])
    assert [m.name for m in read_path(site / "ns").modules] == ["ns.inner._m"]
    assert [m.name for m in read_path(site / "ns" / "inner" / f"_m{SUFFIX}").modules] == [
        "ns.inner._m"
    ]
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "_m.so").write_bytes(objects["multi"])
    (loose / "misnamed.so").write_bytes(objects["multi"])
    artifact = read_path(loose)
    assert [(m.name, m.note) for m in artifact.modules] == [
        ("_m", None),
        ("misnamed", "exports no PyInit_misnamed: importing it as misnamed fails"),
    ]


def test_terminal_escapes_untrusted_names(tmp_path: Path, objects: dict[str, bytes]) -> None:
    wheel = make_zip(tmp_path / WHEEL, {f"../\x1b[31m[bold]x{SUFFIX}": objects["multi"]})
    screen = console()
    run_static([wheel], [], None, screen)
    text = screen.export_text()
    assert "\x1b" not in text
    flat = " ".join(text.split())
    assert f"../\\x1b[31m[bold]x{SUFFIX}: path outside the wheel (..): refused" in flat


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match="no such file"):
        run_static([tmp_path / WHEEL], [], None, console())
    (tmp_path / WHEEL).write_text("not a zip")
    with pytest.raises(SelectionError, match=r"not a wheel \(not a zip archive\)"):
        run_static([tmp_path / WHEEL], [], None, console())
    (tmp_path / "x.whl").write_text("")
    with pytest.raises(SelectionError, match="is not a wheel file name"):
        run_static([tmp_path / "x.whl"], [], None, console())
    with pytest.raises(SelectionError, match="no such file or directory"):
        run_static([], [tmp_path / "missing"], None, console())
    with pytest.raises(UsageError, match="it is a directory"):
        run_static([], [tmp_path], tmp_path, console())
