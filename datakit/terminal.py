"""Text from data made safe to print: control, format and other invisible characters as escapes.

A reject's detail, a shard name in a crafted manifest or a file name in a directory can hold
ESC, CSI (U+009B), BEL, bidi overrides, newlines...; printed raw they move the cursor, retitle
the terminal or forge lines. `printable` writes each such character the way Python's `repr`
does (`\\x1b`, `\\u202e`, `\\n`) and leaves everything else, backslashes included, as it is.
"""

from __future__ import annotations

from typing import Any


def printable(text: str) -> str:
    """`text` with every character `str.isprintable` rejects shown as its escape sequence."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def printable_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A `json.loads` object_pairs_hook: the object with its keys and strings (also in lists) printable."""
    return {printable(key): _printable_value(value) for key, value in pairs}


def _printable_value(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [printable(v) if isinstance(v, str) else v for v in value]
    return value
