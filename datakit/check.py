"""Verify an output directory against its manifest: files, checksums, schema and Datum invariants.

Checks that every shard listed exists with the recorded size, SHA-256 and row count, has
datakit's schema, and that every row is a well-formed Datum: equal lengths,
`target_tokens[i] == input_tokens[i + 1]`, weights finite and within [0, 1], and
`num_tokens` / `num_trainable` consistent. Also checks the `datasets` sidecar files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .datum import SCHEMA
from .write import DATASET_DICT, MANIFEST, STAGING, sha256_file


@dataclass
class CheckReport:
    rows: int = 0
    shards: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_output(out_dir: str | Path) -> CheckReport:
    """Check `out_dir` thoroughly; problems are collected, never raised."""
    out_dir = Path(out_dir)
    report = CheckReport()
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        report.errors.append(f"{out_dir}: no {MANIFEST}: not a complete datakit output")
        return report
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        splits = manifest["splits"]
    except (ValueError, KeyError, TypeError) as exc:
        report.errors.append(f"{manifest_path}: unreadable manifest ({exc})")
        return report

    listed: set[Path] = set()
    for split, entry in splits.items():
        for shard in entry.get("shards", []):
            listed.add((out_dir / shard["file"]).resolve())
            _check_shard(out_dir, shard, report)
        if sum(s["rows"] for s in entry.get("shards", [])) != entry.get("rows"):
            report.errors.append(f"split {split}: manifest row count disagrees with its shards")
        _check_sidecar(out_dir, split, entry, report)

    rejects = manifest.get("rejects")
    if rejects:
        path = out_dir / rejects["file"]
        if not path.is_file():
            report.errors.append(f"{rejects['file']}: missing")
        elif sha256_file(path) != rejects["sha256"]:
            report.errors.append(f"{rejects['file']}: checksum mismatch")
    for stray in sorted(out_dir.glob("*/*.arrow*")):
        if stray.resolve() not in listed:
            report.warnings.append(f"{stray.relative_to(out_dir)}: not in the manifest (ignored)")
    if (out_dir / STAGING).exists():
        report.warnings.append(f"{STAGING}: left by an interrupted run (ignored)")
    return report


def _check_shard(out_dir: Path, shard: dict[str, Any], report: CheckReport) -> None:
    name = shard["file"]
    path = out_dir / name
    if not path.is_file():
        report.errors.append(f"{name}: missing")
        return
    report.shards += 1
    if path.stat().st_size != shard["bytes"]:
        report.errors.append(f"{name}: {path.stat().st_size} bytes, manifest says {shard['bytes']}")
        return
    if sha256_file(path) != shard["sha256"]:
        report.errors.append(f"{name}: checksum mismatch (the file changed after it was written)")
        return
    rows = 0
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_stream(source)
            if not reader.schema.equals(SCHEMA):
                report.errors.append(f"{name}: schema differs from datakit's")
                return
            for batch in reader:
                batch.validate(full=True)  # before numpy looks at its buffers
                problem = datum_problem(batch)
                if problem:
                    report.errors.append(f"{name}: row {rows + problem[0]}: {problem[1]}")
                    return
                rows += batch.num_rows
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        report.errors.append(f"{name}: unreadable Arrow stream ({exc.__class__.__name__}: {exc})")
        return
    if rows != shard["rows"]:
        report.errors.append(f"{name}: {rows} rows, manifest says {shard['rows']}")
    report.rows += rows


def datum_problem(batch: pa.RecordBatch) -> tuple[int, str] | None:
    """The first row of `batch` that is not a well-formed Datum, as (row, what is wrong)."""
    inputs, targets, weights = (batch.column(n) for n in ("input_tokens", "target_tokens", "weights"))
    offsets = np.asarray(inputs.offsets)
    lengths = np.diff(offsets)
    for name, column in (("target_tokens", targets), ("weights", weights)):
        bad = np.flatnonzero(np.diff(np.asarray(column.offsets)) != lengths)
        if bad.size:
            return int(bad[0]), f"{name} and input_tokens differ in length"
    if (lengths < 1).any():
        return int(np.flatnonzero(lengths < 1)[0]), "empty Datum"
    base = offsets[0]
    flat_in = np.asarray(inputs.values)[base:offsets[-1]]
    flat_target = np.asarray(targets.values)[np.asarray(targets.offsets)[0]:][: len(flat_in)]
    flat_weights = np.asarray(weights.values)[np.asarray(weights.offsets)[0]:][: len(flat_in)]
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    last = np.zeros(len(flat_in), dtype=bool)
    last[offsets[1:] - base - 1] = True
    shifted_ok = (flat_in[1:] == flat_target[:-1]) | last[:-1]
    if not shifted_ok.all():
        return int(row_of[np.flatnonzero(~shifted_ok)[0]]), "target_tokens is not input_tokens shifted by one"
    bad_weight = ~np.isfinite(flat_weights) | (flat_weights < 0) | (flat_weights > 1)
    if bad_weight.any():
        return int(row_of[np.flatnonzero(bad_weight)[0]]), "weight outside [0, 1]"
    num_tokens = np.asarray(batch.column("num_tokens"))
    if (num_tokens != lengths + 1).any():
        return int(np.flatnonzero(num_tokens != lengths + 1)[0]), "num_tokens is not len(input_tokens) + 1"
    trainable = np.add.reduceat(flat_weights, offsets[:-1] - base) if len(lengths) else np.zeros(0)
    mismatch = np.asarray(batch.column("num_trainable")) != trainable.astype(np.int64)
    if mismatch.any():
        return int(np.flatnonzero(mismatch)[0]), "num_trainable is not the sum of weights"
    return None


def _check_sidecar(out_dir: Path, split: str, entry: dict[str, Any], report: CheckReport) -> None:
    state_path = out_dir / split / "state.json"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        files = [f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        report.errors.append(f"{split}/state.json: missing or unreadable (datasets cannot load the split)")
        return
    expected = [Path(s["file"]).name for s in entry.get("shards", [])]
    if files != expected:
        report.errors.append(f"{split}/state.json lists {files}, the manifest {expected}")
    if not (out_dir / DATASET_DICT).is_file():
        report.errors.append("dataset_dict.json: missing")
