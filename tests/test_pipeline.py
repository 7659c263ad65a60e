"""End to end: JSONL in, an output directory that datasets, pyarrow and polars read."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from conftest import golden_rows, renderer
from datakit.cli import main
from datakit.pipeline import LowYieldError, RenderOptions, render_files


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "out"
    source = out.parent / "chat.jsonl"
    conversations = [
        [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i} " * (i + 1)}]
        for i in range(40)
    ]
    lines = [json.dumps({"messages": m}) for m in conversations]
    lines.insert(5, "")  # blank: skipped, counted
    lines.insert(9, "{not json")
    lines.insert(12, json.dumps({"messages": [{"role": "user", "content": "no answer"}]}))
    source.write_text("\n".join(lines) + "\n")
    result = render_files([source], out, RenderOptions(template="qwen2.5", workers=1, test_ratio=0.25))
    return source, out, conversations, result


def _shards(out, split):
    manifest = json.loads((out / "manifest.json").read_text())
    return [out / s["file"] for s in manifest["splits"][split]["shards"]]


def test_every_line_is_a_row_a_reject_or_blank(rendered):
    _, out, _, result = rendered
    stats = result.stats
    assert stats["lines_read"] == 43
    assert stats["rows_written"] + stats["rejected"] + stats["blank_lines"] == stats["lines_read"]
    assert stats["rejected_by_reason"] == {"invalid_json": 1, "no_trainable_tokens": 1}
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert {(r["line"], r["reason"]) for r in rejects} == {(10, "invalid_json"), (13, "no_trainable_tokens")}
    assert all(r["file"].endswith("chat.jsonl") and r["detail"] for r in rejects)


def test_manifest_names_the_tokenizer_and_what_encoded(rendered):
    _, _, _, result = rendered
    tokenizer = result.manifest["tokenizer"]
    assert tokenizer["name"] == "qwen2.5" and tokenizer["fingerprint"].startswith("sha256:")
    assert tokenizer["encoder"].startswith("fastokens ")


def test_datasets_loads_a_dataset_dict_with_train_and_test(rendered):
    import datasets
    _, out, _, result = rendered
    loaded = datasets.load_from_disk(str(out))
    assert set(loaded) == {"train", "test"}
    assert len(loaded["train"]) + len(loaded["test"]) == result.stats["rows_written"] == 40
    assert result.stats["per_split"]["test"]["rows_written"] == len(loaded["test"]) == 10


def test_rows_are_shifted_datums_of_the_rendered_conversation(rendered):
    _, out, conversations, _ = rendered
    table = pa.concat_tables(pa.ipc.open_stream(p).read_all() for p in _shards(out, "train") + _shards(out, "test"))
    r = renderer("qwen2.5")
    line_of = {}
    line = 0
    for i in range(40):
        line += 1
        while line in (6, 10, 13):
            line += 1
        line_of[line] = conversations[i]
    for row in table.to_pylist():
        expected = r.render(line_of[row["line"]])
        tokens, weights = expected.tokens.tolist(), expected.weights.tolist()
        assert row["input_tokens"] == tokens[:-1]
        assert row["target_tokens"] == tokens[1:]
        assert row["weights"] == weights[1:]
        assert row["num_tokens"] == len(tokens) and row["num_trainable"] == sum(weights[1:])
        assert row["original_length"] == len(tokens) and row["truncated"] is False
    assert table.schema.field("weights").type == pa.list_(pa.float32())
    assert table.schema.field("input_tokens").type == pa.list_(pa.int32())


def test_polars_reads_the_shards(rendered):
    import polars as pl
    _, out, _, _ = rendered
    frame = pl.concat([pl.read_ipc_stream(p) for p in _shards(out, "train")])
    assert frame.height == 30
    assert (frame["num_tokens"] == frame["input_tokens"].list.len() + 1).all()


def test_torch_style_loading_through_datasets(rendered):
    import datasets
    _, out, _, _ = rendered
    train = datasets.load_from_disk(str(out))["train"]
    assert train.features["input_tokens"].feature.dtype == "int32"
    assert train.features["weights"].feature.dtype == "float32"
    first = train.with_format("numpy")[0]  # what a torch DataLoader collate gets
    assert first["input_tokens"].shape == first["target_tokens"].shape == first["weights"].shape
    np.testing.assert_array_equal(first["input_tokens"][1:], first["target_tokens"][:-1])


def test_stats_command_prints_the_render_summary(rendered, tmp_path):
    source, _, _, _ = rendered
    runner = CliRunner()
    out = tmp_path / "cli-out"
    shown = runner.invoke(main, ["render", str(source), "-o", str(out), "-t", "qwen2.5", "--workers", "1"])
    assert shown.exit_code == 0, shown.output
    again = runner.invoke(main, ["stats", str(out)])
    assert again.exit_code == 0
    assert again.output.strip() in shown.output
    assert "rows written" in again.output and "invalid_json" in again.output


def test_default_output_dir_is_derived_from_the_input(tmp_path):
    source = tmp_path / "my-data.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                               {"role": "assistant", "content": "b"}]}) + "\n")
    result = CliRunner().invoke(main, ["render", str(source), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "my-data.datakit" / "manifest.json").is_file()


def test_bad_options_are_one_line_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["render", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output and "Traceback" not in missing.output
    source = tmp_path / "a.jsonl"
    source.write_text("")
    for args in (["--max-length", "1"], ["--max-length", "lots"], ["-t", "nope"], ["--test-ratio", "1.5"],
                 ["--tokenizer", str(tmp_path)]):
        result = runner.invoke(main, ["render", str(source), "-o", str(tmp_path / "o"), *args])
        assert result.exit_code != 0 and "Traceback" not in result.output, args
        assert result.output.strip().splitlines()[-1].startswith("Error"), (args, result.output)


def test_an_input_without_records_writes_nothing(tmp_path):
    source = tmp_path / "empty.jsonl"
    source.write_text("\n\n")
    with pytest.raises(LowYieldError, match="no row was written: the input holds no record"):
        render_files([source], tmp_path / "out", RenderOptions(workers=1))
    assert sorted(os.listdir(tmp_path)) == ["empty.jsonl"]


def test_several_inputs_give_per_file_stats(tmp_path, data_files):
    files = [data_files["edge_cases"], data_files["conversations"]]
    result = render_files(files, tmp_path / "out", RenderOptions(template="llama3", workers=1))
    per_file = result.stats["per_file"]
    assert [per_file[str(f)]["lines_read"] for f in files] == [9, 128]
    assert result.stats["rows_written"] == 137
    assert result.stats["tokens_written"] == sum(len(g["tokens"]) for f in ("edge_cases", "conversations")
                                                 for g in golden_rows("hf", "llama3", f))


@pytest.mark.parametrize("examples", ["conversation", "per_turn"])
def test_rejects_are_in_input_order_with_several_workers(tmp_path, examples):
    """SCHEMA: rejects.jsonl lists rejects in input order, whatever stage made them (reading,
    the record's form, --dedup, rendering, truncation) and however many workers ran."""
    kinds = [
        b'{"messages": [}',  # invalid_json
        b'{"messages": [{"role": "user", "content": "\xff bad"}, {"role": "assistant", "content": "x"}]}',
        b'{"messages": [{"role": "user", "content": "' + b"z" * 5000 + b'"}]}',  # line_too_long
        b'{"messages": [{"role": "bot", "content": "x"}]}',  # unknown_role
        b'{"messages": [{"role": "user", "content": "no answer"}]}',  # no_trainable_tokens
        json.dumps({"messages": [{"role": "user", "content": "q"},
                                 {"role": "assistant", "content": "long " * 300}]}).encode(),  # too_long
        json.dumps({"messages": [{"role": "user", "content": "same"},
                                 {"role": "assistant", "content": "same"}]}).encode(),  # duplicate after its first
    ]
    paths = []
    for name, seed in (("a.jsonl", 1), ("b.jsonl", 2)):
        rnd = np.random.default_rng(seed)
        lines = [kinds[rnd.integers(len(kinds))] if rnd.random() < 0.4 else
                 json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                          {"role": "assistant", "content": f"a{i}"}]}).encode()
                 for i in range(300)]
        (tmp_path / name).write_bytes(b"\n".join(lines) + b"\n")
        paths.append(tmp_path / name)
    options = dict(max_line_bytes=4096, batch_lines=8, max_length=200, truncation="drop", dedup=True,
                   max_reject_ratio=1, examples=examples)
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        render_files(paths, out, RenderOptions(workers=workers, **options))
        outputs[workers] = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    rejects = outputs[2]
    assert rejects == outputs[1]
    assert {r["reason"] for r in rejects} == {"invalid_json", "invalid_utf8", "line_too_long", "unknown_role",
                                              "no_trainable_tokens", "too_long", "duplicate"}
    order = [(r["file"] != str(paths[0]), r["line"]) for r in rejects]
    assert order == sorted(order) and len(set(order)) == len(order)


def test_the_readme_render_files_example_runs_as_a_plain_script(tmp_path, data_files):
    """Spawned workers import the script again: the README's example must be guarded."""
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [example] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "render_files(" in block]
    script = tmp_path / "example.py"
    script.write_text(example.replace("RenderOptions(", "RenderOptions(workers=2, "))
    shutil.copyfile(data_files["conversations"], tmp_path / "chat.jsonl")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "128" and (tmp_path / "chat.datakit" / "manifest.json").is_file()
