"""Rows of a rendered output directory, read back from its shards (the Datum shift undone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from ..tokenizer import TokenizerBundle, TokenizerError, load_tokenizer
from ..output import Format, Output, OutputReadError
from .rows import DEFAULT_LIMIT, InspectedRow, InspectError, as_list

_REQUIRED_COLUMNS = ("input_tokens", "target_tokens", "weights")


def open_output(out_dir: str | Path) -> Output:
    """A committed render output (its shard names checked), or InspectError saying what is wrong."""
    try:
        return Output.open(out_dir, formats=(Format.RENDER,))
    except OutputReadError as exc:
        raise InspectError(str(exc)) from None


def read_manifest(out_dir: str | Path) -> dict:
    """The manifest of a committed render output, or InspectError saying what is wrong."""
    return open_output(out_dir).manifest


def load_output_tokenizer(out_dir: str | Path, tokenizer: str | None = None) -> tuple[TokenizerBundle, str | None]:
    """The tokenizer that decodes an output's rows, and a warning if its fingerprint differs.

    By default the one the manifest names; `tokenizer` overrides it (e.g. when the manifest
    names a local path that has moved).
    """
    manifest = read_manifest(out_dir)
    recorded = manifest.get("tokenizer") or {}
    name = tokenizer or recorded.get("name")
    if not name:
        raise InspectError(f"{out_dir}: the manifest names no tokenizer; pass --tokenizer")
    try:
        bundle = load_tokenizer(name, fast=False)  # it decodes: fastokens' load would be wasted
    except TokenizerError as exc:
        hint = "" if tokenizer else "; pass --tokenizer to decode with another copy of it"
        raise InspectError(f"cannot load tokenizer {name!r} recorded in the manifest: {exc}{hint}") from None
    warning = None
    expected = recorded.get("fingerprint")
    if expected and bundle.fingerprint != expected:
        warning = (f"tokenizer {name!r} has fingerprint {bundle.fingerprint[:23]}…, but the rows were "
                   f"rendered with {recorded.get('name')!r} {expected[:23]}…: the decoded text may be wrong")
    return bundle, warning


def _shards(output: Output, split: str) -> list[tuple[dict, Path]]:
    """The split's shards: (manifest entry, a checked path), in order."""
    try:
        entry = output.split_entry(split)
        return list(zip(entry.get("shards") or [], output.shard_paths(split)))
    except OutputReadError as exc:
        raise InspectError(str(exc)) from None


def _iter_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The record batches of one shard, read lazily from a memory map."""
    try:
        source = pa.memory_map(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise InspectError(f"{path}: cannot open shard ({exc})") from None
    try:
        with source:
            try:
                reader = pa.ipc.open_stream(source)
            except pa.ArrowException as exc:
                raise InspectError(f"{path}: not an Arrow IPC stream ({exc})") from None
            missing = [c for c in _REQUIRED_COLUMNS if c not in reader.schema.names]
            if missing:
                raise InspectError(f"{path}: not a datakit shard (no {', '.join(missing)} column)")
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowException as exc:
                    raise InspectError(f"{path}: damaged shard ({exc})") from None
                yield batch
    except OSError as exc:
        raise InspectError(f"{path}: cannot read shard ({exc})") from None


def _split_rows(shards: list[tuple[dict, Path]]) -> int:
    return sum(shard["rows"] if isinstance(shard.get("rows"), int) else sum(b.num_rows for b in _iter_batches(path))
               for shard, path in shards)


def _source_matches(value: str, wanted: str) -> bool:
    if value == wanted or Path(value).name == wanted:
        return True
    tail = wanted.lstrip("./")
    if tail and value.endswith("/" + tail):
        return True
    try:
        return Path(value).resolve() == Path(wanted).resolve()
    except OSError:
        return False


def _column(batch: pa.RecordBatch, name: str, default) -> np.ndarray:
    if name in batch.schema.names:
        return batch.column(name).to_numpy(zero_copy_only=False)
    return np.full(batch.num_rows, default)


def _row_from_batch(batch: pa.RecordBatch, i: int, split: str, index: int) -> InspectedRow:
    record = batch.slice(i, 1).to_pylist()[0]
    return InspectedRow.from_datum(
        record["input_tokens"], record["target_tokens"], record["weights"],
        source=record.get("source"), line=record.get("line"), split=split, row=index,
        num_tokens=int(record.get("num_tokens") or len(record["input_tokens"]) + 1),
        num_trainable=int(record.get("num_trainable") or 0),
        original_length=int(record.get("original_length") or len(record["input_tokens"]) + 1),
        truncated=bool(record.get("truncated")),
    )


def load_rows(
    out_dir: str | Path,
    split: str = "train",
    rows: int | Iterable[int] | None = None,
    line: int | Iterable[int] | None = None,
    truncated: bool = False,
    limit: int = DEFAULT_LIMIT,
    source: str | None = None,
) -> list[InspectedRow]:
    """Rows of a rendered output directory's `split`, read from its shards.

    `rows` (0-based indices within the split; negative counts from the end) and `line` (input
    line numbers, optionally of one `source` file) pick rows; all given filters must hold
    (`truncated=True` keeps only truncated rows). Without `rows` or `line`, the first `limit`
    matching rows are returned. Shards and batches past what is needed are not read.
    Raises InspectError for a bad directory, split, out-of-range row or a line with no row.
    """
    out_dir = Path(out_dir)
    output = open_output(out_dir)
    manifest = output.manifest
    shards = _shards(output, split)
    wanted_rows = as_list(rows)
    wanted_lines = as_list(line)
    if source is not None:
        inputs = [i.get("path", "") for i in manifest.get("inputs", []) if isinstance(i, dict)]
        if inputs and not any(_source_matches(p, source) for p in inputs):
            raise InspectError(f"no input {source!r} was rendered into {out_dir} (inputs: {', '.join(inputs)})")

    order: list[int] = []
    if wanted_rows is not None:
        total = _split_rows(shards)
        for r in wanted_rows:
            index = r + total if r < 0 else r
            if not 0 <= index < total:
                span = f"rows 0-{total - 1}" if total else "no rows"
                raise InspectError(f"row {r} is out of range: the {split} split has {span}")
            if index not in order:
                order.append(index)
    scanning = wanted_rows is None and wanted_lines is None
    wanted_set = set(order)

    found: dict[int, InspectedRow] = {}
    results: list[InspectedRow] = []
    offset = 0
    for shard, path in shards:
        if wanted_rows is not None:
            if len(found) == len(wanted_set):
                break
            n = shard.get("rows")
            if isinstance(n, int) and not any(offset <= r < offset + n for r in wanted_set):
                offset += n
                continue  # none of the wanted rows is in this shard: skip it unread
        for batch in _iter_batches(path):
            n = batch.num_rows
            mask = np.ones(n, dtype=bool)
            if wanted_rows is not None:
                mask &= np.isin(np.arange(offset, offset + n), list(wanted_set))
            if wanted_lines is not None:
                mask &= np.isin(_column(batch, "line", -1), wanted_lines)
            if source is not None:
                sources = _column(batch, "source", "")
                mask &= np.array([_source_matches(str(s), source) for s in sources], dtype=bool)
            if truncated:
                mask &= _column(batch, "truncated", False).astype(bool)
            for i in np.flatnonzero(mask):
                row = _row_from_batch(batch, int(i), split, offset + int(i))
                if wanted_rows is not None:
                    found[row.row] = row
                else:
                    results.append(row)
                if scanning and len(results) >= limit:
                    return results
            offset += n
            if wanted_rows is not None and len(found) == len(wanted_set):
                break

    if wanted_rows is not None:
        return [found[r] for r in order if r in found]
    if wanted_lines is not None:
        missing = [n for n in wanted_lines if not any(r.line == n for r in results)]
        if missing:
            raise InspectError(_explain_missing_line(output, split, missing[0], source, truncated))
    return results


def _explain_missing_line(output: Output, split: str, line: int, source: str | None, truncated: bool) -> str:
    """Why input line `line` has no row in `split`: another split, a reject, or no such line."""
    out_dir = output.path
    where = f"line {line}" + (f" of {source}" if source else "")
    if truncated:
        try:
            if load_rows(out_dir, split, line=line, source=source):
                return f"{where} is in the {split} split but was not truncated"
        except InspectError:
            pass
    for other in output.splits:
        if other == split:
            continue
        for _, path in _shards(output, other):
            for batch in _iter_batches(path):
                hit = _column(batch, "line", -1) == line
                if source is not None:
                    hit &= np.array([_source_matches(str(s), source) for s in _column(batch, "source", "")])
                if hit.any():
                    return f"{where} is in the {other} split, not {split}: add --split {other}"
    rejects = out_dir / "rejects.jsonl"
    if rejects.is_file() and not rejects.is_symlink():
        with open(rejects, encoding="utf-8") as f:
            for text in f:
                try:
                    reject = json.loads(text)
                except ValueError:
                    continue
                if reject.get("line") == line and (source is None or _source_matches(str(reject.get("file")), source)):
                    return (f"{where} of {reject.get('file')} was rejected by datakit render: "
                            f"{reject.get('reason')} ({reject.get('detail')})")
    return f"{where}: no row in {out_dir} comes from it (no such line, or a blank one)"
