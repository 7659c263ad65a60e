"""Reading a committed output: refusals of incomplete or forged directories, memory-mapped
reads, and the pad token the manifest's tokenizer gives."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow as pa
import pytest

from datakit.output import Format, ListColumns, Output, OutputReadError
from datakit.tokenizer import load_tokenizer


@pytest.fixture
def copy(conversations_output, tmp_path):
    target = tmp_path / "out"
    shutil.copytree(conversations_output, target)
    return target


def _set_shard_file(out, name):
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["splits"]["train"]["shards"][0]["file"] = name
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_reads_the_manifest_splits_and_rows(conversations_output):
    output = Output.open(conversations_output)
    assert output.format is Format.RENDER and output.splits == ["train"] and output.rows("train") == 128
    table = output.table("train")
    assert table.num_rows == 128 and sum(b.num_rows for b in output.batches("train")) == 128
    with pytest.raises(OutputReadError, match="has no 'test' split"):
        output.table("test")


def test_the_table_is_memory_mapped_not_copied(conversations_output):
    before = pa.total_allocated_bytes()
    table = Output.open(conversations_output).table("train")
    assert table.nbytes > 100_000
    assert pa.total_allocated_bytes() - before < 10_000  # the buffers are the mapped file's


def test_list_columns_are_views_of_the_rows(conversations_output):
    batch = next(Output.open(conversations_output).batches("train"))
    columns = ListColumns(batch, ("input_tokens", "weights"))
    for i in (0, 7, batch.num_rows - 1):
        row = columns.row(i)
        assert row["input_tokens"].tolist() == batch.column("input_tokens")[i].as_py()
        assert row["weights"].tolist() == batch.column("weights")[i].as_py()
    assert len(list(columns)) == batch.num_rows


def test_an_incomplete_output_is_refused(copy):
    """Complete means committed, and the commit puts manifest.json in place with everything else."""
    (copy / "manifest.json").unlink()
    with pytest.raises(OutputReadError, match="not a complete datakit output: no manifest.json"):
        Output.open(copy)
    (copy / ".datakit-staging").mkdir()
    with pytest.raises(OutputReadError, match="interrupted before it committed"):
        Output.open(copy)


def test_other_formats_and_broken_manifests_are_refused(copy, tmp_path):
    with pytest.raises(OutputReadError, match="no such directory"):
        Output.open(tmp_path / "nowhere")
    with pytest.raises(OutputReadError, match="expected datakit-packed/1"):
        Output.open(copy, formats=(Format.PACKED,))
    (copy / "manifest.json").write_text("{nope")
    with pytest.raises(OutputReadError, match="unreadable manifest"):
        Output.open(copy)
    (copy / "manifest.json").write_text(json.dumps({"format": "datakit/1"}))
    with pytest.raises(OutputReadError, match="no \"splits\""):
        Output.open(copy)


@pytest.mark.parametrize("name", ["train/../train/data-00000.arrow", "/etc/passwd", "train/sub/data-00000.arrow",
                                  "test/data-00000.arrow", "train/..", "data-00000.arrow", 7])
def test_shard_names_must_be_plain_files_of_their_split(copy, name):
    _set_shard_file(copy, name)
    with pytest.raises(OutputReadError, match="not a file of the 'train' split|not a plain file name"):
        Output.open(copy).table("train")


def test_shards_must_be_regular_files(copy, tmp_path):
    shard = copy / "train" / "data-00000.arrow"
    outside = tmp_path / "elsewhere.arrow"
    shutil.move(shard, outside)
    os.symlink(outside, shard)
    with pytest.raises(OutputReadError, match="not a regular file"):
        Output.open(copy).table("train")
    shard.unlink()
    with pytest.raises(OutputReadError, match="missing"):
        Output.open(copy).table("train")
    shard.mkdir()
    with pytest.raises(OutputReadError, match="not a regular file"):
        Output.open(copy).table("train")


def test_a_damaged_shard_is_a_clear_error(copy):
    (copy / "train" / "data-00000.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(OutputReadError, match="not a readable Arrow IPC stream"):
        Output.open(copy).table("train")


@pytest.mark.parametrize("tokenizer, pad", [("llama3", "<|finetune_right_pad_id|>"), ("qwen3", "<|endoftext|>"),
                                            ("qwen2.5", "<|endoftext|>")])
def test_pad_token_is_the_tokenizer_configs(copy, tokenizer, pad):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["tokenizer"]["name"] = tokenizer
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert Output.open(copy).pad_token_id() == load_tokenizer(tokenizer).control_tokens[pad]


def test_pad_token_of_a_local_tokenizer_comes_from_its_config(copy, tmp_path):
    directory = tmp_path / "tok"
    directory.mkdir()
    (directory / "tokenizer.json").write_text(load_tokenizer("llama3").full_json)
    (directory / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<|reserved_special_token_3|>"}))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["tokenizer"]["name"] = str(directory)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    ids = load_tokenizer("llama3").control_tokens
    assert Output.open(copy).pad_token_id() == ids["<|reserved_special_token_3|>"]
    (directory / "tokenizer_config.json").unlink()
    assert Output.open(copy).pad_token_id() == ids["<|finetune_right_pad_id|>"]  # as for the bundled one
    manifest["tokenizer"] = {}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OutputReadError, match="names no tokenizer"):
        Output.open(copy).pad_token_id()
