"""Stream the elements of a top-level JSON array as undecoded records, in bounded memory.

The scanner finds element boundaries (commas and the closing bracket outside strings and
nested values) with two regexes, one outside strings and one inside, and never decodes a
value: each element's bytes become one record, decoded later like a JSONL line. So a
multi-gigabyte array streams with memory bounded by the largest element, an element longer
than `max_line_bytes` is skipped without being kept (`line_too_long`), and a malformed element
is a reject of that element only. What cannot be an array at all (text after the closing
bracket, no closing bracket) ends the file with one reject naming where it went wrong.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, BinaryIO, Iterator

from ..outcome import Reason

if TYPE_CHECKING:
    from .sources import ReadCounts, Record

_CHUNK = 1 << 20
_OUTSIDE = re.compile(rb'["\[\]{},]')  # what matters outside strings
_INSIDE = re.compile(rb'["\\]')  # ...and inside them


class _Scanner:
    """Scanner state carried across chunks."""

    def __init__(self) -> None:
        self.depth = 0  # nesting inside the current element
        self.in_string = False
        self.escaped = False  # the chunk ended right after a backslash inside a string


def array_records(f: BinaryIO, source: int, counts: ReadCounts, max_line_bytes: int) -> Iterator[Record]:
    """The elements of the array `f` holds (its first non-blank byte is `[`), numbered from 1."""
    from .sources import BOM, Record, too_long_problem

    state = _Scanner()
    element = bytearray()
    too_long = False
    number = 0
    opened = closed = False
    chunk = f.read(_CHUNK)
    chunk = chunk.removeprefix(BOM)
    while chunk:
        pos = 0
        if not opened:
            start = len(chunk) - len(chunk.lstrip())
            if start == len(chunk):
                chunk = f.read(_CHUNK)
                continue
            pos, opened = start + 1, True  # past the `[`
        while pos < len(chunk):
            if closed:
                if chunk[pos:].strip():
                    counts.lines += 1
                    yield Record(source, number + 1, None, problem=(
                        Reason.INVALID_JSON, f"text after the closing ] of the JSON array (after record {number})"))
                    return
                break
            end, boundary = _scan(chunk, pos, state)
            piece = chunk[pos:end]
            if not too_long:
                element += piece
                too_long = len(element) > max_line_bytes
                if too_long:
                    element.clear()
            pos = end
            if boundary is None:
                continue
            pos += 1
            if boundary == b"]":
                closed = True
            if too_long or element.strip():
                number += 1
                counts.lines += 1
                yield (Record(source, number, None, problem=too_long_problem(max_line_bytes)) if too_long
                       else Record(source, number, bytes(element).strip()))
            elif boundary == b",":  # `[,` or `,,`; a trailing `,]` is tolerated
                number += 1
                counts.lines += 1
                yield Record(source, number, None, problem=(Reason.INVALID_JSON, "an empty array element"))
            element.clear()
            too_long = False
        chunk = f.read(_CHUNK)
    if opened and not closed:
        counts.lines += 1
        yield Record(source, number + 1, None, problem=(
            Reason.INVALID_JSON, f"the JSON array ends without its closing ] (after record {number})"))


def _scan(chunk: bytes, pos: int, state: _Scanner) -> tuple[int, bytes | None]:
    """Advance through `chunk` from `pos` to the next element boundary (a `,` or `]` at the
    array's own level): (its position, the byte), or (len(chunk), None) when the chunk ends."""
    if state.escaped:
        state.escaped = False
        pos += 1
    while pos < len(chunk):
        if state.in_string:
            match = _INSIDE.search(chunk, pos)
            if match is None:
                return len(chunk), None
            pos = match.end()
            if match.group() == b"\\":
                if pos == len(chunk):
                    state.escaped = True
                    return pos, None
                pos += 1
            else:
                state.in_string = False
            continue
        match = _OUTSIDE.search(chunk, pos)
        if match is None:
            return len(chunk), None
        char = match.group()
        pos = match.start()
        if char == b'"':
            state.in_string = True
        elif char in b"[{":
            state.depth += 1
        elif state.depth:  # `]`, `}` or `,` inside the element
            if char != b",":
                state.depth -= 1
        else:
            return pos, char
        pos += 1
    return pos, None
