"""`datakit check` and `datakit stats` against damage and against crafted outputs.

Damage: any change to a committed output is an error. Crafted: names that leave the output,
links, FIFOs, sparse files, sidecar files that change what `datasets` serves, malformed JSON and
terminal escapes; check verifies exactly what `datasets.load_from_disk` loads, never reads a
file outside the output or one whose size is wrong, and prints one escaped line per problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from datakit.check import check_output
from datakit.cli import main
from datakit.datum import SCHEMA
from datakit.pipeline import RenderOptions, render_files
from datakit.terminal import printable
from test_crash import hf_rows, make_corpus, run_cli


@pytest.fixture(scope="module")
def good_output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("good")
    corpus = make_corpus(directory / "in.jsonl", 120)
    out = directory / "out"
    render_files([corpus], out, RenderOptions(workers=1, shard_bytes=64 << 10, batch_lines=16))
    report = check_output(out)
    assert report.ok and report.shards >= 3 and not report.warnings
    return out


@pytest.fixture
def out(tmp_path, good_output) -> Path:
    """A copy of the good output to damage."""
    out = tmp_path / "out"
    shutil.copytree(good_output, out)
    return out


def _flip_in_source_string(out: Path) -> None:
    path = out / "train" / "data-00001.arrow"
    data = bytearray(path.read_bytes())
    at = data.index(b"in.jsonl")
    data[at] = ord("X")  # still a valid Arrow stream, different content
    path.write_bytes(bytes(data))


def _truncate(out: Path) -> None:
    path = out / "train" / "data-00001.arrow"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_manifest(out: Path, change) -> None:
    path = out / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _shard_rows(manifest, delta=1):
    manifest["splits"]["train"]["shards"][0]["rows"] += delta
    manifest["splits"]["train"]["rows"] += delta


def _swap_shards(out: Path) -> None:
    a, b = out / "train" / "data-00000.arrow", out / "train" / "data-00001.arrow"
    tmp = out / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _rewrite_shard(out: Path, edit) -> None:
    """Replace shard 0 by an edited table and update the manifest to match (size, sha, rows)."""
    path = out / "train" / "data-00000.arrow"
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_stream(source).read_all()
    table = edit(table)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = path.read_bytes()

    def change(manifest):
        shard = manifest["splits"]["train"]["shards"][0]
        manifest["splits"]["train"]["rows"] += table.num_rows - shard["rows"]
        shard.update(rows=table.num_rows, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    _edit_manifest(out, change)


def _set_column(name, fn):
    def edit(table):
        column = table.column(name).combine_chunks()
        values = column.values.to_numpy(zero_copy_only=False).copy()
        fn(values)
        new = pa.ListArray.from_arrays(column.offsets, pa.array(values, column.type.value_type))
        return table.set_column(table.schema.get_field_index(name), table.schema.field(name), new)
    return edit


def _at(i, value):
    def fn(values):
        values[i] = value
    return fn


CORRUPTIONS = {
    "byte changed": (_flip_in_source_string, "checksum mismatch"),
    "shard deleted": (lambda out: (out / "train" / "data-00001.arrow").unlink(), "data-00001.arrow: missing"),
    "shard truncated": (_truncate, "bytes, manifest says"),
    "shards swapped": (_swap_shards, "manifest says"),
    "manifest row count": (lambda out: _edit_manifest(out, _shard_rows), "rows, manifest says"),
    "manifest split total": (lambda out: _edit_manifest(
        out, lambda m: m["splits"]["train"].__setitem__("rows", m["splits"]["train"]["rows"] + 1)),
        "row count disagrees"),
    "manifest checksum": (lambda out: _edit_manifest(
        out, lambda m: m["splits"]["train"]["shards"][2].__setitem__("sha256", "0" * 64)), "checksum mismatch"),
    "manifest cut short": (lambda out: (out / "manifest.json").write_bytes(
        (out / "manifest.json").read_bytes()[:100]), "unreadable manifest"),
    "manifest deleted": (lambda out: (out / "manifest.json").unlink(), "no manifest.json"),
    "state.json deleted": (lambda out: (out / "train" / "state.json").unlink(), "state.json"),
    "dataset_dict.json deleted": (lambda out: (out / "dataset_dict.json").unlink(), "dataset_dict.json"),
    "rejects emptied": (lambda out: (out / "rejects.jsonl").write_text(""), "rejects.jsonl: 0 bytes, manifest says"),
    "rejects edited": (lambda out: (out / "rejects.jsonl").write_bytes(
        (out / "rejects.jsonl").read_bytes().replace(b"invalid_json", b"invalid_JSON")), "rejects.jsonl: checksum"),
    "target not shifted input": (lambda out: _rewrite_shard(out, _set_column("target_tokens", _at(3, 7))),
                                 "not input_tokens shifted"),
    "weight above 1": (lambda out: _rewrite_shard(out, _set_column("weights", _at(5, 1.5))), "weight outside"),
    "weight NaN": (lambda out: _rewrite_shard(out, _set_column("weights", _at(5, float("nan")))),
                   "weight outside"),
    "weight negative": (lambda out: _rewrite_shard(out, _set_column("weights", _at(0, -0.5))), "weight outside"),
    "schema changed": (lambda out: _rewrite_shard(out, lambda t: t.drop(["truncated"])), "schema differs"),
    "schema metadata added": (lambda out: _rewrite_shard(out, lambda t: t.replace_schema_metadata(
        {b"huggingface": b'{"info": {"features": {}}}'})), "schema differs"),
    "num_tokens wrong": (lambda out: _rewrite_shard(out, lambda t: t.set_column(
        5, SCHEMA.field("num_tokens"), pa.array([n + 1 for n in t.column("num_tokens").to_pylist()], pa.int32()))),
        "num_tokens"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_check_catches_every_change(out, name):
    corrupt, message = CORRUPTIONS[name]
    assert check_output(out).ok
    corrupt(out)
    report = check_output(out)
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors


@pytest.mark.parametrize("name", ["shard truncated", "manifest deleted"])
def test_check_command_exits_non_zero_with_a_clear_message(out, name):
    CORRUPTIONS[name][0](out)
    proc = run_cli("check", out)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and CORRUPTIONS[name][1] in proc.stderr


def test_check_warns_about_a_shard_not_in_the_manifest_and_the_next_run_removes_it(out):
    shutil.copy(out / "train" / "data-00000.arrow", out / "train" / "data-00099.arrow")
    report = check_output(out)
    assert report.ok and any("data-00099.arrow" in w for w in report.warnings)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    render_files([manifest["inputs"][0]["path"]], out, RenderOptions(workers=1, shard_bytes=64 << 10,
                                                                     batch_lines=16), overwrite=True)
    assert not (out / "train" / "data-00099.arrow").exists()
    assert check_output(out).warnings == []


# Flips every byte of a shard in turn and runs `check_output` on each; prints "i outcome".
# With "rehash", the manifest's checksum is recomputed after the flip (as a forger would), so
# check must find the damage by reading the Arrow stream and the Datums themselves.
SWEEP = r"""
import hashlib, json, sys
from pathlib import Path
from datakit.check import check_output
out, start, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
shard = out / "train" / "data-00000.arrow"
original = (out / "original.arrow").read_bytes()
manifest = json.loads((out / "manifest.json").read_text())
for i in range(start, len(original)):
    data = bytearray(original); data[i] ^= 0xFF
    shard.write_bytes(bytes(data))
    if mode == "rehash":
        manifest["splits"]["train"]["shards"][0]["sha256"] = hashlib.sha256(data).hexdigest()
        (out / "manifest.json").write_text(json.dumps(manifest))
    print(i, end=" ", flush=True)
    try:
        errors = check_output(out).errors
        outcome = "undetected" if not errors else "checksum" if "checksum" in errors[0] else "caught"
    except BaseException as exc:
        outcome = type(exc).__name__
    print(outcome, flush=True)
"""


def sweep_flipped_bytes(tmp_path: Path, mode: str) -> dict[int, str]:
    """Outcome of `check_output` for every flipped byte of a one-row shard."""
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello there"}]}) + "\n")
    out = tmp_path / "out"
    render_files([corpus], out, RenderOptions(workers=1))
    shutil.copy(out / "train" / "data-00000.arrow", out / "original.arrow")
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    outcomes: dict[int, str] = {}
    size = (out / "original.arrow").stat().st_size
    start = 0
    while start < size:
        proc = subprocess.run([sys.executable, str(script), str(out), str(start), mode], capture_output=True,
                              text=True, timeout=300)
        last = start - 1
        for line in proc.stdout.splitlines():
            fields = line.split()
            last = int(fields[0])
            if len(fields) == 2:
                outcomes[last] = fields[1]
        if proc.returncode != 0:  # killed by a signal while checking byte `last`
            outcomes[last] = f"signal {-proc.returncode}"
        start = last + 1
    assert len(outcomes) == size
    return outcomes


@pytest.mark.slow
def test_check_survives_any_flipped_byte(tmp_path):
    outcomes = sweep_flipped_bytes(tmp_path, "keep")
    bad = {i: o for i, o in outcomes.items() if o != "checksum"}
    assert bad == {}, f"{len(bad)} of {len(outcomes)} flipped bytes not reported cleanly: {sorted(bad.items())[:12]}"


@pytest.mark.slow
def test_check_reads_the_arrow_stream_when_the_checksum_is_forged(tmp_path):
    """Some flips leave a valid shard (alignment padding, a weight of 0.0 made a tiny positive
    number); none may crash `check`, and the Arrow and Datum checks must catch most."""
    outcomes = sweep_flipped_bytes(tmp_path, "rehash")
    crashed = {i: o for i, o in outcomes.items() if o not in ("caught", "undetected")}
    assert crashed == {}, f"check crashed on {len(crashed)} flipped bytes: {sorted(crashed.items())[:12]}"
    caught = sum(o == "caught" for o in outcomes.values())
    assert caught > 0.5 * len(outcomes), f"only {caught} of {len(outcomes)} forged shards caught"




# -- crafted outputs: check verifies exactly what datasets loads ----------------------------------


@pytest.fixture
def two_outputs(tmp_path, good_output) -> tuple[Path, Path]:
    """A (the good output) and B, another output beside it with other rows."""
    a = tmp_path / "A"
    shutil.copytree(good_output, a)
    b = tmp_path / "B"
    corpus = make_corpus(tmp_path / "b.jsonl", 7, seed=9)
    render_files([corpus], b, RenderOptions(workers=1))
    return a, b


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _write(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def _borrow_first_shard_of(a: Path, b: Path, file: str) -> None:
    """B's manifest describes A's first shard, as `file`, so only B's state.json stays B's."""
    manifest = _manifest(b)
    shard = {**_manifest(a)["splits"]["train"]["shards"][0], "file": file}
    manifest["splits"]["train"] = {"rows": shard["rows"], "shards": [shard]}
    _write(b / "manifest.json", manifest)


@pytest.mark.parametrize("file", ["../A/train/data-00000.arrow", "train/../../A/train/data-00000.arrow",
                                  "/etc/passwd", "train//etc/passwd", "train/sub/data-00000.arrow", "train/..",
                                  "train/", "test/data-00000.arrow"])
def test_a_shard_name_that_leaves_its_split_directory_is_refused(two_outputs, file):
    a, b = two_outputs
    _borrow_first_shard_of(a, b, file)
    report = check_output(b)
    assert not report.ok and "is not a file name in train/" in report.errors[0], report.errors
    assert report.shards == 0 and not any("bytes, manifest says" in e for e in report.errors)
    assert hf_rows(b) == 7  # what datasets serves is B's own shard, which check never vouched for


def test_a_shard_linked_to_another_outputs_shard_is_refused(two_outputs):
    a, b = two_outputs
    _borrow_first_shard_of(a, b, "train/data-00000.arrow")
    (b / "train" / "data-00000.arrow").unlink()
    (b / "train" / "data-00000.arrow").symlink_to(a / "train" / "data-00000.arrow")
    report = check_output(b)
    assert "train/data-00000.arrow: a symbolic link" in report.errors and report.shards == 0


def test_a_split_directory_linked_to_another_output_is_refused(two_outputs):
    a, b = two_outputs
    manifest = _manifest(b)
    manifest["splits"]["train"] = _manifest(a)["splits"]["train"]
    _write(b / "manifest.json", manifest)
    shutil.rmtree(b / "train")
    (b / "train").symlink_to(a / "train")
    assert hf_rows(b) == 120  # datasets follows the link
    report = check_output(b)
    assert "train/: a symbolic link (datasets would read another directory)" in report.errors
    assert report.shards == 0


def test_state_json_naming_a_file_outside_its_split_is_refused(two_outputs):
    a, b = two_outputs
    state = json.loads((b / "train" / "state.json").read_text())
    state["_data_files"] = [{"filename": "../../A/train/data-00000.arrow"}]
    _write(b / "train" / "state.json", state)
    assert hf_rows(b) == _manifest(a)["splits"]["train"]["shards"][0]["rows"]  # datasets loads A's shard
    report = check_output(b)
    assert not report.ok and "train/state.json: _data_files must list file names in this directory" in report.errors


def _sidecar(out: Path, relative: str, change) -> None:
    path = out / relative
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    _write(path, data)


def _top_level_dataset(out: Path) -> None:
    for name in ("state.json", "dataset_info.json", "data-00000.arrow"):
        shutil.copy(out / "train" / name, out / name)


def _features(info: dict) -> None:
    """Features that datasets would cast the weights to float64 with."""
    import datasets

    info["features"] = datasets.Features.from_arrow_schema(
        SCHEMA.set(SCHEMA.get_field_index("weights"), pa.field("weights", pa.list_(pa.float64())))).to_dict()


SERVED_OTHERWISE = {
    "columns hidden": (lambda out: _sidecar(out, "train/state.json", lambda s: s.update(_format_columns=["line"])),
                       "_format_columns is ['line']"),
    "format type": (lambda out: _sidecar(out, "train/state.json", lambda s: s.update(_format_type="numpy")),
                    "_format_type is 'numpy'"),
    "features cast": (lambda out: _sidecar(out, "train/dataset_info.json", _features), "gives features"),
    "a dataset at the top": (_top_level_dataset, "datasets.load_from_disk would load them"),
    "dataset_dict lists another split": (lambda out: _write(out / "dataset_dict.json", {"splits": ["train", "test"]}),
                                         "dataset_dict.json lists ['train', 'test'], the manifest ['train']"),
    "state.json lists more shards": (lambda out: _sidecar(out, "train/state.json", lambda s: s["_data_files"].append(
        {"filename": "data-00000.arrow"})), "train/state.json lists"),
}


@pytest.mark.parametrize("name", list(SERVED_OTHERWISE))
def test_sidecars_that_make_datasets_serve_other_rows_are_errors(out, name):
    craft, message = SERVED_OTHERWISE[name]
    craft(out)
    report = check_output(out)
    assert not report.ok and any(message in e for e in report.errors), report.errors


def test_a_fifo_is_never_opened_for_reading(out):
    for name in ("train/state.json", "train/data-00001.arrow", "stats.json"):
        (out / name).unlink()
        os.mkfifo(out / name)
    result = run_cli("check", out)  # a read would block forever: the timeout is only a guard
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for name in ("train/state.json", "stats.json"):
        assert f"error: {name}: not a regular file" in result.stderr, result.stderr


def test_a_huge_sparse_rejects_file_is_refused_by_its_size_without_being_read(out):
    with open(out / "rejects.jsonl", "r+b") as f:
        f.truncate(20 << 30)
    expected = _manifest(out)["rejects"]["bytes"]
    result = run_cli("check", out)
    assert result.returncode == 1
    assert result.stderr == f"error: rejects.jsonl: {20 << 30} bytes, manifest says {expected}\n"


# -- malformed files: one error line each, never a traceback ---------------------------------------


def _shard_field(key, value):
    def change(manifest):
        manifest["splits"]["train"]["shards"][0][key] = value
    return change


MALFORMED_MANIFESTS = {
    "a list": b"[]",
    "splits a list": b'{"splits": []}',
    "a split a number": b'{"splits": {"train": 5}}',
    "an unknown split": b'{"splits": {"../A": {"rows": 0, "shards": []}}}',
    "not UTF-8": b'{"splits": "\xff\xfe"}',
    "nested a million deep": b"[" * 1_000_000,
    "a number beyond int64": None,  # made by the edits below
}
MANIFEST_EDITS = {
    "file a number": _shard_field("file", 3),
    "rows a string": _shard_field("rows", "3"),
    "rows negative": _shard_field("rows", -1),
    "rows true": _shard_field("rows", True),
    "sha256 a list": _shard_field("sha256", ["0" * 64]),
    "rejects without bytes": lambda m: m["rejects"].pop("bytes"),
    "rejects elsewhere": lambda m: m["rejects"].update(file="../A/rejects.jsonl"),
}


def _raw_edit(out: Path, old: bytes, new: bytes) -> None:
    path = out / "manifest.json"
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def _huge_number(out: Path) -> None:
    _raw_edit(out, b'"bytes": ', b'"bytes": 1' + b"0" * 30 + b", \"x\": ")


def _infinity(out: Path) -> None:
    _raw_edit(out, b'"bytes": ', b'"bytes": 1e400, "x": ')


def _nan(out: Path) -> None:
    _raw_edit(out, b'"bytes": ', b'"bytes": NaN, "x": ')


def _too_big(out: Path) -> None:
    with open(out / "manifest.json", "r+b") as f:
        f.truncate(100 << 20)


def _crafted_manifests():
    for name, content in MALFORMED_MANIFESTS.items():
        if content is not None:
            yield name, lambda out, c=content: (out / "manifest.json").write_bytes(c)
    for name, edit in MANIFEST_EDITS.items():
        yield name, lambda out, e=edit: _write(out / "manifest.json", (lambda m: (e(m), m)[1])(_manifest(out)))
    yield "a number beyond int64", _huge_number
    yield "infinity", _infinity
    yield "NaN", _nan
    yield "100 MiB", _too_big


CRAFTED_MANIFESTS = dict(_crafted_manifests())


def assert_one_clean_error(result, prefix: str = "error: ") -> None:
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and result.output.startswith(prefix), result.output


@pytest.mark.parametrize("name", list(CRAFTED_MANIFESTS))
def test_a_malformed_manifest_is_an_error_line(out, name):
    CRAFTED_MANIFESTS[name](out)
    result = CliRunner().invoke(main, ["check", str(out)])
    assert_one_clean_error(result)
    assert "manifest.json" in result.output.splitlines()[0], result.output


STATE_EDITS = {
    "not JSON": lambda out: (out / "train" / "state.json").write_text("{"),
    "a list": lambda out: _write(out / "train" / "state.json", []),
    "no _data_files": lambda out: _sidecar(out, "train/state.json", lambda s: s.pop("_data_files")),
    "a file name a number": lambda out: _sidecar(out, "train/state.json", lambda s: s.update(
        _data_files=[{"filename": 5}])),
    "files a string": lambda out: _sidecar(out, "train/state.json", lambda s: s.update(_data_files="data")),
    "another split's label": lambda out: _sidecar(out, "train/state.json", lambda s: s.update(_split="test")),
    "dataset_info not JSON": lambda out: (out / "train" / "dataset_info.json").write_text("]"),
    "dataset_dict a list": lambda out: _write(out / "dataset_dict.json", ["train"]),
}


@pytest.mark.parametrize("name", list(STATE_EDITS))
def test_a_malformed_datasets_sidecar_is_an_error_line(out, name):
    STATE_EDITS[name](out)
    assert_one_clean_error(CliRunner().invoke(main, ["check", str(out)]))


STATS_EDITS = {
    "not JSON": b"nope",
    "a list": b"[1, 2]",
    "empty object": b"{}",
    "a count a string": b'{"rows_written": "x", "lines_read": 1}',
    "an infinite count": b'{"rows_written": 1e400}',
    "a count beyond int64": b'{"rows_written": 100000000000000000000000000000}',
    "nested deep": b"[" * 100_000,
}


@pytest.mark.parametrize("name", list(STATS_EDITS))
def test_a_malformed_stats_file_is_one_line_from_stats_and_an_error_from_check(out, name):
    (out / "stats.json").write_bytes(STATS_EDITS[name])
    for args in (["stats", str(out)], ["stats", "--json", str(out)]):
        result = CliRunner().invoke(main, args)
        assert_one_clean_error(result, prefix="Error: ")
        assert len(result.output.splitlines()) == 1 and "stats.json" in result.output
    report = check_output(out)
    assert not report.ok and any(e.startswith("stats.json") for e in report.errors), report.errors


def test_stats_of_an_unfinished_output_is_one_line(tmp_path):
    (tmp_path / "out" / "train").mkdir(parents=True)
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "out")])
    assert_one_clean_error(result, prefix="Error: ")
    assert result.output == f"Error: {tmp_path / 'out'} is not a complete datakit output (no manifest.json)\n"


def test_stats_rows_that_disagree_with_the_shards_are_an_error(out):
    stats = json.loads((out / "stats.json").read_text())
    stats["rows_written"] += 1
    _write(out / "stats.json", stats)
    assert check_output(out).errors == ["stats.json says 121 rows were written, the shards hold 120"]


# -- terminal escapes ---------------------------------------------------------------------------


def test_printable_escapes_what_a_terminal_would_act_on():
    assert printable("plain text, ünïcödé, 漢字, a \\ backslash") == "plain text, ünïcödé, 漢字, a \\ backslash"
    assert printable("\x1b]0;title\x07\x1b[2J\x9b1m") == "\\x1b]0;title\\x07\\x1b[2J\\x9b1m"
    assert printable("a\nb\rc\td\x00e\x7f") == "a\\nb\\rc\\td\\x00e\\x7f"
    assert printable("\u202eevil\u2066\u200b") == "\\u202eevil\\u2066\\u200b"
    assert printable("\udcff") == "\\udcff"


def _has_control(text: str) -> bool:
    return any(not ch.isprintable() for ch in text.replace("\n", ""))


def test_check_prints_crafted_names_escaped(out):
    evil = "\x1b]0;owned\x07\x1b[2J\x9b31m.arrow"
    _edit_manifest(out, _shard_field("file", f"train/{evil}"))
    _sidecar(out, "train/state.json", lambda s: s["_data_files"][0].update(filename=evil))
    (out / "train" / f"stray{evil}").write_bytes(b"x")
    result = CliRunner().invoke(main, ["check", str(out)], color=True)  # color: click strips nothing
    assert result.exit_code == 1 and not _has_control(result.output), repr(result.output)
    assert f"train/{printable(evil)}: missing" in result.output
    assert f"train/stray{printable(evil)}: not in the manifest" in result.output


def test_stats_prints_crafted_names_escaped(out):
    stats = json.loads((out / "stats.json").read_text())
    stats["rejected_by_reason"] = {"\x1b[31mforged\x1b[0m\n  rows written   999": 1}
    stats["per_file"] = {"\x1b]0;t\x07in.jsonl": {k: v for k, v in stats.items() if k != "per_file"}}
    _write(out / "stats.json", stats)
    result = CliRunner().invoke(main, ["stats", str(out)], color=True)
    assert result.exit_code == 0 and not _has_control(result.output), repr(result.output)
    assert "\\x1b[31mforged\\x1b[0m\\n  rows written   999" in result.output
    assert "file \\x1b]0;t\\x07in.jsonl" in result.output


def test_entries_that_are_not_datakits_are_warnings(out):
    (out / "notes.txt").write_text("mine")
    (out / "test").mkdir()
    report = check_output(out)
    assert report.ok and report.warnings == ["notes.txt: not part of a datakit output (ignored)",
                                             "test/: not in the manifest (ignored)"]
