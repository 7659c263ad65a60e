"""`datakit check` on a packed output finds a damaged pack, as it finds a damaged row."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from datakit.cli import main
from datakit.check import check_output as check_packed_output
from datakit.export.check_packed import pack_problem
from datakit.export.pack import PACKED_SCHEMA, pack_output
from datakit.write import sha256_file


@pytest.fixture(scope="module")
def batch(conversations_output, tmp_path_factory):
    out = pack_output(conversations_output, tmp_path_factory.mktemp("p") / "p", 512).out_dir
    return pa.ipc.open_stream(pa.memory_map(str(out / "train" / "data-00000.arrow"))).read_all().to_batches()[0]


def _with(batch, name, change):
    """`batch` with the flat values of list column `name` changed by `change` (numpy -> numpy)."""
    column = batch.column(name)
    values = change(np.asarray(column.flatten()).copy())
    arrays = [pa.ListArray.from_arrays(column.offsets, pa.array(values, type=column.type.value_type))
              if n == name else batch.column(n) for n in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=PACKED_SCHEMA)


def test_a_sound_batch_has_no_problem(batch):
    assert pack_problem(batch, 512) is None
    assert pack_problem(batch, 100) == (0, "longer than the manifest's max_tokens 100")


@pytest.mark.parametrize("name, change, problem", [
    ("position_ids", lambda v: v + (np.arange(len(v)) == 5), "position_ids do not restart"),
    ("seq_lens", lambda v: v + (np.arange(len(v)) == 0), "seq_lens do not add up"),
])
def test_damaged_pack_columns_are_found(batch, name, change, problem):
    assert problem in pack_problem(_with(batch, name, change), 512)[1]


def test_a_damaged_row_inside_a_pack_is_found(conversations_output, batch, tmp_path):
    """A real packed output whose shard is replaced by a damaged one, checksums forged to match."""
    out = pack_output(conversations_output, tmp_path / "p", 512).out_dir
    assert check_packed_output(out).ok
    damaged = _with(batch, "target_tokens", lambda v: v + (np.arange(len(v)) == 7))
    shard = out / "train" / "data-00000.arrow"
    with pa.ipc.new_stream(str(shard), PACKED_SCHEMA) as writer:
        writer.write_batch(damaged)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["splits"]["train"]
    entry["shards"] = [{**entry["shards"][0], "rows": damaged.num_rows, "bytes": shard.stat().st_size,
                        "sha256": sha256_file(shard)}]
    entry["rows"] = damaged.num_rows
    (out / "manifest.json").write_text(json.dumps(manifest))
    report = check_packed_output(out)
    assert report.errors == ["train/data-00000.arrow: pack 0: a packed row: target_tokens is not input_tokens shifted by one"]
    result = CliRunner().invoke(main, ["check", str(out)])
    assert result.exit_code == 1 and "shifted by one" in result.output
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 1
    shard.write_bytes(bytes(data))
    assert "checksum" in check_packed_output(out).errors[0]
