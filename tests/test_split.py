"""Tests for datakit.split: deterministic, order-independent, leakage-free train/test splits."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from datakit.cli import split as split_command
from datakit.split import SplitPlan, plan_split, write_split
from datakit.write import OutputError



def conv(text: str, reply: str = "ok", **extra) -> dict:
    return {**extra, "messages": [{"role": "user", "content": text},
                                  {"role": "assistant", "content": reply}]}


def dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes("".join(line + newline for line in lines).encode("utf-8"))
    return path


def read_sides(out_dir: Path) -> dict[str, list[bytes]]:
    return {side: (out_dir / f"{side}.jsonl").read_bytes().splitlines(keepends=True)
            for side in ("train", "test")}


def split_sets(paths: list[Path], out_dir: Path, **kwargs) -> dict[str, set[bytes]]:
    plan = plan_split(paths, **kwargs)
    write_split(paths, out_dir, plan)
    return {side: set(lines) for side, lines in read_sides(out_dir).items()}


def norm_key(line: bytes) -> str:
    """The test's own notion of a duplicate: messages with whitespace-collapsed content."""
    messages = json.loads(line)["messages"]
    return json.dumps([{**m, "content": " ".join(m["content"].split())} for m in messages],
                      sort_keys=True)


def sides_by_line(paths: list[Path], plan: SplitPlan) -> list[tuple[bytes, str | None]]:
    out = []
    for file_index, path in enumerate(paths):
        for number, raw in enumerate(path.read_bytes().splitlines(keepends=True), 1):
            out.append((raw, plan.side(file_index, number)))
    return out


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    return write_lines(path, [dumps(conv(f"q{i}", f"a{i}")) for i in range(20_000)])


# --- order independence and determinism -------------------------------------------------------


def test_shuffled_lines_give_same_sides(tmp_path):
    lines = [dumps(conv(f"question {i}")) for i in range(600)]
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    a = write_lines(tmp_path / "a.jsonl", lines)
    b = write_lines(tmp_path / "b.jsonl", shuffled)
    sa = split_sets([a], tmp_path / "out_a", test_ratio=0.2, seed=5)
    sb = split_sets([b], tmp_path / "out_b", test_ratio=0.2, seed=5)
    assert sa == sb
    assert len(sa["test"]) == 120


def test_file_order_does_not_change_sides(tmp_path):
    lines = [dumps(conv(f"question {i}")) for i in range(300)]
    files = [write_lines(tmp_path / f"{n}.jsonl", lines[i::3]) for i, n in enumerate("abc")]
    s1 = split_sets(files, tmp_path / "o1", test_ratio=0.3, seed=1)
    s2 = split_sets(files[::-1], tmp_path / "o2", test_ratio=0.3, seed=1)
    s3 = split_sets([files[1], files[2], files[0]], tmp_path / "o3", test_ratio=0.3, seed=1)
    assert s1 == s2 == s3
    # Output order is input order: files as given, then lines in file order.
    out = read_sides(tmp_path / "o2")
    expected = [l for f in files[::-1] for l in f.read_bytes().splitlines(keepends=True)
                if l in s2["train"]]
    assert out["train"] == expected


def test_outputs_byte_identical_across_runs(tmp_path):
    lines = [dumps(conv(f"q {i}", "réponse ✓")) for i in range(400)]
    a = write_lines(tmp_path / "a.jsonl", lines[:250], newline="\r\n")
    b = write_lines(tmp_path / "b.jsonl", lines[250:])
    for out in ("r1", "r2"):
        write_split([a, b], tmp_path / out, plan_split([a, b], test_ratio=0.25, seed=9))
    for side in ("train", "test"):
        assert (tmp_path / "r1" / f"{side}.jsonl").read_bytes() == \
               (tmp_path / "r2" / f"{side}.jsonl").read_bytes()
    # Input lines are unchanged, CRLF endings included.
    sides = read_sides(tmp_path / "r1")
    everything = sides["train"] + sides["test"]
    assert sorted(everything) == sorted(a.read_bytes().splitlines(keepends=True)
                                        + b.read_bytes().splitlines(keepends=True))
    assert sum(l.endswith(b"\r\n") for l in everything) == 250


def test_seed_changes_the_split(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(200)])
    s0 = split_sets([a], tmp_path / "s0", test_ratio=0.5, seed=0)
    s1 = split_sets([a], tmp_path / "s1", test_ratio=0.5, seed=1)
    assert s0["test"] != s1["test"]


# --- leakage ----------------------------------------------------------------------------------


def test_duplicates_never_straddle(tmp_path):
    rng = random.Random(0)
    lines = []
    for i in range(150):
        base = f"what is {i} plus {i}?"
        variants = [base, f"  what is {i}\tplus  {i}? ", f"what is {i}\nplus {i}?\n"]
        for _ in range(rng.randint(1, 4)):
            text = rng.choice(variants)
            lines.append(dumps(conv(text, f" answer  {i}", id=rng.random())))
    rng.shuffle(lines)
    files = [write_lines(tmp_path / "a.jsonl", lines[:200]),
             write_lines(tmp_path / "b.jsonl", lines[200:])]
    for seed in range(10):
        plan = plan_split(files, test_ratio=0.5, seed=seed)
        assert plan.summary.duplicates == len(lines) - 150
        assert plan.summary.groups == 150
        by_key = defaultdict(set)
        for raw, side in sides_by_line(files, plan):
            by_key[norm_key(raw)].add(side)
        assert len(by_key) == 150
        assert all(len(s) == 1 for s in by_key.values())
        assert {s for ss in by_key.values() for s in ss} == {"train", "test"}


def test_roles_are_part_of_identity(tmp_path):
    a = {"messages": [{"role": "user", "content": "hi"}]}
    b = {"messages": [{"role": "system", "content": "hi"}]}
    path = write_lines(tmp_path / "a.jsonl", [dumps(a), dumps(b)])
    assert plan_split([path]).summary.duplicates == 0


def test_groups_never_straddle(tmp_path):
    rng = random.Random(1)
    lines = []
    for g in range(120):
        for j in range(rng.randint(1, 6)):
            lines.append(dumps(conv(f"group {g} row {j}", source=f"src-{g}")))
    # A conversation shared by two groups joins them into one cluster.
    lines.append(dumps(conv("shared", source="src-0")))
    lines.append(dumps(conv("shared", source="src-1")))
    rng.shuffle(lines)
    path = write_lines(tmp_path / "a.jsonl", lines)
    for seed in range(10):
        plan = plan_split([path], test_ratio=0.3, seed=seed, group_key="source")
        assert plan.summary.groups == 119
        by_source = defaultdict(set)
        for raw, side in sides_by_line([path], plan):
            by_source[json.loads(raw)["source"]].add(side)
        assert all(len(s) == 1 for s in by_source.values())
        assert by_source["src-0"] == by_source["src-1"]
        # Groups overshoot by at most the last cluster taken.
        s = plan.summary
        assert abs(s.test_rows - s.target_test_rows) <= 7


def test_rows_without_group_key_are_grouped_alone(tmp_path):
    lines = [dumps(conv(f"r{i}", source="x")) for i in range(5)]
    lines += [dumps(conv(f"n{i}")) for i in range(5)] + [dumps(conv("z", source=None))]
    path = write_lines(tmp_path / "a.jsonl", lines)
    summary = plan_split([path], group_key="source").summary
    assert summary.missing_group_key == 6
    assert summary.groups == 7
    assert "rows without group key" in summary.format()


# --- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio,seed", [(0.1, 0), (0.05, 1), (0.333, 2), (0.5, 42)])
def test_ratio_within_one_row(big_file, ratio, seed):
    summary = plan_split([big_file], test_ratio=ratio, seed=seed).summary
    target = round(ratio * 20_000)
    assert summary.target_test_rows == target
    assert abs(summary.test_rows - target) <= 1
    assert summary.train_rows + summary.test_rows == 20_000
    assert summary.groups == 20_000 and summary.duplicates == 0


def test_ratio_with_duplicates_stays_close(tmp_path):
    # Pairs of duplicates: clusters of two rows can overshoot by at most one row.
    lines = [dumps(conv(f"q{i // 2}")) for i in range(2000)]
    path = write_lines(tmp_path / "a.jsonl", lines)
    for seed in range(3):
        summary = plan_split([path], test_ratio=0.1, seed=seed).summary
        assert abs(summary.test_rows - 200) <= 1


def test_test_size(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(500)])
    plan = plan_split([path], test_size=37, seed=3)
    assert plan.summary.test_rows == 37 and plan.summary.train_rows == 463
    assert plan.summary.target_test_rows == 37
    assert plan_split([path], test_size=0).summary.test_rows == 0
    assert plan_split([path], test_ratio=0.0).summary.test_rows == 0
    with pytest.raises(ValueError, match="larger than"):
        plan_split([path], test_size=501)


def test_test_size_is_a_prefix_of_a_larger_one(tmp_path):
    # Ranking, not thresholds: growing the test side only adds rows to it.
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(300)])
    small = plan_split([path], test_size=20, seed=4)
    large = plan_split([path], test_size=60, seed=4)
    small_test = {n for n in range(1, 301) if small.side(0, n) == "test"}
    large_test = {n for n in range(1, 301) if large.side(0, n) == "test"}
    assert small_test < large_test


@pytest.mark.parametrize("kwargs,match", [
    ({"test_ratio": 1.0}, r"\[0, 1\)"),
    ({"test_ratio": -0.1}, r"\[0, 1\)"),
    ({"test_ratio": float("nan")}, r"\[0, 1\)"),
    ({"test_ratio": 0.1, "test_size": 5}, "not both"),
    ({"test_size": -1}, ">= 0"),
    ({"test_size": 1.5}, "integer"),
    ({"seed": "0"}, "integer"),
    ({"group_key": ""}, "non-empty"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv("q"))])
    with pytest.raises(ValueError, match=match):
        plan_split([path], **kwargs)


def test_no_paths_is_an_error():
    with pytest.raises(ValueError, match="no input files"):
        plan_split([])


# --- invalid, blank, BOM, dedup ---------------------------------------------------------------


def test_invalid_and_blank_lines(tmp_path):
    good = [dumps(conv(f"q{i}")) for i in range(4)]
    content = b"\n".join([
        b"\xef\xbb\xbf" + good[0].encode(),  # BOM at the start of the file
        b"",
        b"   \t",
        b"{not json",
        b"[1, 2]",
        b'{"text": "no messages"}',
        b'{"messages": "hello"}',
        b'{"messages": ["hello"]}',
        b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
        good[1].encode(),
        good[2].encode() + b"\r",
        good[3].encode(),  # no final newline
    ])
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(content)
    plan = plan_split([path], test_ratio=0.5, seed=0)
    s = plan.summary
    assert (s.rows, s.blank, s.invalid) == (4, 2, 6)
    assert [ex["line"] for ex in s.invalid_examples] == [4, 5, 6, 7, 8, 9]
    assert all(ex["file"] == str(path) for ex in s.invalid_examples)
    reasons = " | ".join(ex["reason"] for ex in s.invalid_examples)
    for word in ("invalid_json", "not_an_object", "missing_messages", "messages_not_a_list",
                 "message_not_an_object", "invalid_utf8"):
        assert word in reasons
    assert [plan.side(0, n) for n in range(2, 10)] == [None] * 8
    assert "mixed.jsonl:4: invalid_json" in s.format()

    write_split([path], tmp_path / "out", plan)
    sides = read_sides(tmp_path / "out")
    written = sorted(sides["train"] + sides["test"])
    assert written == sorted([good[0].encode() + b"\n", good[1].encode() + b"\n",
                              good[2].encode() + b"\r\n", good[3].encode() + b"\n"])
    with pytest.raises(IndexError):
        plan.side(0, 13)


def test_a_line_over_the_cap_is_invalid_and_never_written(tmp_path):
    """split cuts lines with render's reader and its cap: an over-long line is skipped unread."""
    lines = [dumps(conv("q0")), dumps(conv("z" * (1 << 20))), dumps(conv("q2"))]
    path = write_lines(tmp_path / "a.jsonl", lines)
    plan = plan_split([path], test_size=1, max_line_bytes=1 << 20)
    assert (plan.summary.rows, plan.summary.invalid) == (2, 1)
    assert plan.summary.invalid_examples[0]["line"] == 2
    assert "line_too_long" in plan.summary.invalid_examples[0]["reason"]
    write_split([path], tmp_path / "out", plan)
    written = read_sides(tmp_path / "out")
    assert sorted(written["train"] + written["test"]) == sorted(line.encode() + b"\n" for line in (lines[0], lines[2]))


def test_invalid_examples_are_capped(tmp_path):
    path = write_lines(tmp_path / "bad.jsonl", ["nope"] * 50)
    s = plan_split([path]).summary
    assert s.invalid == 50 and len(s.invalid_examples) == 10
    assert s.rows == 0 and s.test_rows == 0 and s.achieved_test_ratio == 0.0
    assert "first 10 of 50" in s.format()


def test_dedup_keeps_first_copy(tmp_path):
    first = dumps(conv("hello  world", id=1))
    variant = dumps(conv(" hello world ", id=2))
    other = dumps(conv("something else"))
    a = write_lines(tmp_path / "a.jsonl", [first, other])
    b = write_lines(tmp_path / "b.jsonl", [variant, first])
    plan = plan_split([a, b], dedup=True, test_ratio=0.0)
    s = plan.summary
    assert (s.rows, s.duplicates, s.dropped_duplicates, s.train_rows) == (4, 2, 2, 2)
    assert [plan.side(1, 1), plan.side(1, 2)] == [None, None]
    write_split([a, b], tmp_path / "out", plan)
    assert read_sides(tmp_path / "out")["train"] == [(first + "\n").encode(),
                                                     (other + "\n").encode()]
    no_dedup = plan_split([a, b], test_ratio=0.0).summary
    assert (no_dedup.duplicates, no_dedup.dropped_duplicates, no_dedup.train_rows) == (2, 0, 4)


def test_dedup_side_independent_of_order(tmp_path):
    lines = [dumps(conv(f"q{i % 80}", id=i)) for i in range(200)]
    shuffled = lines[:]
    random.Random(2).shuffle(shuffled)
    a = write_lines(tmp_path / "a.jsonl", lines)
    b = write_lines(tmp_path / "b.jsonl", shuffled)
    pa = plan_split([a], dedup=True, test_ratio=0.25, seed=1)
    pb = plan_split([b], dedup=True, test_ratio=0.25, seed=1)
    test_a = {norm_key(raw) for raw, side in sides_by_line([a], pa) if side == "test"}
    test_b = {norm_key(raw) for raw, side in sides_by_line([b], pb) if side == "test"}
    assert test_a == test_b and len(test_a) == 20


# --- writing ----------------------------------------------------------------------------------


def test_refuses_to_overwrite(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    out = tmp_path / "out"
    plan = plan_split([path])
    write_split([path], out, plan)
    before = read_sides(out)
    (out / "test.jsonl").write_bytes(b"keep me\n")
    with pytest.raises(OutputError, match="overwrite"):
        write_split([path], out, plan)
    assert (out / "test.jsonl").read_bytes() == b"keep me\n"
    write_split([path], out, plan, overwrite=True)
    assert read_sides(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.jsonl", "train.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "out"]  # no lock or staging left


def test_the_manifest_names_the_pair_it_was_committed_with(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(50)])
    out = tmp_path / "out"
    plan = plan_split([path], test_size=5)
    returned = write_split([path], out, plan)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == returned and manifest["format"] == "datakit-split/1"
    assert manifest["inputs"] == [str(path)] and manifest["summary"] == plan.summary.to_dict()
    for side, rows in (("train", 45), ("test", 5)):
        data = (out / f"{side}.jsonl").read_bytes()
        assert manifest["files"][side] == {"file": f"{side}.jsonl", "rows": rows, "bytes": len(data),
                                           "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=lambda m: f"umask {m:03o}")
def test_the_pair_gets_the_mode_the_umask_gives(tmp_path, umask):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    out = tmp_path / "out"
    previous = os.umask(umask)
    try:
        write_split([path], out, plan_split([path]))
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [out, *out.iterdir()]}
    assert modes == {"out": 0o777 & ~umask, "train.jsonl": 0o666 & ~umask, "test.jsonl": 0o666 & ~umask,
                     "manifest.json": 0o666 & ~umask}


def ten_rows(tmp_path: Path) -> tuple[Path, SplitPlan]:
    """A small input and its plan."""
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    return path, plan_split([path])


def directory_with(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def test_a_directory_holding_more_than_a_split_is_never_replaced(tmp_path):
    path, plan = ten_rows(tmp_path)
    mixed = directory_with(tmp_path / "mixed", {"notes.txt": "keep me", "train.jsonl": "old\n"})
    a_dir = tmp_path / "a_dir"
    (a_dir / "test.jsonl").mkdir(parents=True)  # a directory under a split's name
    for out in (mixed, a_dir):
        before = sorted(out.rglob("*"))
        for overwrite in (False, True):
            with pytest.raises(OutputError, match="holds more than a split"):
                write_split([path], out, plan, overwrite=overwrite)
        assert sorted(out.rglob("*")) == before
    assert (mixed / "train.jsonl").read_text() == "old\n"


def test_a_pair_without_a_manifest_is_replaced_only_with_overwrite(tmp_path):
    """datakit 0.1.0 wrote DIR/train.jsonl and DIR/test.jsonl alone."""
    path, plan = ten_rows(tmp_path)
    out = directory_with(tmp_path / "out", {"train.jsonl": "old train\n", "test.jsonl": "old test\n"})
    with pytest.raises(OutputError, match="--overwrite"):
        write_split([path], out, plan)
    assert (out / "train.jsonl").read_text() == "old train\n"
    write_split([path], out, plan, overwrite=True)
    assert sum(map(len, read_sides(out).values())) == 10


def test_an_input_inside_the_split_directory_is_refused(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    out = tmp_path / "out"
    write_split([path], out, plan_split([path]))
    before = read_sides(out)
    linked = tmp_path / "link.jsonl"
    linked.symlink_to(out / "train.jsonl")
    for source in (out / "train.jsonl", linked):
        plan = plan_split([source])
        with pytest.raises(OutputError, match="inside"):
            write_split([source], out, plan, overwrite=True)
        assert read_sides(out) == before
    result = CliRunner().invoke(split_command, [str(out / "train.jsonl"), "-o", str(out), "--overwrite"])
    assert result.exit_code == 1 and "inside" in result.output and "Traceback" not in result.output
    assert read_sides(out) == before


def test_write_rejects_changed_input(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    plan = plan_split([path])
    with path.open("a") as f:
        f.write(dumps(conv("late")) + "\n")
    with pytest.raises(ValueError, match="changed"):
        write_split([path], tmp_path / "out", plan)
    with pytest.raises(ValueError, match="planned files"):
        write_split([path, path], tmp_path / "out", plan)
    assert not (tmp_path / "out" / "train.jsonl").exists()


# --- CLI --------------------------------------------------------------------------------------


def test_cli_split(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(100)])
    b = write_lines(tmp_path / "b.jsonl", [dumps(conv(f"r{i}")) for i in range(100)] + [""])
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(split_command, [str(a), str(b), "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "test rows" in result.output and "target 20" in result.output
    assert "blank lines" in result.output
    sides = read_sides(out)
    assert (len(sides["train"]), len(sides["test"])) == (180, 20)

    # Refuses to overwrite, with a clean message; --overwrite replaces.
    again = runner.invoke(split_command, [str(a), "-o", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert "Traceback" not in again.output
    again = runner.invoke(split_command, [str(a), "-o", str(out), "--overwrite",
                                          "--test-size", "7", "--dedup"])
    assert again.exit_code == 0, again.output
    assert len(read_sides(out)["test"]) == 7


@pytest.mark.parametrize("args", [
    ["--test-ratio", "1.5"],
    ["--test-ratio", "0.1", "--test-size", "3"],
    ["--test-size", "-2"],
    ["--test-size", "1000"],
    ["--test-ratio", "abc"],
    ["--group-key", ""],
    ["--bogus"],
])
def test_cli_bad_options_exit_2(tmp_path, args):
    a = write_lines(tmp_path / "a.jsonl", [dumps(conv(f"q{i}")) for i in range(10)])
    result = CliRunner().invoke(split_command, [str(a), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Error" in result.output
    assert not (tmp_path / "o").exists()


def test_cli_missing_input_and_help(tmp_path):
    runner = CliRunner()
    result = runner.invoke(split_command, [str(tmp_path / "missing.jsonl"), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(split_command, ["--help"])
    assert result.exit_code == 0 and "--group-key" in result.output and "--dedup" in result.output


# --- real data --------------------------------------------------------------------------------


def test_shared_data_no_duplicate_straddles(tmp_path, data_files):
    paths = sorted(data_files.values())
    for seed in (0, 1, 2):
        plan = plan_split(paths, test_ratio=0.1, seed=seed)
        s = plan.summary
        assert s.invalid == 0
        by_key = defaultdict(set)
        for raw, side in sides_by_line(paths, plan):
            if raw.strip():
                by_key[norm_key(raw)].add(side)
        assert all(len(sides) == 1 for sides in by_key.values())
        assert s.duplicates == s.rows - len(by_key)
        assert abs(s.test_rows - round(0.1 * s.rows)) <= max(1, s.rows - s.groups + 1)
    out = tmp_path / "out"
    write_split(paths, out, plan)
    sides = read_sides(out)
    assert not set(sides["train"]) & set(sides["test"])
    assert len(sides["train"]) + len(sides["test"]) == s.rows


def test_split_reads_json_arrays_and_parquet_and_writes_their_records_as_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [conv(f"q{i}", f"a{i}") for i in range(30)]
    array = tmp_path / "a.json"
    array.write_text(json.dumps(records, indent=2))
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist([conv(f"p{i}") for i in range(30)]), parquet)
    out = tmp_path / "out"
    plan = plan_split([array, parquet], test_ratio=0.2, seed=1)
    write_split([array, parquet], out, plan)
    written = [json.loads(line) for side in ("train", "test") for line in (out / f"{side}.jsonl").read_text().splitlines()]
    assert len(written) == 60 and plan.summary.test_rows == 12
    assert sorted(json.dumps(r, sort_keys=True) for r in written) == sorted(
        json.dumps(r, sort_keys=True) for r in records + [conv(f"p{i}") for i in range(30)])
