"""Input file types: JSONL, JSON arrays (streamed), gzip, Parquet and stdin give the same records."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datakit.cli import default_output_dir
from datakit.pipeline import RenderOptions, render_files
from datakit.read import ReadCounts, read_records
from datakit.read import json_array

CLI = [sys.executable, "-c", "from datakit.cli import main; main()"]
MiB = 1 << 20


def records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    tricky = ['has "quotes" and \\ backslashes', "brackets ] [ } { and, commas", "unicode é 中文 🦜", "tab\tnew\nline"]
    return [{"id": i, "messages": [{"role": "user", "content": f"q{i} " + rng.choice(tricky)},
                                   {"role": "assistant", "content": f"a{i} " + rng.choice(tricky)}]}
            for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def decoded(paths: list[Path]) -> list[tuple[int, int, dict]]:
    out = []
    for record in read_records(paths, ReadCounts()):
        value = record.value if record.value is not None else json.loads(record.raw)
        out.append((record.source, record.line, value))
    return out


@pytest.fixture
def rows():
    return records(40)


def test_every_file_type_gives_the_same_records(tmp_path, rows):
    jsonl = write_jsonl(tmp_path / "a.jsonl", rows)
    array = tmp_path / "a.json"
    array.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    lines_in_json = write_jsonl(tmp_path / "lines.json", rows)
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    json_gz = tmp_path / "a.json.gz"
    json_gz.write_bytes(gzip.compress(array.read_bytes()))
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=7)
    expected = [(0, i + 1, r) for i, r in enumerate(rows)]
    for path in (jsonl, array, lines_in_json, gz, json_gz, parquet):
        assert decoded([path]) == expected, path.name


@pytest.mark.parametrize("chunk", [1, 3, 17, 1 << 20])
def test_array_scanner_at_every_chunk_boundary(tmp_path, rows, monkeypatch, chunk):
    monkeypatch.setattr(json_array, "_CHUNK", chunk)
    path = tmp_path / "a.json"
    path.write_bytes(b"\xef\xbb\xbf \n" + json.dumps(rows[:8], ensure_ascii=False).encode())
    assert decoded([path]) == [(0, i + 1, r) for i, r in enumerate(rows[:8])]


@pytest.mark.parametrize("text,outcome", [
    ("[]", []),
    ("[{\"a\": 1},]", [{"a": 1}]),  # a trailing comma is tolerated
    ("[1, \"x\", null, [2]]", [1, "x", None, [2]]),  # not objects: rejected later, one each
    ("[{\"a\": 1} {\"b\": 2}, {\"c\": 3}]", ["invalid_json", {"c": 3}]),  # one bad element, the rest read
    ("[{\"a\": 1},, {\"c\": 3}]", [{"a": 1}, "invalid_json: an empty array element", {"c": 3}]),
    ("[{\"a\": 1}] {\"b\": 2}", [{"a": 1}, "invalid_json: text after the closing ]"]),
    ("[{\"a\": 1}, {\"b\": ", [{"a": 1}, "invalid_json: the JSON array ends without its closing ]"]),
])
def test_malformed_arrays_end_in_rejects_not_tracebacks(tmp_path, text, outcome):
    path = tmp_path / "bad.json"
    path.write_text(text)
    got = []
    for record in read_records([path], ReadCounts()):
        if record.problem is not None:
            got.append(f"{record.problem[0]}: {record.problem[1]}")
        else:
            try:
                got.append(json.loads(record.raw))
            except ValueError:
                got.append("invalid_json")
    assert [g if not isinstance(g, str) or ":" not in g else g[:len(o)] for g, o in zip(got, outcome)] == outcome
    assert len(got) == len(outcome)


def test_a_json_array_streams_in_bounded_memory(tmp_path):
    """A 64 MiB array read with far less memory; an element over the limit is skipped unkept."""
    path = tmp_path / "big.json"
    element = json.dumps({"messages": [{"role": "user", "content": "x" * 4000},
                                       {"role": "assistant", "content": "y" * 4000}]}).encode()
    huge = json.dumps({"messages": [{"role": "user", "content": "z" * (3 * MiB)}]}).encode()
    with open(path, "wb") as f:
        f.write(b"[")
        n = (64 * MiB) // len(element)
        for i in range(n):
            f.write(element + b",\n")
        f.write(huge + b"]")
    counts = ReadCounts()
    tracemalloc.start()
    try:
        seen = problems = 0
        for record in read_records([path], counts, max_line_bytes=MiB):
            seen += 1
            problems += record.problem is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == n + 1 and problems == 1 and counts.lines == n + 1
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB reading a {path.stat().st_size / MiB:.0f} MiB array"


def test_render_reads_every_file_type_into_identical_rows(tmp_path, rows):
    import datasets

    jsonl = write_jsonl(tmp_path / "a.jsonl", rows)
    array = tmp_path / "b.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    columns = ("input_tokens", "target_tokens", "weights", "line")
    outputs = []
    for path in (jsonl, array, parquet, gz):
        out = tmp_path / (path.name + ".out")
        result = render_files([path], out, RenderOptions(workers=1))
        assert result.stats["rows_written"] == len(rows) and result.stats["rejected"] == 0
        outputs.append(datasets.load_from_disk(str(out))["train"].select_columns(list(columns)).to_list())
    assert all(o == outputs[0] for o in outputs[1:])


def test_stdin(tmp_path, rows):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    out = tmp_path / "out"
    proc = subprocess.run([*CLI, "render", "-", "-o", str(out), "--workers", "1", "-q"], input=data,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"] == [{"path": "-", "bytes": len(data)}]
    assert manifest["summary"]["rows_written"] == len(rows)
    # Splitting reads the input twice: stdin is spooled first; arrays work as well.
    split_out = tmp_path / "split"
    proc = subprocess.run([*CLI, "render", "-", "-o", str(split_out), "--workers", "1", "--test-size", "5", "-q"],
                          input=json.dumps(rows).encode(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads((split_out / "manifest.json").read_text())["splits"]["test"]["rows"] == 5
    proc = subprocess.run([*CLI, "render", "-"], input=data, capture_output=True, timeout=120)
    assert proc.returncode == 2 and b"-o" in proc.stderr and b"Traceback" not in proc.stderr


def test_unreadable_inputs_are_one_line_errors(tmp_path):
    not_gzip = tmp_path / "x.jsonl.gz"
    not_gzip.write_bytes(b"plain text")
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_bytes(b"PAR1 nope")
    for command in ("render", "split"):  # split reads through the same reader (/dev/zero: no OOM)
        for path in (not_gzip, not_parquet, tmp_path, Path("/dev/zero")):
            proc = subprocess.run([*CLI, command, str(path), "-o", str(tmp_path / "out")], capture_output=True,
                                  text=True, timeout=60)
            assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
            errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
            assert len(errors) == 1 and str(path) in errors[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_default_output_names_drop_every_known_suffix():
    assert default_output_dir(Path("data/x.jsonl.gz")) == Path("data/x.datakit")
    assert default_output_dir(Path("x.json")) == Path("x.datakit")
    assert default_output_dir(Path("x.parquet")) == Path("x.datakit")
    assert default_output_dir(Path("x.v2.jsonl")) == Path("x.v2.datakit")
