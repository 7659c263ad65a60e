"""Hostile input: every line ends as a row, a reject (file, line, reason) or a counted blank line.

Never a traceback, never silence, and the counts always add up:
rows written + rejects + blank lines = lines read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datakit.check import check_output
from datakit.pipeline import BatchWorker, LowYieldError, RenderOptions, render_files
from datakit.outcome import Side
from datakit.read import ReadCounts, Record, read_records

CLI = [sys.executable, "-c", "from datakit.cli import main; main()"]
MiB = 1 << 20
ROW = None  # expected outcome: a written row
BLANK = "blank"  # expected outcome: a skipped, counted blank line


def good(i: int, content: str | None = None) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                    {"role": "assistant", "content": content or f"answer {i}"}]}).encode()


def conv(*messages) -> bytes:
    return json.dumps({"messages": list(messages)}).encode()


U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}

# (name, raw line without its newline, expected outcome). Each is placed between good lines.
CASES: list[tuple[str, bytes, str | None]] = [
    ("invalid_json_garbage", b"this is not json", "invalid_json"),
    ("invalid_json_trailing_comma", b'{"messages": [1,],}', "invalid_json"),
    ("invalid_json_unclosed", good(0)[:-1], "invalid_json"),
    ("invalid_json_two_objects", good(0) + good(1), "invalid_json"),
    ("invalid_json_single_quotes", b"{'messages': []}", "invalid_json"),
    ("cut_mid_object", good(0)[: len(good(0)) // 2], "invalid_json"),
    ("bom_not_at_file_start", b"\xef\xbb\xbf" + good(0), "invalid_json"),
    ("crlf", good(0) + b"\r", ROW),
    ("invalid_utf8_ff", b'{"messages": "\xff\xfe"}', "invalid_utf8"),
    ("invalid_utf8_latin1", conv({"role": "user", "content": "x"}, A).replace(b'"x"', b'"caf\xe9"'), "invalid_utf8"),
    ("invalid_utf8_overlong", conv({"role": "user", "content": "x"}, A).replace(b'"x"', b'"\xc0\xaf"'), "invalid_utf8"),
    ("invalid_utf8_encoded_surrogate", conv({"role": "user", "content": "x"}, A).replace(b'"x"', b'"\xed\xa0\x80"'),
     "invalid_utf8"),
    ("invalid_utf8_cut_multibyte", conv({"role": "user", "content": "x"}, A).replace(b'"x"', b'"\xe4\xb8"'),
     "invalid_utf8"),
    ("nul_inside_string", conv({"role": "user", "content": "x"}, A).replace(b'"x"', b'"a\x00b"'), "invalid_json"),
    ("nul_outside_string", b"\x00" + good(0), "invalid_json"),
    ("only_nul", b"\x00\x00\x00", "invalid_json"),
    ("escaped_nul_is_text", conv({"role": "user", "content": "a\u0000b"}, A), ROW),
    ("lone_high_surrogate", b'{"messages": [{"role": "user", "content": "\\ud800"}, '
                            b'{"role": "assistant", "content": "x"}]}', "invalid_unicode"),
    ("lone_low_surrogate_in_assistant", b'{"messages": [{"role": "user", "content": "x"}, '
                                        b'{"role": "assistant", "content": "ok \\udfff"}]}', "invalid_unicode"),
    ("valid_surrogate_pair", b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00"}, '
                             b'{"role": "assistant", "content": "x"}]}', ROW),
    ("array", b"[1, 2, 3]", "not_an_object"),
    ("string", b'"messages"', "not_an_object"),
    ("number", b"42", "not_an_object"),
    ("null", b"null", "not_an_object"),
    ("messages_missing", b'{"conversation": []}', "missing_messages"),
    ("messages_empty", b'{"messages": []}', "empty_messages"),
    ("messages_string", b'{"messages": "hi"}', "messages_not_a_list"),
    ("messages_object", b'{"messages": {"role": "user"}}', "messages_not_a_list"),
    ("messages_null", b'{"messages": null}', "messages_not_a_list"),
    ("message_string", conv("hello", A), "message_not_an_object"),
    ("message_null", conv(U, None), "message_not_an_object"),
    ("message_list", conv([U], A), "message_not_an_object"),
    ("role_missing", conv({"content": "hi"}, A), "missing_role"),
    ("role_null", conv({"role": None, "content": "hi"}, A), "missing_role"),
    ("role_unknown", conv({"role": "bot", "content": "hi"}, A), "unknown_role"),
    ("role_number", conv({"role": 7, "content": "hi"}, A), "unknown_role"),
    ("content_missing", conv({"role": "user"}, A), "missing_content"),
    ("content_null", conv({"role": "user", "content": None}, A), "bad_content_type"),
    ("content_number", conv(U, {"role": "assistant", "content": 3.5}), "bad_content_type"),
    ("content_object", conv({"role": "user", "content": {"text": "hi"}}, A), "bad_content_type"),
    ("content_text_parts", conv({"role": "user", "content": [{"type": "text", "text": "hi"}]}, A), ROW),
    ("content_image_part", conv({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, A),
     "unsupported_content_part"),
    ("content_part_string", conv({"role": "user", "content": ["hi"]}, A), "unsupported_content_part"),
    ("tool_calls_on_user", conv({"role": "user", "content": "x", "tool_calls": [{"name": "f"}]}, A), "bad_tool_calls"),
    ("tool_arguments_not_json", conv(U, {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{oops"}}]}), "bad_tool_arguments"),
    ("tools_not_a_list", b'{"tools": 3, "messages": [' + conv(U, A)[len(b'{"messages": ['):], "bad_tools"),
    ("content_bool", conv({"role": "user", "content": True}, A), "bad_content_type"),
    ("deep_array", b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    ("deep_in_messages", b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "invalid_json"),
    ("deep_in_extra_field", b'{"messages": [{"role": "user", "content": "x", "meta": ' + b'{"a": ' * 20_000
     + b"1" + b"}" * 20_000 + b'}, {"role": "assistant", "content": "y"}]}', "invalid_json"),
    # Valid JSON nested deeper than templates and the escaping can walk: the line, not the run.
    ("deep_message_field", b'{"messages": [{"role": "user", "content": "x", "meta": ' + b"[" * 600 + b"]" * 600
     + b'}, {"role": "assistant", "content": "y"}]}', "nested_too_deeply"),
    ("deep_tool_arguments_string", conv(U, {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "f", "arguments": '{"a": ' + "[" * 900 + "]" * 900 + "}"}}]}), "nested_too_deeply"),
    ("deep_tools", b'{"tools": [{"name": "f", "parameters": ' + b"[" * 700 + b"]" * 700 + b'}], "messages": '
     + conv(U, A)[len(b'{"messages": '):], "nested_too_deeply"),
    ("moderately_nested_extra_field_is_fine", b'{"m": ' + b"[" * 500 + b"]" * 500 + b', "messages": '
     + conv(U, A)[len(b'{"messages": '):], ROW),
    ("no_assistant", conv(U), "no_trainable_tokens"),
    ("blank_empty", b"", BLANK),
    ("blank_spaces", b"   \t ", BLANK),
    ("blank_crlf", b"\r", BLANK),
]


def write_lines(path: Path, lines: list[bytes], final_newline: bool = True) -> Path:
    path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    return path


def load_outputs(out: Path) -> tuple[dict, list[dict]]:
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    with open(out / "rejects.jsonl", encoding="utf-8") as f:
        rejects = [json.loads(line) for line in f]
    return stats, rejects


def written_lines(out: Path) -> list[int]:
    lines = []
    for shard in sorted((out / "train").glob("data-*.arrow")):
        with pa.OSFile(str(shard), "rb") as source:
            lines += pa.ipc.open_stream(source).read_all().column("line").to_pylist()
    return lines


def assert_accounting(stats: dict, rejects: list[dict]) -> None:
    assert stats["rows_written"] + stats["rejected"] + stats["blank_lines"] == stats["lines_read"], stats
    assert stats["rejected"] == len(rejects)
    assert stats["rejected_by_reason"] == dict(Counter(r["reason"] for r in rejects))
    for r in rejects:
        assert set(r) == {"file", "line", "reason", "detail"}
        assert r["reason"] and isinstance(r["detail"], str) and r["detail"]


# -- one hostile line at a time ---------------------------------------------------------------


@pytest.mark.parametrize("name,raw,expected", CASES, ids=[c[0] for c in CASES])
def test_each_hostile_line_ends_as_a_row_a_reject_or_a_blank(tmp_path, name, raw, expected):
    path = write_lines(tmp_path / "in.jsonl", [good(1), raw, good(3)])
    out = tmp_path / "out"
    render_files([path], out, RenderOptions(workers=1))
    stats, rejects = load_outputs(out)
    assert_accounting(stats, rejects)
    assert stats["lines_read"] == 3
    if expected is ROW:
        assert rejects == [] and written_lines(out) == [1, 2, 3]
    elif expected == BLANK:
        assert rejects == [] and stats["blank_lines"] == 1 and written_lines(out) == [1, 3]
    else:
        assert [(r["file"], r["line"], r["reason"]) for r in rejects] == [(str(path), 2, expected)]
        assert written_lines(out) == [1, 3]  # the run went on past the bad line
    assert check_output(out).ok


# Lines that once crashed the whole run instead of becoming a reject.
ONCE_FATAL = [
    pytest.param(conv({"role": ["user"], "content": "hi"}, A), id="role_is_a_list"),
    pytest.param(conv({"role": {"name": "user"}, "content": "hi"}, A), id="role_is_an_object"),
    pytest.param(b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", '
                 b'"tool_calls": [{"function": {"name": "f", "arguments": {"a": "\\ud800"}}}]}]}',
                 id="lone_surrogate_in_tool_call"),
    pytest.param(b'{"messages": [{"role": "user", "content": "x", "n": ' + b"9" * 5000 + b"}, "
                 b'{"role": "assistant", "content": "y"}]}', id="integer_over_4300_digits"),
]


@pytest.mark.parametrize("raw", ONCE_FATAL)
def test_lines_that_once_crashed_the_run_are_rejects(tmp_path, raw):
    path = write_lines(tmp_path / "in.jsonl", [good(1), raw, good(3)])
    render_files([path], tmp_path / "out", RenderOptions(workers=1))
    stats, rejects = load_outputs(tmp_path / "out")
    assert_accounting(stats, rejects)
    assert [r["line"] for r in rejects] == [2] and stats["rows_written"] == 2


# -- files: BOM, CRLF, last line without newline ----------------------------------------------


def test_bom_crlf_and_missing_final_newline_are_accepted_and_render_the_same(tmp_path):
    lines = [good(i) for i in range(5)]
    plain = write_lines(tmp_path / "plain.jsonl", lines)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(b"\r\n".join(lines) + b"\r\n")
    bare = write_lines(tmp_path / "bare.jsonl", lines, final_newline=False)
    bom_crlf_bare = tmp_path / "all.jsonl"
    bom_crlf_bare.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines))
    tables = {}
    for path in (plain, bom, crlf, bare, bom_crlf_bare):
        out = tmp_path / f"out-{path.stem}"
        result = render_files([path], out, RenderOptions(workers=1))
        assert result.stats["rows_written"] == 5 and result.stats["rejected"] == 0, path.name
        with pa.OSFile(str(out / "train" / "data-00000.arrow"), "rb") as source:
            tables[path.stem] = pa.ipc.open_stream(source).read_all().drop(["source"])
    for name, table in tables.items():
        assert table.equals(tables["plain"]), name


def test_a_bom_only_or_blank_only_file_is_all_blank_and_writes_nothing(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf\n\n  \r\n\t")
    counts = ReadCounts()
    assert list(read_records([path], counts)) == [] and (counts.lines, counts.blank) == (4, 4)
    with pytest.raises(LowYieldError, match="the input holds no record"):
        render_files([path], tmp_path / "out", RenderOptions(workers=1))
    assert not (tmp_path / "out").exists()


def test_last_line_cut_mid_object_is_a_reject_with_its_line_number(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [good(1), good(2), good(3)[:25]], final_newline=False)
    render_files([path], tmp_path / "out", RenderOptions(workers=1))
    stats, rejects = load_outputs(tmp_path / "out")
    assert [(r["line"], r["reason"]) for r in rejects] == [(3, "invalid_json")]
    assert stats["rows_written"] == 2


# -- huge lines and messages ------------------------------------------------------------------


def test_line_over_max_line_bytes_is_rejected_and_the_next_line_renders(tmp_path):
    big = b'{"messages": "' + b"x" * (3 * MiB) + b'"}'
    limit = 1 * MiB
    # Exactly at the limit (content bytes, without the newline) is kept; one byte more is not.
    pad = limit - (len(good(9, "y")) - 1)
    at_limit, over_limit = good(9, "y" * pad), good(9, "y" * (pad + 1))
    assert len(at_limit) == limit and len(over_limit) == limit + 1
    path = write_lines(tmp_path / "in.jsonl", [good(1), big, good(3), at_limit, over_limit, good(6)])
    render_files([path], tmp_path / "out", RenderOptions(workers=1, max_line_bytes=limit))
    stats, rejects = load_outputs(tmp_path / "out")
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "line_too_long"), (5, "line_too_long")]
    assert written_lines(tmp_path / "out") == [1, 3, 4, 6]
    assert_accounting(stats, rejects)


def test_a_too_long_line_is_never_held_in_memory(tmp_path):
    path = tmp_path / "in.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"messages": "')
        for _ in range(24):
            f.write(b"x" * MiB)
        f.write(b'"}\n' + good(2) + b"\n")
    counts = ReadCounts()
    tracemalloc.start()
    try:
        lines = [(r.line, r.raw is None) for r in read_records([path], counts, max_line_bytes=MiB)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert lines == [(1, True), (2, False)]
    assert counts.lines == 2 and counts.bytes == path.stat().st_size
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB while skipping a 24 MiB line with a 1 MiB limit"


@pytest.mark.slow
def test_a_real_100_megabyte_line_at_the_default_limit(tmp_path):
    path = tmp_path / "in.jsonl"
    with open(path, "wb") as f:
        f.write(good(1) + b"\n" + b'{"messages": [{"role": "user", "content": "')
        chunk = b"y" * MiB
        for _ in range(100):
            f.write(chunk)
        f.write(b'"}]}\n' + good(3) + b"\n")
    render_files([path], tmp_path / "out", RenderOptions(workers=1))
    stats, rejects = load_outputs(tmp_path / "out")
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "line_too_long")]
    assert stats["rows_written"] == 2 and stats["lines_read"] == 3


def test_a_million_character_message_is_truncated_not_fatal(tmp_path):
    words = ("The quick brown fox jumps over the lazy dog. " * 22_300)[:1_000_000]
    path = write_lines(tmp_path / "in.jsonl", [good(1), good(2, words), good(3)])
    render_files([path], tmp_path / "out", RenderOptions(workers=1))  # default max_length 16384, right
    stats, rejects = load_outputs(tmp_path / "out")
    assert rejects == [] and stats["rows_written"] == 3 and stats["truncated"] == 1
    assert stats["length_after"]["max"] == 16384
    assert check_output(tmp_path / "out").ok


TEN_MILLION = r"""
import json, sys, time
import datakit.pipeline as pipeline
import datakit.render.renderer as renderer
tokenizer = renderer.load_tokenizer("llama3")
renderer.load_tokenizer = lambda name, started=None, fast=True: tokenizer
print("ready", flush=True)
started = time.perf_counter()
result = pipeline.render_files([sys.argv[1]], sys.argv[2], pipeline.RenderOptions(workers=1))
print(json.dumps({"seconds": time.perf_counter() - started, **result.stats}), flush=True)
"""


@pytest.mark.slow
def test_a_ten_million_character_message_is_rendered_and_truncated(tmp_path):
    paragraph = "Grüße aus München, 世界你好! Ça va? 🙂 naïve café, Δ=3.14; Привет мир. 東京 2024\n"
    text = (paragraph * (10_000_000 // len(paragraph) + 1))[:10_000_000]
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Summarize."},
                                             {"role": "assistant", "content": text}]}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    script = tmp_path / "ten_million.py"
    script.write_text(TEN_MILLION)
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"  # start-up (imports, tokenizer) is not timed
        try:
            stdout, stderr = proc.communicate(timeout=300)  # a hang guard, not a speed test
        except subprocess.TimeoutExpired:
            pytest.fail("one 10M-character message still rendering after 300 s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    stats = json.loads(stdout)
    assert stats["rows_written"] == 1 and stats["truncated"] == 1 and stats["length_after"]["max"] == 16384


# -- a generated hostile corpus ---------------------------------------------------------------


def hostile_corpus(n_good: int = 400) -> tuple[list[bytes], list[str | None]]:
    """Good lines with every hostile case (and a too-long line) spread among them."""
    lines: list[bytes] = []
    expected: list[str | None] = []
    cases = [(raw, outcome) for _, raw, outcome in CASES]
    cases.append((b'{"messages": "' + b"z" * (MiB + 10) + b'"}', "line_too_long"))
    cases.append((good(0, "long answer " * 30_000), ROW))  # truncated to max_length, kept
    i = 0
    for k in range(n_good):
        lines.append(good(k))
        expected.append(ROW)
        if k % 5 == 2:
            raw, outcome = cases[i % len(cases)]
            i += 1
            lines.append(raw)
            expected.append(outcome)
    # Last line: cut mid-object, no final newline.
    lines.append(good(n_good)[:30])
    expected.append("invalid_json")
    return lines, expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    lines, expected = hostile_corpus()
    directory = tmp_path_factory.mktemp("corpus")
    path = directory / "hostile.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines).replace(b"\n", b"\r\n", 40))  # BOM, some CRLF
    return path, expected


HOSTILE_OPTIONS = dict(max_line_bytes=MiB, batch_lines=16)


def _expected_counts(expected):
    rows = sum(1 for e in expected if e is ROW)
    blank = sum(1 for e in expected if e == BLANK)
    rejects = Counter(e for e in expected if e not in (ROW, BLANK))
    return rows, blank, rejects


def test_hostile_corpus_counts_add_up(tmp_path, corpus):
    path, expected = corpus
    out = tmp_path / "out"
    render_files([path], out, RenderOptions(workers=1, **HOSTILE_OPTIONS))
    stats, rejects = load_outputs(out)
    rows, blank, by_reason = _expected_counts(expected)
    assert_accounting(stats, rejects)
    assert stats["lines_read"] == len(expected)
    assert (stats["rows_written"], stats["blank_lines"]) == (rows, blank)
    assert stats["rejected_by_reason"] == dict(sorted(by_reason.items()))
    want = [(i + 1, e) for i, e in enumerate(expected) if e not in (ROW, BLANK)]
    assert [(r["line"], r["reason"]) for r in rejects] == want
    assert all(r["file"] == str(path) for r in rejects)
    assert written_lines(out) == [i + 1 for i, e in enumerate(expected) if e is ROW]
    report = check_output(out)
    assert report.ok, report.errors
    assert report.rows == rows
    print(f"\nhostile corpus: lines={stats['lines_read']} rows={stats['rows_written']} "
          f"blank={stats['blank_lines']} rejected={stats['rejected']} {stats['rejected_by_reason']}")


def test_hostile_corpus_in_parallel_matches_serial_byte_for_byte(tmp_path, corpus):
    path, expected = corpus
    outs = {}
    for workers in (1, 2):
        outs[workers] = tmp_path / f"out{workers}"
        render_files([path], outs[workers], RenderOptions(workers=workers, **HOSTILE_OPTIONS))
    stats, rejects = load_outputs(outs[2])
    assert_accounting(stats, rejects)
    assert stats["lines_read"] == len(expected)
    for name in ("rejects.jsonl", "stats.json", "train/data-00000.arrow"):
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
    assert check_output(outs[2]).ok


# -- property-based ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def worker() -> BatchWorker:
    return BatchWorker(RenderOptions(workers=1, max_length=64), ["f.jsonl"])


def _one_outcome(worker: BatchWorker, raw: bytes) -> None:
    result = worker.process([Record(0, 7, raw)], [Side.TRAIN])
    assert result.error is None
    rows = sum(t.num_rows for t in result.tables.values())
    assert len(result.rejects) + rows == 1
    for r in result.rejects:
        line = r.to_json(worker.files)
        assert line["line"] == 7 and line["reason"] and line["detail"]
        json.dumps(line, ensure_ascii=False).encode("utf-8")  # rejects.jsonl can always hold it


_text = st.text(max_size=30)
_scalar = st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False) | _text
_json = st.recursive(_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(_text, c, max_size=3),
                     max_leaves=8)
_role = st.sampled_from(["system", "user", "assistant", "tool", "ipython", "bot", ""]) | _scalar
_message = st.fixed_dictionaries({}, optional={"role": _role, "content": _text | _json,
                                               "trainable": st.booleans() | _scalar}) | _json
_record = st.fixed_dictionaries({}, optional={"messages": st.lists(_message, max_size=4) | _json}) | _json
_settings = settings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@_settings
@given(st.binary(max_size=200))
def test_any_bytes_give_exactly_one_outcome(worker, raw):
    _one_outcome(worker, raw)


@_settings
@given(_record)
def test_any_json_value_gives_exactly_one_outcome(worker, record):
    _one_outcome(worker, json.dumps(record).encode())


@_settings
@given(_record, st.integers(0, 4), st.binary(max_size=8))
def test_damaged_json_gives_exactly_one_outcome(worker, record, cut, noise):
    raw = json.dumps(record).encode()
    _one_outcome(worker, raw[: max(0, len(raw) - cut)] + noise)


_LINE_POOL = [raw for _, raw, _ in CASES] + [good(i) for i in range(10)]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_LINE_POOL) | st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
                max_size=40),
       st.sampled_from([b"\n", b"\r\n"]), st.booleans(), st.booleans(), st.integers(1, 9))
def test_any_mix_of_lines_adds_up(tmp_path_factory, lines, newline, bom, final_newline, batch_lines):
    directory = tmp_path_factory.mktemp("mix")
    path = directory / "in.jsonl"
    data = newline.join(lines) + (newline if final_newline and lines else b"")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    try:
        render_files([path], directory / "out", RenderOptions(workers=1, batch_lines=batch_lines, max_reject_ratio=1))
    except LowYieldError:  # no line rendered: nothing is written, which the next assertion proves
        assert not (directory / "out").exists()
        assert not any(raw in _LINE_POOL[-10:] for raw in lines)
        return
    stats, rejects = load_outputs(directory / "out")
    assert_accounting(stats, rejects)
    full = path.read_bytes()
    assert stats["lines_read"] == full.count(b"\n") + (1 if full and not full.endswith(b"\n") else 0)
    lines_seen = sorted([r["line"] for r in rejects] + written_lines(directory / "out"))
    assert lines_seen == sorted(set(lines_seen))  # one outcome per line, never two


# -- the command line -------------------------------------------------------------------------


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_missing_input_is_a_short_error_not_a_traceback(tmp_path):
    proc = run_cli("render", tmp_path / "nope.jsonl", "-o", tmp_path / "out")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "nope.jsonl" in errors[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_hostile_corpus_exits_zero_and_reports(tmp_path, corpus):
    path, expected = corpus
    out = tmp_path / "out"
    proc = run_cli("render", path, "-o", out, "--workers", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    stats, rejects = load_outputs(out)
    assert stats["lines_read"] == len(expected) and stats["rejected"] == len(rejects)
    assert f"{stats['rejected']} rejects" in proc.stdout
    rows, blank, _ = _expected_counts(expected)
    # The CLI uses the default 64 MiB line limit: the 1 MiB + 10 line is messages_not_a_list there.
    assert (stats["rows_written"], stats["blank_lines"]) == (rows, blank)
    check = run_cli("check", out)
    assert check.returncode == 0 and check.stdout.startswith("ok:"), check.stderr
