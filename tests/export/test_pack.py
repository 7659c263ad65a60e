"""Packing: best-fit decreasing against a brute-force reference, whole rows only, an exact
round trip back to the rendered rows, and `render --pack` equal to `datakit pack`."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from datakit.cli import main
from datakit.datum import SCHEMA
from datakit.export.pack import PACKED_SCHEMA, PackError, pack_output, plan_packs, unpack_batch
from datakit.output import Format, Output, OutputReadError
from datakit.tinker import datums
from datakit.torch import DatumDataset


def brute_force_bfd(lengths, max_tokens):
    """Best-fit decreasing the slow, obvious way: every pack is looked at for every row."""
    packs, room = [], []
    for row in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        fits = [(room[p], p) for p in range(len(packs)) if room[p] >= lengths[row]]
        if fits:
            _, p = min(fits)
        else:
            p = len(packs)
            packs.append([])
            room.append(max_tokens)
        packs[p].append(row)
        room[p] -= lengths[row]
    return [sorted(p) for p in packs]


@pytest.mark.parametrize("seed", range(6))
def test_plan_is_best_fit_decreasing(seed):
    rng = np.random.default_rng(seed)
    max_tokens = int(rng.integers(8, 300))
    lengths = rng.integers(1, max_tokens + 1, size=int(rng.integers(1, 400)))
    if seed % 2:
        lengths = np.minimum(lengths, max_tokens // 3 + 1)  # many rows per pack, many ties
    plan = plan_packs(lengths, max_tokens)
    assert plan == brute_force_bfd(lengths.tolist(), max_tokens)
    assert sorted(i for p in plan for i in p) == list(range(len(lengths)))
    assert all(lengths[p].sum() <= max_tokens for p in plan)


@pytest.fixture(scope="module")
def packed(conversations_output, tmp_path_factory):
    out = tmp_path_factory.mktemp("packed") / "packed"
    return pack_output(conversations_output, out, 1024)


def _read(out, split="train"):
    return Output.open(out, formats=(Format.RENDER, Format.PACKED)).table(split)


def test_packs_hold_every_row_once_and_unpack_to_them_exactly(conversations_output, packed):
    table = _read(packed.out_dir)
    assert table.schema.equals(PACKED_SCHEMA)
    unpacked = pa.Table.from_batches([unpack_batch(b) for b in table.to_batches()], schema=SCHEMA)
    original = _read(conversations_output)
    assert sorted(unpacked.column("line").to_pylist()) == original.column("line").to_pylist()
    by_line = {row["line"]: row for row in original.to_pylist()}
    for row in unpacked.to_pylist():
        assert row == by_line[row["line"]]
    lengths = [len(x) for x in table.column("input_tokens").to_pylist()]
    assert max(lengths) <= 1024 and table.num_rows == packed.stats["train"]["packs"]
    for pack in table.to_pylist():
        starts = np.cumsum([0] + pack["seq_lens"][:-1])
        assert pack["position_ids"] == [i for n in pack["seq_lens"] for i in range(n)]
        assert all(pack["input_tokens"][s] == 128000 for s in starts)  # each row starts with its own BOS
        assert pack["line"] == sorted(pack["line"])


def test_pack_stats_and_manifest(conversations_output, packed):
    stats = packed.stats["train"]
    tokens = int(sum(len(x) for x in _read(conversations_output).column("input_tokens").to_pylist()))
    assert stats["rows"] == 128 and stats["tokens"] == tokens
    assert stats["packs"] == -(-tokens // 1024)  # as few as the tokens allow: these rows are short
    assert stats["fill_ratio"] == round(tokens / (stats["packs"] * 1024), 4)
    assert stats["padding_tokens_saved"] == (128 - stats["packs"]) * 1024
    manifest = packed.manifest
    assert manifest["format"] == "datakit-packed/1" and manifest["pack"]["max_tokens"] == 1024
    assert manifest["source"]["path"] == str(conversations_output.resolve())
    source = json.loads((conversations_output / "manifest.json").read_text())
    assert manifest["tokenizer"] == source["tokenizer"] and manifest["options"] == source["options"]
    stats_file = json.loads((packed.out_dir / "stats.json").read_text())
    assert stats_file["pack"] == manifest["pack"] and stats_file["rows_written"] == 128


def test_packed_output_passes_check_and_loads(packed):
    import datasets
    result = CliRunner().invoke(main, ["check", str(packed.out_dir)])
    assert result.exit_code == 0 and f"ok: {packed.stats['train']['packs']} packs (a packed output)" in result.output
    assert len(datasets.load_from_disk(str(packed.out_dir))["train"]) == packed.stats["train"]["packs"]
    dataset = DatumDataset(packed.out_dir)
    assert dataset.packed and sum(len(dataset[i]["seq_lens"]) for i in range(len(dataset))) == 128


def test_a_row_longer_than_a_pack_is_an_error_naming_it(conversations_output, tmp_path):
    longest = max(_read(conversations_output).to_pylist(), key=lambda r: len(r["input_tokens"]))
    limit = len(longest["input_tokens"]) - 1
    result = CliRunner().invoke(main, ["pack", str(conversations_output), "--max-tokens", str(limit),
                                       "-o", str(tmp_path / "p")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"line {longest['line']}: {limit + 1} tokens, more than --max-tokens {limit}" in result.output
    assert not (tmp_path / "p").exists()


def test_packing_refuses_packed_sources_existing_targets_and_itself(conversations_output, packed, tmp_path):
    with pytest.raises(OutputReadError, match="expected datakit/1"):
        pack_output(packed.out_dir, tmp_path / "again", 1024)
    with pytest.raises(OutputReadError, match="expected datakit/1"):
        next(datums(packed.out_dir, reduction="mean"))  # a Tinker datum has no document mask
    from datakit.write import OutputError
    with pytest.raises(OutputError, match="--overwrite"):
        pack_output(conversations_output, packed.out_dir, 1024)
    with pytest.raises(PackError, match="another directory"):
        pack_output(conversations_output, conversations_output, 1024, overwrite=True)


def test_an_existing_packed_output_is_replaced_with_overwrite(conversations_output, tmp_path):
    out = pack_output(conversations_output, tmp_path / "packed", 1024).out_dir
    result = pack_output(conversations_output, out, 4096, overwrite=True)
    assert result.out_dir == out and json.loads((out / "manifest.json").read_text())["pack"]["max_tokens"] == 4096
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed"]


def test_render_pack_equals_pack_of_the_render(data_files, tmp_path):
    runner = CliRunner()
    source = str(data_files["edge_cases"])
    common = ["-t", "qwen3", "--workers", "1", "--test-size", "2"]
    assert runner.invoke(main, ["render", source, "-o", str(tmp_path / "plain"), *common]).exit_code == 0
    assert runner.invoke(main, ["pack", str(tmp_path / "plain"), "--max-tokens", "200",
                                "-o", str(tmp_path / "packed")]).exit_code == 0
    result = runner.invoke(main, ["render", source, "-o", str(tmp_path / "direct"), *common, "--pack", "200"])
    assert result.exit_code == 0, result.output
    assert "packs, fill" in result.output
    for split in ("train", "test"):
        a, b = (sorted((tmp_path / d / split).glob("*.arrow")) for d in ("packed", "direct"))
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b] and a
    assert (tmp_path / "direct" / "rejects.jsonl").read_bytes() == (tmp_path / "plain" / "rejects.jsonl").read_bytes()
    assert json.loads((tmp_path / "direct" / "manifest.json").read_text())["source"]["path"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct", "packed", "plain"]  # the render is gone
    assert runner.invoke(main, ["check", str(tmp_path / "direct")]).exit_code == 0
    again = runner.invoke(main, ["render", source, "-o", str(tmp_path / "direct"), *common, "--pack", "200"])
    assert again.exit_code == 1 and "--overwrite" in again.output
