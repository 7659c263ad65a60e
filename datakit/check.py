"""Verify an output directory against its manifest: exactly what `datasets` loads, checksums, Datums.

`datasets.load_from_disk(OUT)` reads `dataset_dict.json`, then each split's `state.json` and
the shards it lists; `check` verifies exactly those files: every name in the manifest and in
`state.json` must be a plain file name in its split directory, every file a regular file (no
link, FIFO or device), the shard lists of `state.json` and the manifest equal, each shard of
the recorded size (compared before a byte is read), SHA-256 and row count, with datakit's
schema, and every row a well-formed Datum: equal lengths, `target_tokens[i] ==
input_tokens[i + 1]`, weights finite and within [0, 1], `num_tokens` / `num_trainable`
consistent. The sidecar files must not make `datasets` serve the rows otherwise (formats,
features, a dataset at the top level), and `stats.json` must be what `datakit stats` prints.
A malformed file is an error in the report, never an exception.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import pyarrow as pa

from .commit import leftovers
from .datum import SCHEMA
from .layout import (DATASET_DICT, DATASET_INFO, LEGACY_STAGING, MANIFEST, REJECTS, SPLITS, STATE, STATS,
                     TOP_LEVEL, OutputState, UnreadableFile, is_plain_name, open_regular, os_reason,
                     output_state, read_json, sha256_of)
from .stats import format_stats
from .terminal import printable_object

# The state.json fields that decide how `datasets` serves the rows, as datakit writes them.
_PLAIN_FORMAT = {"_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False}
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class CheckReport:
    rows: int = 0  # units of the output's rows: conversations, or packs for a packed output
    shards: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    documents: int = 0  # rendered conversations the rows hold (what stats.json counts)
    unit: str = "rows"

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ShardKind:
    """What the shards of one output format hold, and how one batch of them is verified."""

    format: str  # the manifest's `format`
    schema: pa.Schema
    problem: Callable[[pa.RecordBatch, dict[str, Any]], tuple[int, str] | None]  # (batch, manifest)
    documents: Callable[[pa.RecordBatch], int] = lambda batch: batch.num_rows
    unit: str = "rows"


RENDER = ShardKind("datakit/1", SCHEMA, lambda batch, manifest: datum_problem(batch))


def _kind(manifest: dict[str, Any]) -> ShardKind | None:
    found = manifest.get("format", RENDER.format)
    if found == RENDER.format:
        return RENDER
    from .export.check_packed import PACKED  # a packed output's rows are checked as Datums too

    return PACKED if found == PACKED.format else None


def check_output(out_dir: str | Path) -> CheckReport:
    """Check `out_dir` thoroughly (a render or a packed output); problems are collected, never raised."""
    out_dir = Path(out_dir)
    report = CheckReport()
    try:
        _check(out_dir, report)
    except OSError as exc:  # a directory that cannot be listed, a read error
        report.errors.append(f"{out_dir}: {os_reason(exc)}")
    return report


def stats_table(out_dir: Path) -> str:
    """What `datakit stats` prints: stats.json as a table, its strings escaped; UnreadableFile if malformed."""
    path = out_dir / STATS
    return _formatted_stats(path, read_json(path, object_pairs_hook=printable_object))


def _formatted_stats(path: Path, stats: Any) -> str:
    try:
        return format_stats(stats)
    except KeyError as exc:
        raise UnreadableFile(path, f"not a datakit stats file (no {exc.args[0]!r})") from None
    except (TypeError, ValueError, AttributeError, IndexError):
        raise UnreadableFile(path, "not a datakit stats file (a value of the wrong type)") from None


def _check(out: Path, report: CheckReport) -> None:
    state = output_state(out)
    if state is not OutputState.COMPLETE:
        report.errors.append(_not_complete(out, state))
        return
    try:
        manifest = read_json(out / MANIFEST)
    except UnreadableFile as exc:
        report.errors.append(f"{exc.path}: unreadable manifest ({exc.reason})")
        return
    problem = _manifest_problem(manifest)
    if problem:
        report.errors.append(f"{out / MANIFEST}: not a datakit manifest ({problem})")
        return
    kind = _kind(manifest)
    if kind is None:
        report.errors.append(f"{out / MANIFEST}: a {_short(manifest.get('format'))} output, which check does not verify")
        return
    report.unit = kind.unit
    splits = manifest["splits"]
    _check_dataset_dict(out, list(splits), report)
    for split, entry in splits.items():
        if sum(s["rows"] for s in entry["shards"]) != entry["rows"]:
            report.errors.append(f"split {split}: manifest row count disagrees with its shards")
        _check_split(out, split, entry, report, kind, manifest)
    _check_file(out / REJECTS, REJECTS, manifest["rejects"], report)
    _check_stats(out, None if report.errors else report.documents, report)
    _check_extras(out, splits, report)


def _not_complete(out: Path, state: OutputState) -> str:
    if state is OutputState.NOT_A_DIRECTORY:
        return f"{out} is not a directory"
    if state is OutputState.ABSENT:
        backups = [p.name for p in leftovers(out) if "-old-" in p.name]
        if backups:
            return (f"{out}: no such directory; an interrupted render left the previous output in "
                    f"{backups[0]}: the next datakit render into {out} puts it back")
        return f"{out}: no such directory (no {MANIFEST})"
    return f"{out}: no {MANIFEST}: not a complete datakit output"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _file_entry_problem(entry: Any, where: str) -> str | None:
    if not isinstance(entry, dict):
        return f"{where} is not an object"
    if not _count(entry.get("bytes")):
        return f"{where} has no size in bytes"
    if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
        return f"{where}.sha256 is not a SHA-256"
    return None


def _manifest_problem(manifest: Any) -> str | None:
    """What makes `manifest` not one datakit writes (the structure its checks rely on), or None."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not splits:
        return '"splits" is not an object of splits'
    for split, entry in splits.items():
        if split not in SPLITS:
            return f"unknown split {split!r}"
        if not isinstance(entry, dict) or not _count(entry.get("rows")) or not isinstance(entry.get("shards"), list) \
                or not entry["shards"]:
            return f"split {split} needs a row count and a list of shards"
        names = set()
        for i, shard in enumerate(entry["shards"]):
            where = f"{split} shard {i}"
            problem = _file_entry_problem(shard, where) or (None if _count(shard.get("rows")) else f"{where} has no rows")
            if problem:
                return problem
            file = shard.get("file")
            if not isinstance(file, str) or not file.startswith(f"{split}/") or not is_plain_name(file[len(split) + 1:]):
                return f"{where}: {_short(file)} is not a file name in {split}/"
            if file in names:
                return f"{where}: {_short(file)} is listed twice"
            names.add(file)
    rejects = manifest.get("rejects")
    if not isinstance(rejects, dict) or rejects.get("file") != REJECTS:
        return f'"rejects" must name {REJECTS}'
    return _file_entry_problem(rejects, "rejects")


def _short(value: Any) -> str:
    text = repr(value)  # repr escapes control characters
    return text if len(text) <= 80 else text[:77] + "..."


def _read(path: Path, name: str, report: CheckReport, consequence: str = "") -> Any:
    try:
        return read_json(path)
    except UnreadableFile as exc:
        report.errors.append(f"{name}: {exc.reason}{consequence}")
        return None


def _check_dataset_dict(out: Path, splits: list[str], report: CheckReport) -> None:
    data = _read(out / DATASET_DICT, DATASET_DICT, report, " (datasets cannot load the output)")
    if data is None:
        return
    listed = data.get("splits") if isinstance(data, dict) else None
    if listed != splits:
        report.errors.append(f"{DATASET_DICT} lists {_short(listed)}, the manifest {splits}")


def _real_directory(path: Path) -> str | None:
    """Why `path` is not a directory of its own (datasets would follow a link elsewhere), or None."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "a symbolic link (datasets would read another directory)"
    return None if stat.S_ISDIR(mode) else "not a directory"


def _check_split(out: Path, split: str, entry: dict[str, Any], report: CheckReport, kind: ShardKind,
                 manifest: dict[str, Any]) -> None:
    directory = out / split
    problem = _real_directory(directory)
    if problem:
        report.errors.append(f"{split}/: {problem}")
        return
    state = _read(directory / STATE, f"{split}/{STATE}", report, " (datasets cannot load the split)")
    if state is None:
        return
    problem = _state_problem(state, split)
    if problem:
        report.errors.append(f"{split}/{STATE}: {problem}")
        return
    loaded = [f["filename"] for f in state["_data_files"]]
    by_name = {shard["file"][len(split) + 1:]: shard for shard in entry["shards"]}
    if loaded != list(by_name):
        report.errors.append(f"{split}/{STATE} lists {_short(loaded)}, the manifest {_short(list(by_name))}")
    for name in loaded:  # what datasets loads, verified against what the manifest says of it
        if name in by_name:
            _check_file(directory / name, f"{split}/{name}", by_name[name], report, (kind, manifest))
    info = _read(directory / DATASET_INFO, f"{split}/{DATASET_INFO}", report, " (datasets cannot load the split)")
    if info is not None and (not isinstance(info, dict) or info.get("features") is not None):
        report.errors.append(f"{split}/{DATASET_INFO}: gives features (datasets would cast the rows to them) "
                             "or is not an object")


def _state_problem(state: Any, split: str) -> str | None:
    if not isinstance(state, dict):
        return "not a JSON object"
    files = state.get("_data_files")
    if not isinstance(files, list) or not files or not all(
            isinstance(f, dict) and set(f) == {"filename"} and is_plain_name(f["filename"]) for f in files):
        return "_data_files must list file names in this directory"
    for key, value in {**_PLAIN_FORMAT, "_split": split}.items():
        if key not in state or state[key] != value:
            return f"{key} is {_short(state.get(key))}, not {value!r} (datasets would serve the rows differently)"
    if not isinstance(state.get("_fingerprint"), str):
        return "_fingerprint is not a string"
    return None


def _check_file(path: Path, name: str, entry: dict[str, Any], report: CheckReport,
                shard: tuple[ShardKind, dict[str, Any]] | None = None) -> None:
    """Size first (a huge or sparse file is never read), then SHA-256, then for a shard its rows."""
    try:
        f = open_regular(path)
    except UnreadableFile as exc:
        report.errors.append(f"{name}: {exc.reason}")
        return
    with f:
        if shard:
            report.shards += 1
        size = os.fstat(f.fileno()).st_size
        if size != entry["bytes"]:
            report.errors.append(f"{name}: {size} bytes, manifest says {entry['bytes']}")
            return
        if sha256_of(f) != entry["sha256"]:
            report.errors.append(f"{name}: checksum mismatch (the file changed after it was written)")
            return
        if shard:
            _check_shard(f, path, name, entry["rows"], report, *shard)


def _same_file(f: BinaryIO, path: Path) -> str:
    """A path that opens the very file `f` is (its fd link), for Arrow's own reader: it refuses a
    crafted length instead of allocating it, as reading through a Python file object would."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        if os.path.isdir(directory):
            return f"{directory}/{f.fileno()}"
    return str(path)


def _check_shard(f: BinaryIO, path: Path, name: str, expected_rows: int, report: CheckReport, kind: ShardKind,
                 manifest: dict[str, Any]) -> None:
    rows = documents = 0
    try:
        reader = pa.ipc.open_stream(pa.OSFile(_same_file(f, path)))
        if not reader.schema.equals(kind.schema, check_metadata=True):
            report.errors.append(f"{name}: schema differs from datakit's {kind.format} schema")
            return
        for batch in reader:
            batch.validate(full=True)  # before numpy looks at its buffers
            problem = kind.problem(batch, manifest)
            if problem:
                report.errors.append(f"{name}: {kind.unit[:-1]} {rows + problem[0]}: {problem[1]}")
                return
            rows += batch.num_rows
            documents += kind.documents(batch)
    except (pa.ArrowException, OSError, ValueError, IndexError) as exc:
        report.errors.append(f"{name}: unreadable Arrow stream ({exc.__class__.__name__}: {exc})")
        return
    if rows != expected_rows:
        report.errors.append(f"{name}: {rows} {kind.unit}, manifest says {expected_rows}")
    report.rows += rows
    report.documents += documents


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


def _check_stats(out: Path, rows: int | None, report: CheckReport) -> None:
    """stats.json printable, and its row count the shards' (None: the shards could not be counted)."""
    try:
        stats = read_json(out / STATS)
        _formatted_stats(out / STATS, stats)
        written = stats.get("rows_written")
    except UnreadableFile as exc:
        report.errors.append(f"{STATS}: {exc.reason}")
        return
    if rows is not None and written != rows:
        report.errors.append(f"{STATS} says {_short(written)} rows were written, the shards hold {rows}")


def _check_extras(out: Path, splits: dict[str, Any], report: CheckReport) -> None:
    """What is in or beside the output that no check above covers: datasets' own entry points, strays."""
    names = set(os.listdir(out))
    if {STATE, DATASET_INFO} <= names:
        report.errors.append(f"{STATE} and {DATASET_INFO} at the top: datasets.load_from_disk would load "
                             "them, not the splits")
    for name in sorted(names - TOP_LEVEL - {STATE, DATASET_INFO}):
        report.warnings.append(f"{name}: not part of a datakit output (ignored)")
    for split in SPLITS:
        if split not in splits and split in names:
            report.warnings.append(f"{split}/: not in the manifest (ignored)")
    for split in splits:
        if _real_directory(out / split) is None:
            listed = {shard["file"] for shard in splits[split]["shards"]}
            for name in sorted(os.listdir(out / split)):
                if ".arrow" in name and f"{split}/{name}" not in listed:
                    report.warnings.append(f"{split}/{name}: not in the manifest (ignored)")
    if LEGACY_STAGING in names:
        report.warnings.append(f"{LEGACY_STAGING}: left by an interrupted run (ignored)")
    for path in leftovers(out):
        report.warnings.append(f"{path}: left beside the output by an interrupted or running render (ignored; "
                               "the next render removes it)")
