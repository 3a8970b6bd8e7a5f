"""Read an extension file's exported init symbols from its ELF dynamic symbol table."""

from __future__ import annotations

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection


def exported_init_symbols(path: str) -> set[str] | None:
    """The defined, exported ``PyInit*``/``PyModExport*`` symbols; None if not ELF."""
    try:
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            dynsym = elf.get_section_by_name(".dynsym")
            if not isinstance(dynsym, SymbolTableSection):
                return set()
            return {
                sym.name
                for sym in dynsym.iter_symbols()
                if sym.name.startswith(("PyInit", "PyModExport"))
                and sym["st_shndx"] != "SHN_UNDEF"
                and sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
            }
    except (ELFError, OSError, ValueError):
        return None
