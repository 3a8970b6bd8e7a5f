"""Read ELF shared objects without loading them: dynamic symbols, needed libraries, string data.

The bottom layer of the static analysis: nothing here knows about binding toolkits or CPython
(binding.py builds its heuristics on it).  The file is memory-mapped, never loaded or executed.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

T = TypeVar("T")

# Sections with code or addresses only, never strings.
_NOT_STRINGS = {
    ".eh_frame",
    ".eh_frame_hdr",
    ".gcc_except_table",
    ".got",
    ".got.plt",
    ".data.rel.ro",
    ".tdata",
    ".tm_clone_table",
}
_SHF_ALLOC, _SHF_EXECINSTR = 0x2, 0x4
_SHN_UNDEF = 0
_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE = 1, 2, 10
_MAX_HITS = 64  # occurrences of one needle examined when a pattern must also match


Range = tuple[int, int]  # (start, end) offsets in the file


@dataclass(frozen=True)
class Symbols:
    imports: frozenset[str]
    exports: frozenset[str]


class Image:
    """The mapped file and the byte ranges worth searching."""

    def __init__(self, data: mmap.mmap, strings: list[Range], names: Range, comment: Range):
        self.data = data
        self.strings = strings  # the sections that hold string literals
        self.names = names  # .strtab, empty when stripped
        self.comment = comment  # .comment, the toolchain's notes

    def find(
        self,
        needle: bytes,
        pattern: re.Pattern[bytes] | None = None,
        regions: Iterable[Range] | None = None,
    ) -> str | None:
        """The text at the first occurrence of needle (matching pattern, if given), or None."""
        for start, end in self.strings if regions is None else regions:
            pos = self.data.find(needle, start, end)
            hits = 0
            while pos != -1 and hits < _MAX_HITS:
                stop = self.data.find(b"\0", pos, min(end, pos + 256))
                text = self.data[pos : stop if stop != -1 else min(end, pos + 256)]
                if pattern is None or pattern.match(text):
                    return text.decode("latin-1")
                hits += 1
                pos = self.data.find(needle, pos + 1, end)
        return None

    def find_any(self, needles: Iterable[bytes]) -> list[str]:
        """The text at each needle found."""
        return [text for needle in needles if (text := self.find(needle)) is not None]

    def has_name(self, needle: bytes) -> bool:
        """Whether a symbol name in .strtab contains needle."""
        return self.find(needle, regions=[self.names]) is not None


class ElfView:
    """One mapped ELF file; each part is read on first use."""

    def __init__(self, elf: ELFFile, data: mmap.mmap):
        self._elf = elf
        self._data = data

    @cached_property
    def symbols(self) -> Symbols:
        return _dynamic_symbols(self._elf, self._data)

    @cached_property
    def image(self) -> Image:
        return _image(self._elf, self._data)

    @cached_property
    def needed(self) -> tuple[str, ...]:
        """The DT_NEEDED libraries."""
        return _needed(self._elf)


def read_elf(path: str, read: Callable[[ElfView], T]) -> T | None:
    """read(view) of the mapped file; None if it is not a readable ELF file."""
    try:
        with open(path, "rb") as stream:
            if stream.read(4) != b"\x7fELF":
                return None
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return read(ElfView(ELFFile(stream), data))
    except (ELFError, OSError, ValueError, struct.error):
        return None


def exported_init_symbols(path: str) -> set[str] | None:
    """The defined, exported ``PyInit*``/``PyModExport*`` symbols; None if not ELF."""
    return read_elf(path, _init_symbols)


def _init_symbols(elf: ElfView) -> set[str]:
    return {name for name in elf.symbols.exports if name.startswith(("PyInit", "PyModExport"))}


def _image(elf: ELFFile, data: mmap.mmap) -> Image:
    strings: list[Range] = []
    names = comment = (0, 0)
    for section in elf.iter_sections():
        header = section.header
        start, end = header["sh_offset"], header["sh_offset"] + header["sh_size"]
        if header["sh_type"] == "SHT_NOBITS" or end > len(data):
            continue
        flags = header["sh_flags"]
        if section.name == ".strtab":
            names = (start, end)
        elif section.name == ".comment":
            comment = (start, end)
        elif (
            header["sh_type"] == "SHT_PROGBITS"
            and flags & _SHF_ALLOC
            and not flags & _SHF_EXECINSTR
            and section.name not in _NOT_STRINGS
        ):
            strings.append((start, end))
    if not strings and elf.num_sections() == 0:  # no section headers (sstrip): the whole file
        strings.append((0, len(data)))
    return Image(data, strings, names, comment)


def _dynamic_symbols(elf: ELFFile, data: mmap.mmap) -> Symbols:
    """.dynsym, unpacked with struct: pyelftools' per-symbol parsing is too slow for C++ tables."""
    dynsym = elf.get_section_by_name(".dynsym")
    if dynsym is None:
        return Symbols(frozenset(), frozenset())
    dynstr = elf.get_section(dynsym.header["sh_link"]).header
    str_start, str_end = dynstr["sh_offset"], dynstr["sh_offset"] + dynstr["sh_size"]
    order = "<" if elf.little_endian else ">"
    if elf.elfclass == 64:
        entry, fields = struct.Struct(order + "IBBHQQ"), (0, 1, 2, 3)
    else:
        entry, fields = struct.Struct(order + "IIIBBH"), (0, 3, 4, 5)
    start = dynsym.header["sh_offset"]
    size = dynsym.header["sh_size"] - dynsym.header["sh_size"] % entry.size
    imports: set[str] = set()
    exports: set[str] = set()
    for row in entry.iter_unpack(data[start : start + size]):
        name_at, info, other, shndx = (row[i] for i in fields)
        if name_at == 0 or info >> 4 not in (_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE):
            continue
        begin = str_start + name_at
        stop = data.find(b"\0", begin, str_end)
        name = data[begin : stop if stop != -1 else str_end].decode("latin-1")
        if shndx == _SHN_UNDEF:
            imports.add(name)
        elif other & 0x3 in (0, 3):  # STV_DEFAULT or STV_PROTECTED: visible to the loader
            exports.add(name)
    return Symbols(frozenset(imports), frozenset(exports))


def _needed(elf: ELFFile) -> tuple[str, ...]:
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            tags = section.iter_tags("DT_NEEDED")
            return tuple(tag.needed for tag in tags)  # type: ignore[attr-defined]  # set at run time
    return ()
