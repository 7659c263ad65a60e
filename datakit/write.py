"""Write an output directory: Arrow shards per split, rejects, stats and the manifest, atomically.

A run stages its whole output in a directory beside OUT and commits it with one rename
(`commit.py`), under a lock that keeps a second run out: OUT is at every moment the previous
output or the new one, complete, and a directory is a complete output exactly when it holds
`manifest.json` (`layout.output_state`). A failure to write (disk full, read-only filesystem)
is one OutputError naming OUT, and the old output stays as it was. The layout is the one
`datasets.save_to_disk` writes, so `datasets.load_from_disk(OUT)` opens it, and every shard is
a plain Arrow IPC stream that `pyarrow` and `polars` read directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from .commit import (OutputBusy, OutputError, OutputLock, clean_leftovers, commit_directory, fsync_dir,
                     make_parents, make_staging, remove_made, resolve_output)
from .datum import SCHEMA, empty_batch
from .layout import (DATASET_DICT, DATASET_INFO, LEGACY_STAGING, MANIFEST, REJECTS, STATE, STATS, OutputState,
                     TOP_LEVEL, foreign_entries, os_reason, output_state, sha256_of)
from .terminal import printable

FORMAT = "datakit/1"
STAGING = LEGACY_STAGING  # the name `inspect` knows an unfinished datakit 0.1.0 output by
__all__ = ["FORMAT", "MANIFEST", "STAGING", "OutputBusy", "OutputError", "OutputWriter", "ShardWriter",
           "StagedOutput", "prepare_output_dir", "sha256_file", "write_json"]


@contextmanager
def os_errors(out_dir: Path) -> Iterator[None]:
    """An OSError (disk full, read-only filesystem, permission denied) as one OutputError line."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {out_dir}: {os_reason(exc)}") from None


def prepare_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse at once what the run could not replace, and clean what a killed run left.

    `OutputWriter` does the same again under the lock it keeps until the commit; this early
    pass makes a refusal cost nothing (no workers started, no input read).
    """
    out_dir = Path(out_dir)
    with os_errors(out_dir):
        real = resolve_output(out_dir)
        if not real.parent.is_dir():
            return  # nothing there to refuse or clean; the writer makes the directories
        with OutputLock(real, out_dir):
            clean_leftovers(real)
            _check_replaceable(out_dir, real, overwrite)


def _check_replaceable(out_dir: Path, real: Path, overwrite: bool) -> None:
    """Raise unless a run may put a new output at `real`; never lets it replace what is not datakit's.

    Absent or empty: yes. A complete output: only with `overwrite`. One that datakit 0.1.0's
    killed run left (its staging directory inside, no manifest): yes. Anything holding a file or
    a link datakit did not write: never.
    """
    state = output_state(real)
    if state in (OutputState.ABSENT, OutputState.EMPTY):
        return
    if state is OutputState.NOT_A_DIRECTORY:
        raise OutputError(f"{out_dir} exists and is not a directory")
    foreign = foreign_entries(real)
    if foreign:
        raise OutputError(
            f"{out_dir} is not a datakit output directory (it holds {', '.join(map(printable, foreign[:3]))}); "
            "choose another -o"
        )
    if state is OutputState.COMPLETE and not overwrite:
        raise OutputError(f"{out_dir} already holds a datakit output; pass --overwrite to replace it")
    if state is OutputState.PARTIAL and not (real / LEGACY_STAGING).is_dir():
        raise OutputError(
            f"{out_dir} holds files but no complete datakit output (no {MANIFEST}); "
            "remove it or choose another -o"
        )


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return sha256_of(f)


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
        name = self._name()
        tmp = self.directory / (name + ".tmp")
        final = self.directory / name
        # The fsync waits on the disk and the hash on the CPU: together, the last shard of a run
        # (150 MB) is done in the time of the hash alone.
        with ThreadPoolExecutor(1) as disk:
            synced = disk.submit(os.fsync, self._sink.fileno())
            sha256 = sha256_file(tmp)
            synced.result()
        self._sink.close()
        os.replace(tmp, final)
        self.shards.append(
            {
                "file": f"{self.split}/{name}",
                "rows": self._rows,
                "bytes": final.stat().st_size,
                "sha256": sha256,
            }
        )
        self._writer = None
        self._sink = None


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def write_json(path: Path, data: Any) -> None:
    """`data` as JSON at `path`, fsynced (inside a staging directory: the commit is atomic)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


class StagedOutput:
    """A new output directory being built beside `out_dir`, committed as a whole in one rename.

    It holds the output's lock from its creation until `commit` or `abort`; the caller writes
    into `staging` and must leave `manifest.json` there before committing. A subclass for
    another kind of output (`split.write.StagedSplit`) says what its top level may hold
    (`names`) and when an existing directory may be replaced (`check_replaceable`).
    """

    names: frozenset[str] = TOP_LEVEL

    def __init__(self, out_dir: Path, overwrite: bool = False):
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.staging: Path | None = None
        with os_errors(self.out_dir):
            self.path = resolve_output(self.out_dir)
            self._made = make_parents(self.path)
            self._lock = OutputLock(self.path, self.out_dir)
            try:
                self._lock.acquire()
            except BaseException:
                remove_made(self._made)
                raise
            try:
                clean_leftovers(self.path, self.names)
                self.check_replaceable()
                self.staging = make_staging(self.path)
            except BaseException:
                self.abort()
                raise

    def check_replaceable(self) -> None:
        """Raise unless the directory at `path` may be replaced (run under the lock)."""
        _check_replaceable(self.out_dir, self.path, self.overwrite)

    def commit(self) -> None:
        with os_errors(self.out_dir):
            commit_directory(self.staging, self.path, self.check_replaceable)
        self.staging = None
        self._lock.release()

    def abort(self) -> None:
        """Give up: remove the staging directory (and, after a swap, the old tree it now holds)
        and the directories made for it."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._lock.release()
        remove_made(self._made)


class OutputWriter:
    """Stages a run's shards, rejects, stats and manifest beside `out_dir`; `commit` makes
    them the new `out_dir` (see `StagedOutput`)."""

    def __init__(self, out_dir: Path, splits: list[str], shard_bytes: int, schema: pa.Schema = SCHEMA, *,
                 overwrite: bool = False):
        self.out_dir = Path(out_dir)
        self._rejects = None
        self._output = StagedOutput(self.out_dir, overwrite)
        self.staging = self._output.staging
        try:
            with os_errors(self.out_dir):
                self.splits = {name: ShardWriter(self.staging, name, shard_bytes, schema) for name in splits}
                self._rejects = open(self.staging / REJECTS, "w", encoding="utf-8")
        except BaseException:
            self.abort()
            raise

    def write(self, split: str, table: pa.Table) -> None:
        with os_errors(self.out_dir):
            self.splits[split].write(table)

    def reject(self, record: dict[str, Any]) -> None:
        with os_errors(self.out_dir):
            self._rejects.write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self, manifest: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        """Close the shards, write the sidecar files and the manifest, and commit it all in one rename."""
        with os_errors(self.out_dir):
            self._rejects.flush()
            os.fsync(self._rejects.fileno())
            self._rejects.close()
            split_entries = {}
            for name, writer in self.splits.items():
                shards = writer.close()
                split_entries[name] = {"rows": sum(s["rows"] for s in shards), "shards": shards}
                self._write_datasets_sidecars(name, shards, manifest)
                fsync_dir(self.staging / name)
            write_json(self.staging / DATASET_DICT, {"splits": list(self.splits)})
            write_json(self.staging / STATS, stats)
            rejects = self.staging / REJECTS
            manifest = {
                **manifest,
                "splits": split_entries,
                "rejects": {"file": REJECTS, "bytes": rejects.stat().st_size, "sha256": sha256_file(rejects)},
            }
            write_json(self.staging / MANIFEST, manifest)
        self._output.commit()
        return manifest

    def abort(self) -> None:
        if self._rejects is not None:
            try:
                self._rejects.close()
            except OSError:
                pass  # its buffer could not be flushed (disk full): it is removed with the staging
        self._output.abort()

    def _write_datasets_sidecars(self, split: str, shards: list[dict[str, Any]], manifest: dict[str, Any]) -> None:
        directory = self.staging / split
        fingerprint = hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest()[:16]
        write_json(
            directory / STATE,
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
            directory / DATASET_INFO,
            {"description": f"datakit {manifest.get('datakit_version')} render ({manifest.get('template', {}).get('name')})",
             "citation": "", "homepage": "", "license": ""},
        )

