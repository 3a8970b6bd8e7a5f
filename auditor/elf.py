"""Read an extension file's exported init symbols from its ELF dynamic symbol table."""

from __future__ import annotations

from auditor.binding import dynamic_symbols


def exported_init_symbols(path: str) -> set[str] | None:
    """The defined, exported ``PyInit*``/``PyModExport*`` symbols; None if not ELF."""
    symbols = dynamic_symbols(path)
    if symbols is None:
        return None
    return {name for name in symbols.exports if name.startswith(("PyInit", "PyModExport"))}
