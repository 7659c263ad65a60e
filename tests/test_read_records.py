"""Decoding a record's JSON: orjson where it gives json's value, json for everything else, so
each line's outcome (value or reason) is exactly what `json.loads` makes of it."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from datakit.outcome import Invalid
from datakit.read.records import _decode_json, _decode_with_json


def outcome(decode, raw: bytes):
    try:
        return "value", _canonical(decode(raw))
    except Invalid as exc:
        return "invalid", exc.reason, exc.detail


def _canonical(value) -> list:
    """The value as a flat list with its types spelled out (json.dumps would equate 1 and 1.0),
    built without recursion (some values nest hundreds deep)."""
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            out.append(("dict", len(item)))
            stack += [v for pair in reversed(item.items()) for v in reversed(pair)]
        elif isinstance(item, list):
            out.append(("list", len(item)))
            stack += reversed(item)
        else:
            out.append((type(item).__name__, "nan" if isinstance(item, float) and math.isnan(item) else item))
    return out


EDGES = [
    b'{"a": 1, "a": 2}',  # duplicate keys: the last wins, in the first one's place
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',  # json takes them, orjson does not
    b'{"a": 1e400, "b": -0, "c": -0.0, "d": 1.0, "e": 5e-324, "f": 1e19, "g": 18446744073709551615}',
    b'{"a": [18446744073709551616]}', b'{"a": -9223372036854775809}', b"18446744073709551616",  # beyond 64 bits
    b'{"a": "\\ud800"}', b'{"a": "\\ud83d\\ude00 \\u0000"}',  # a lone surrogate; a pair; NUL
    b'\xef\xbb\xbf{"a": 1}', b'{"a": "\xed\xa0\x80"}', b'{"a": "caf\xe9"}',  # BOM; not UTF-8
    b'{"a": 1} ', b' \t{"a": 1}\r\n', b'{"a": 1}{"b": 2}', b'{"a": "x\x01"}', b"", b"null", b'"s"', b"[]",
    b"[" * 499 + b"]" * 499, b"[" * 600 + b"]" * 600, b'{"a":' * 700 + b"1" + b"}" * 700,
    b"[" * 1100 + b"]" * 1100, b"[" * 50_000 + b"]" * 50_000,  # deeper than orjson, than json
    b'{"code": "' + b"{[" * 400 + b'"}',  # brackets in a string are not nesting
]


def test_edge_lines_decode_as_json_decodes_them():
    for raw in EDGES:
        assert outcome(_decode_json, raw) == outcome(_decode_with_json, raw), raw[:60]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(json_values, st.booleans(), st.data())
def test_any_line_decodes_as_json_decodes_it(value, ascii_only, data):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert outcome(_decode_json, raw) == outcome(_decode_with_json, raw)
    at = data.draw(st.integers(0, len(raw)))
    mutated = raw[:at] + data.draw(st.binary(max_size=3)) + raw[at + data.draw(st.integers(0, 3)):]
    assert outcome(_decode_json, mutated) == outcome(_decode_with_json, mutated)
