"""`datakit export --to parquet`: zstd Parquet shards that polars, pyarrow.dataset and datasets
scan lazily, holding every row of the render (or of a packed output) unchanged."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from datakit.cli import main
from datakit.export.pack import pack_output
from datakit.export.parquet import export_parquet
from datakit.output import Format, Output


def _export(source, out):
    result = CliRunner().invoke(main, ["export", str(source), "--to", "parquet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def exported(conversations_output, tmp_path_factory):
    return _export(conversations_output, tmp_path_factory.mktemp("pq") / "pq")


def test_polars_scans_lazily_and_every_row_round_trips(exported, conversations_output):
    import polars as pl
    original = Output.open(conversations_output).table("train")
    lazy = pl.scan_parquet(str(exported / "train" / "*.parquet"))
    assert isinstance(lazy, pl.LazyFrame)
    long_rows = lazy.filter(pl.col("num_tokens") > 90).select("line", "num_tokens").collect()
    expected = [(r["line"], r["num_tokens"]) for r in original.select(["line", "num_tokens"]).to_pylist()
                if r["num_tokens"] > 90]
    assert long_rows.rows() == expected and expected
    assert lazy.collect().to_arrow().cast(original.schema).equals(original)


def test_pyarrow_dataset_scans_it(exported, conversations_output):
    original = Output.open(conversations_output).table("train")
    dataset = pads.dataset(str(exported / "train"), format="parquet")
    assert dataset.count_rows() == 128
    assert dataset.to_table().equals(original)
    assert dataset.to_table(filter=pads.field("line") == 7).column("input_tokens").to_pylist() == \
        original.filter(pc.equal(original.column("line"), 7)).column("input_tokens").to_pylist()


def test_shards_are_zstd_and_the_manifest_points_at_the_source(exported, conversations_output):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["format"] == "datakit-parquet/1" and manifest["source"]["path"] == str(conversations_output.resolve())
    (shard,) = manifest["splits"]["train"]["shards"]
    metadata = pq.ParquetFile(exported / shard["file"]).metadata
    assert metadata.num_rows == shard["rows"] == 128
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert not (exported / "dataset_dict.json").exists() and not (exported / ".datakit-staging").exists()
    assert Output.open(exported, formats=(Format.PARQUET,)).rows("train") == 128


def test_datasets_loads_the_parquet_splits(exported, tmp_path):
    import datasets
    loaded = datasets.load_dataset("parquet", data_dir=str(exported), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train"} and len(loaded["train"]) == 128


def test_a_packed_output_exports_too(conversations_output, tmp_path):
    packed = pack_output(conversations_output, tmp_path / "packed", 2048).out_dir
    out = _export(packed, tmp_path / "pq")
    assert pads.dataset(str(out / "train"), format="parquet").to_table().equals(
        Output.open(packed, formats=(Format.PACKED,)).table("train"))


def test_an_existing_export_is_replaced_only_with_overwrite(conversations_output, tmp_path):
    out = tmp_path / "pq"
    export_parquet(conversations_output, out)
    again = CliRunner().invoke(main, ["export", str(conversations_output), "--to", "parquet", "-o", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    export_parquet(conversations_output, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "rejects.jsonl", "stats.json", "train"]
