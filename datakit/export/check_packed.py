"""Verify a packed output: its shards against the manifest, every pack's own columns, and every
row it holds as a rendered Datum (unpacked, then checked as `datakit check` checks a render)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from ..check import CheckReport, _check_sidecar, datum_problem
from ..output import Format, Output, OutputReadError
from ..write import sha256_file
from .pack import PACKED_SCHEMA, ROW_COLUMNS, unpack_batch


def is_packed(out_dir: str | Path) -> bool:
    try:
        return Output.open(out_dir, formats=(Format.PACKED,)) is not None
    except OutputReadError:
        return False


def check_packed_output(out_dir: str | Path) -> CheckReport:
    """Check a packed output thoroughly; `rows` counts packs. Problems are collected, never raised."""
    report = CheckReport()
    try:
        output = Output.open(out_dir, formats=(Format.PACKED,))
    except OutputReadError as exc:
        report.errors.append(str(exc))
        return report
    max_tokens = (output.manifest.get("pack") or {}).get("max_tokens")
    for split in output.splits:
        entry = output.split_entry(split)
        try:
            paths = output.shard_paths(split)
        except OutputReadError as exc:
            report.errors.append(str(exc))
            continue
        for shard, path in zip(entry.get("shards", []), paths):
            _check_shard(path, shard, max_tokens, report)
        if sum(s["rows"] for s in entry.get("shards", [])) != entry.get("rows"):
            report.errors.append(f"split {split}: manifest row count disagrees with its shards")
        _check_sidecar(output.path, split, entry, report)
    return report


def _check_shard(path: Path, shard: dict, max_tokens: int | None, report: CheckReport) -> None:
    name = shard["file"]
    report.shards += 1
    if path.stat().st_size != shard.get("bytes") or sha256_file(path) != shard.get("sha256"):
        report.errors.append(f"{name}: size or checksum differs from the manifest (the file changed after it was written)")
        return
    rows = 0
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_stream(source)
            if not reader.schema.equals(PACKED_SCHEMA):
                report.errors.append(f"{name}: schema differs from datakit's packed schema")
                return
            for batch in reader:
                batch.validate(full=True)
                problem = pack_problem(batch, max_tokens)
                if problem is None:
                    unpacked = datum_problem(unpack_batch(batch))
                    problem = None if unpacked is None else (_pack_of(batch, unpacked[0]), f"a packed row: {unpacked[1]}")
                if problem:
                    report.errors.append(f"{name}: pack {rows + problem[0]}: {problem[1]}")
                    return
                rows += batch.num_rows
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        report.errors.append(f"{name}: unreadable Arrow stream ({exc.__class__.__name__}: {exc})")
        return
    if rows != shard["rows"]:
        report.errors.append(f"{name}: {rows} packs, manifest says {shard['rows']}")
    report.rows += rows


def _pack_of(batch: pa.RecordBatch, doc: int) -> int:
    return int(np.searchsorted(np.asarray(batch.column("seq_lens").offsets), doc, side="right")) - 1


def pack_problem(batch: pa.RecordBatch, max_tokens: int | None) -> tuple[int, str] | None:
    """The first pack of `batch` whose own columns disagree, as (pack, what is wrong)."""
    lengths = np.diff(np.asarray(batch.column("input_tokens").offsets))
    for name in ("target_tokens", "weights", "position_ids"):
        bad = np.flatnonzero(np.diff(np.asarray(batch.column(name).offsets)) != lengths)
        if bad.size:
            return int(bad[0]), f"{name} and input_tokens differ in length"
    docs = np.diff(np.asarray(batch.column("seq_lens").offsets))
    for name in ROW_COLUMNS:
        bad = np.flatnonzero(np.diff(np.asarray(batch.column(name).offsets)) != docs)
        if bad.size:
            return int(bad[0]), f"{name} does not have one entry per row of the pack"
    if (docs < 1).any():
        return int(np.flatnonzero(docs < 1)[0]), "a pack with no row"
    seq_lens = np.asarray(batch.column("seq_lens").flatten()).astype(np.int64)
    if (seq_lens < 1).any():
        return _pack_of(batch, int(np.flatnonzero(seq_lens < 1)[0])), "a row of length 0"
    sums = np.add.reduceat(seq_lens, np.asarray(batch.column("seq_lens").offsets)[:-1]) if len(docs) else seq_lens
    if (sums != lengths).any():
        return int(np.flatnonzero(sums != lengths)[0]), "seq_lens do not add up to the pack's length"
    if max_tokens is not None and (lengths > max_tokens).any():
        return int(np.flatnonzero(lengths > max_tokens)[0]), f"longer than the manifest's max_tokens {max_tokens}"
    starts = np.repeat(np.cumsum(seq_lens) - seq_lens, seq_lens)
    expected = np.arange(len(starts)) - starts
    positions = np.asarray(batch.column("position_ids").flatten())
    if (positions != expected).any():
        token = int(np.flatnonzero(positions != expected)[0])
        return _pack_of(batch, int(np.searchsorted(np.cumsum(seq_lens), token, side="right"))), \
            "position_ids do not restart at 0 for each row"
    return None
