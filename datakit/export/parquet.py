"""`datakit export --to parquet`: the rows as zstd Parquet shards, for lazy scans.

The Arrow shards are IPC *streams* (what `datasets` needs), which `polars.scan_ipc` and
`pyarrow.dataset(format="arrow")` cannot scan lazily; Parquet can be scanned by polars,
`pyarrow.dataset`, `datasets.load_dataset("parquet")`, Spark and Ray. One Parquet file per
source shard (`OUT/<split>/data-NNNNN.parquet`), columns unchanged (a render's or a packed
output's), row groups of about 64 MiB. Staged and committed like every datakit output (one
rename), with `manifest.json` (`datakit-parquet/1`); there is no `dataset_dict.json`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..output import Format, Output
from ..layout import MANIFEST, STATS
from ..write import StagedOutput, os_errors, prepare_output_dir, sha256_file, write_json
from .derive import copy_rejects, derived_manifest, source_stats

ROW_GROUP_BYTES = 64 << 20


def export_parquet(source_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the render or packed output at `source_dir` as committed Parquet shards; the manifest."""
    source = Output.open(source_dir, formats=(Format.RENDER, Format.PACKED))
    out_dir = Path(out_dir)
    prepare_output_dir(out_dir, overwrite)
    output = StagedOutput(out_dir, overwrite)
    try:
        with os_errors(out_dir):
            staging = output.staging
            splits = {split: _write_split(source, split, staging) for split in source.splits}
            write_json(staging / STATS, source_stats(source))
            manifest = {**derived_manifest(source, Format.PARQUET, source.path), "splits": splits,
                        "rejects": copy_rejects(source, staging)}
            write_json(staging / MANIFEST, manifest)
        output.commit()
    except BaseException:
        output.abort()
        raise
    return manifest


def _write_split(source: Output, split: str, staging: Path) -> dict[str, Any]:
    directory = staging / split
    directory.mkdir()
    shards = []
    for path in source.shard_paths(split):
        table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
        name = path.with_suffix(".parquet").name
        tmp = directory / (name + ".tmp")
        rows_per_group = max(1, int(ROW_GROUP_BYTES * table.num_rows / max(1, table.nbytes)))
        pq.write_table(table, tmp, compression="zstd", row_group_size=rows_per_group)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)
        shards.append({"file": f"{split}/{name}", "rows": table.num_rows,
                       "bytes": (directory / name).stat().st_size, "sha256": sha256_file(directory / name)})
    return {"rows": sum(s["rows"] for s in shards), "shards": shards}
