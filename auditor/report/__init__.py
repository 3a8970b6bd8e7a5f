"""Renderers: JSON (the contract), terminal, HTML and CI formats; all from the same model."""

# The glyph of each probe outcome, in the terminal table and the HTML report alike.
MARKS = {
    "ok": "✓",
    "import_error": "✗",
    "error": "!",
    "crash": "☠",
    "timeout": "∞",
    "not_run": "·",
    "tool_failure": "?",
}
# The cycles depth probe ran, but each interpreter that loaded the module leaked C heap.
LEAK_MARK = "↑"


def plural(count: int, word: str) -> str:
    """ "1 module", "2 modules" """
    return f"{count} {word}" + ("" if count == 1 else "s")
