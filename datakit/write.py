"""Write an output directory: Arrow shards per split, rejects, stats and the manifest, atomically.

Everything is first written under `OUT/.datakit-staging/`; `commit()` moves the files into
place and writes `manifest.json` last (temp file + rename), so a directory without a manifest
is never a complete output, and a crash leaves nothing that looks valid. The layout is the
one `datasets.save_to_disk` writes, so `datasets.load_from_disk(OUT)` opens it, and every shard
is a plain Arrow IPC stream that `pyarrow` and `polars` read directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

from .datum import SCHEMA, empty_batch

STAGING = ".datakit-staging"
MANIFEST = "manifest.json"
DATASET_DICT = "dataset_dict.json"
FORMAT = "datakit/1"
# What a datakit output directory may hold; anything else means it is not ours to replace.
_OWNED = {MANIFEST, DATASET_DICT, "stats.json", "rejects.jsonl", "train", "test", STAGING}


class OutputError(RuntimeError):
    """The output directory cannot be used (exists, is not datakit's, ...)."""


def prepare_output_dir(out_dir: Path, overwrite: bool, markers: tuple[str, ...] = (MANIFEST, DATASET_DICT)) -> None:
    """Make `out_dir` ready for a new run; never touches anything datakit did not write.

    A directory is a complete output when it holds all of `markers` (by default
    `manifest.json` and `dataset_dict.json`, written in that order, last; a Parquet export has
    no `dataset_dict.json`). One that holds `.datakit-staging` but is not complete is what a
    killed run left: it is cleaned. Anything else that is not empty is refused: a complete
    output unless `overwrite`, any other directory always.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory")
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        return
    entries = {p.name for p in out_dir.iterdir()}
    foreign = sorted(entries - _OWNED)
    if foreign:
        raise OutputError(
            f"{out_dir} is not a datakit output directory (it holds {', '.join(foreign[:3])}); "
            "choose another -o"
        )
    complete = set(markers) <= entries
    if complete:
        if not overwrite:
            raise OutputError(f"{out_dir} already holds a rendered dataset; pass --overwrite to replace it")
        shutil.rmtree(out_dir / STAGING, ignore_errors=True)  # a killed run's, after an earlier commit
    elif STAGING in entries:
        _remove_owned(out_dir)  # a run that was killed before it committed
        shutil.rmtree(out_dir / STAGING)
    elif entries:
        raise OutputError(
            f"{out_dir} holds files but no complete datakit output (no {MANIFEST}); "
            "remove it or choose another -o"
        )


def _remove_owned(out_dir: Path) -> None:
    for name in _OWNED - {STAGING}:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ShardWriter:
    """Arrow IPC stream shards of one split, rolled over at about `shard_bytes`."""

    def __init__(self, directory: Path, split: str, shard_bytes: int, schema: pa.Schema = SCHEMA):
        self.directory = directory / split
        self.directory.mkdir(parents=True, exist_ok=True)
        self.split = split
        self.shard_bytes = shard_bytes
        self.schema = schema
        self.shards: list[dict[str, Any]] = []
        self._writer: pa.RecordBatchStreamWriter | None = None
        self._sink: Any = None
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._open()
        self._writer.write_table(table)
        self._rows += table.num_rows
        if self._sink.tell() >= self.shard_bytes:
            self._close()

    def close(self) -> list[dict[str, Any]]:
        if self._writer is None and not self.shards:
            # An empty split still gets one shard holding an empty batch: readers need a schema
            # and `datasets` needs at least one batch.
            self._open()
            self._writer.write_batch(empty_batch() if self.schema is SCHEMA else _empty_batch(self.schema))
        if self._writer is not None:
            self._close()
        return self.shards

    def _name(self) -> str:
        return f"data-{len(self.shards):05d}.arrow"

    def _open(self) -> None:
        self._sink = pa.OSFile(str(self.directory / (self._name() + ".tmp")), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self._rows = 0

    def _close(self) -> None:
        self._writer.close()
        self._sink.flush()
        os.fsync(self._sink.fileno())
        self._sink.close()
        name = self._name()
        tmp = self.directory / (name + ".tmp")
        final = self.directory / name
        os.replace(tmp, final)
        self.shards.append(
            {
                "file": f"{self.split}/{name}",
                "rows": self._rows,
                "bytes": final.stat().st_size,
                "sha256": sha256_file(final),
            }
        )
        self._writer = None
        self._sink = None


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` durably (temp file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class OutputWriter:
    """Stages a run's files and commits them into `out_dir` at the end."""

    def __init__(self, out_dir: Path, splits: list[str], shard_bytes: int, schema: pa.Schema = SCHEMA):
        self.out_dir = out_dir
        self.staging = out_dir / STAGING
        self.staging.mkdir(parents=True)
        self.splits = {name: ShardWriter(self.staging, name, shard_bytes, schema) for name in splits}
        self._rejects = open(self.staging / "rejects.jsonl", "w", encoding="utf-8")

    def write(self, split: str, table: pa.Table) -> None:
        self.splits[split].write(table)

    def reject(self, record: dict[str, Any]) -> None:
        self._rejects.write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self, manifest: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        """Close the shards, write the sidecar files and move it all into place; manifest last."""
        self._rejects.close()
        split_entries = {}
        for name, writer in self.splits.items():
            shards = writer.close()
            split_entries[name] = {"rows": sum(s["rows"] for s in shards), "shards": shards}
            self._write_datasets_sidecars(name, shards, manifest)
        write_json(self.staging / DATASET_DICT, {"splits": list(self.splits)})
        write_json(self.staging / "stats.json", stats)
        manifest = {
            **manifest,
            "splits": split_entries,
            "rejects": {"file": "rejects.jsonl", "sha256": sha256_file(self.staging / "rejects.jsonl")},
        }
        write_json(self.staging / MANIFEST, manifest)
        move_into_place(self.staging, self.out_dir)
        return manifest

    def abort(self) -> None:
        self._rejects.close()
        shutil.rmtree(self.staging, ignore_errors=True)

    def _write_datasets_sidecars(self, split: str, shards: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
        directory = self.staging / split
        fingerprint = hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest()[:16]
        write_json(
            directory / "state.json",
            {
                "_data_files": [{"filename": Path(s["file"]).name} for s in shards],
                "_fingerprint": fingerprint,
                "_format_columns": None,
                "_format_kwargs": {},
                "_format_type": None,
                "_output_all_columns": False,
                "_split": split,
            },
        )
        # No "features": datasets reads them from the Arrow schema, in every version.
        write_json(
            directory / "dataset_info.json",
            {"description": f"datakit {manifest.get('datakit_version')} render ({manifest.get('template', {}).get('name')})",
             "citation": "", "homepage": "", "license": ""},
        )


def move_into_place(staging: Path, out_dir: Path, last: tuple[str, ...] = (MANIFEST, DATASET_DICT)) -> None:
    """Replace `out_dir`'s owned files by the staged ones; the `last` files land last, in order.

    From the first unlink until the final `last` file lands, the directory is incomplete:
    neither datakit nor `datasets.load_from_disk` will take it for a finished output.
    """
    for name in reversed(last):
        if (out_dir / name).exists():
            (out_dir / name).unlink()
    _remove_owned(out_dir)
    for entry in sorted(staging.iterdir()):
        if entry.name not in last:
            os.replace(entry, out_dir / entry.name)
    _fsync_dir(out_dir)
    for name in last:
        os.replace(staging / name, out_dir / name)
        _fsync_dir(out_dir)
    staging.rmdir()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
