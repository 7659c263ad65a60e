"""`datakit pack`: best-fit-decreasing packing of whole rendered rows into sequences of at most
N tokens, written as a packed output (manifest `format` "datakit-packed/1").

A row's length is `len(input_tokens)`, the positions the model reads. Rows are taken longest
first (ties in row order) and each goes into the open pack with the least room that still
fits it, or a new pack; rows are never split, and a row longer than N is an error naming it.
Packs are written in the order they were opened; inside a pack, rows keep their split order.
A packed row holds the concatenated Datum columns, `position_ids` restarting at 0 per row,
`seq_lens` (each row's length) and each row's provenance as lists, so a pack can be undone
exactly (`unpack_batch`). Each split is packed on its own.
"""

from __future__ import annotations

import dataclasses
import heapq
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..bundled import StartedBundle
from ..datum import SCHEMA
from ..output import Format, Output
from ..write import OutputWriter, prepare_output_dir
from .derive import carry_rejects, derived_manifest, source_stats

STRATEGY = "best-fit-decreasing"
DATUM_COLUMNS = ("input_tokens", "target_tokens", "weights")
ROW_COLUMNS = ("source", "line", "num_tokens", "num_trainable", "original_length", "truncated", "turn")
PACKED_SCHEMA = pa.schema(
    [SCHEMA.field(name) for name in DATUM_COLUMNS]
    + [pa.field("position_ids", pa.list_(pa.int32()), nullable=False),
       pa.field("seq_lens", pa.list_(pa.int32()), nullable=False)]
    + [pa.field(name, pa.list_(SCHEMA.field(name).type), nullable=False) for name in ROW_COLUMNS]
)
_PACKS_PER_BATCH = 1024


class PackError(ValueError):
    """The rows cannot be packed as asked (a row longer than the pack, a packed source, ...)."""


def plan_packs(lengths: np.ndarray, max_tokens: int) -> list[list[int]]:
    """Best-fit decreasing: row indices of each pack, packs in the order they were opened.

    The open packs are kept by remaining room in a segment tree over 0..max_tokens, so each
    row finds the tightest pack that fits in O(log max_tokens); among packs with equal room
    the oldest wins. Every length must be in 1..max_tokens.
    """
    size = 1
    while size < max_tokens + 1:
        size *= 2
    tree = [0] * (2 * size)  # how many open packs have each amount of room, summed up the tree
    by_room: dict[int, list[int]] = {}
    packs: list[list[int]] = []
    order = np.lexsort((np.arange(len(lengths)), -np.asarray(lengths)))
    for row in order.tolist():
        need = int(lengths[row])
        room = _tightest(tree, size, need)
        if room < 0:
            pack = len(packs)
            packs.append([])
            room = max_tokens
        else:
            pack = heapq.heappop(by_room[room])
            _count(tree, size, room, -1)
        packs[pack].append(row)
        heapq.heappush(by_room.setdefault(room - need, []), pack)
        _count(tree, size, room - need, 1)
    return [sorted(p) for p in packs]


def _count(tree: list[int], size: int, room: int, delta: int) -> None:
    node = room + size
    while node:
        tree[node] += delta
        node >>= 1


def _tightest(tree: list[int], size: int, need: int) -> int:
    """The least room >= need that some open pack has, or -1."""
    node = need + size
    if tree[node]:
        return need
    while node > 1:  # climb until a right sibling holds packs, then take its leftmost leaf
        if not node & 1 and tree[node + 1]:
            node += 1
            break
        node >>= 1
    else:
        return -1
    while node < size:
        node = 2 * node if tree[2 * node] else 2 * node + 1
    return node - size


def pack_table(table: pa.Table, packs: Sequence[Sequence[int]]) -> pa.RecordBatch:
    """The packed rows (PACKED_SCHEMA) that `packs` (row indices of `table`) describe."""
    docs = table.take(pa.array(np.concatenate([np.asarray(p, np.int64) for p in packs]))).combine_chunks()
    per_pack = np.array([len(p) for p in packs])
    doc_start = np.zeros(len(per_pack) + 1, np.int32)
    np.cumsum(per_pack, out=doc_start[1:])
    lengths = np.diff(np.asarray(docs.column("input_tokens").chunk(0).offsets)).astype(np.int32)
    token_start = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=token_start[1:])
    pack_offsets = pa.array(token_start[doc_start].astype(np.int32))
    doc_offsets = pa.array(doc_start)
    positions = np.arange(token_start[-1], dtype=np.int64) - np.repeat(token_start[:-1], lengths)
    columns = [pa.ListArray.from_arrays(pack_offsets, docs.column(name).chunk(0).flatten()) for name in DATUM_COLUMNS]
    columns.append(pa.ListArray.from_arrays(pack_offsets, pa.array(positions.astype(np.int32))))
    columns.append(pa.ListArray.from_arrays(doc_offsets, pa.array(lengths)))
    columns += [pa.ListArray.from_arrays(doc_offsets, docs.column(name).chunk(0)) for name in ROW_COLUMNS]
    return pa.RecordBatch.from_arrays(columns, schema=PACKED_SCHEMA)


def unpack_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Packed rows back into the rendered rows they hold (SCHEMA), in pack order."""
    seq_lens = batch.column("seq_lens")
    lengths = np.asarray(seq_lens.flatten())
    token_start = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=token_start[1:])
    offsets = pa.array(token_start)
    columns = [pa.ListArray.from_arrays(offsets, batch.column(name).flatten()) for name in DATUM_COLUMNS]
    columns += [batch.column(name).flatten() for name in ROW_COLUMNS]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


@dataclass
class PackResult:
    out_dir: Path
    manifest: dict[str, Any]
    stats: dict[str, dict[str, Any]]  # per split


def pack_output(source_dir: str | Path, out_dir: str | Path, max_tokens: int, *, overwrite: bool = False,
                shard_bytes: int = 256 << 20, record_source: bool = True) -> PackResult:
    """Pack every split of the render at `source_dir` into a committed packed output at `out_dir`."""
    if max_tokens < 1:
        raise PackError("--max-tokens must be at least 1")
    source = Output.open(source_dir, formats=(Format.RENDER,))
    out_dir = Path(out_dir)
    if out_dir.resolve() == source.path.resolve():
        raise PackError(f"{out_dir}: pack into another directory than its source")
    tables = {split: source.table(split) for split in source.splits}
    lengths = {split: _lengths(table, max_tokens) for split, table in tables.items()}
    plans = {split: plan_packs(lengths[split], max_tokens) for split in tables}
    prepare_output_dir(out_dir, overwrite)
    writer = OutputWriter(out_dir, list(tables), shard_bytes, PACKED_SCHEMA, overwrite=overwrite)
    try:
        stats = {}
        for split, table in tables.items():
            packs = plans[split]
            for start in range(0, len(packs), _PACKS_PER_BATCH):
                writer.write(split, pa.Table.from_batches([pack_table(table, packs[start:start + _PACKS_PER_BATCH])]))
            stats[split] = pack_stats(lengths[split], len(packs), max_tokens)
        carry_rejects(source, writer)
        manifest = derived_manifest(source, Format.PACKED, source.path if record_source else None)
        manifest["pack"] = {"strategy": STRATEGY, "max_tokens": max_tokens, "splits": stats}
        manifest = writer.commit(manifest, {**source_stats(source), "pack": manifest["pack"]})
    except BaseException:
        writer.abort()
        raise
    return PackResult(out_dir, manifest, stats)


def _lengths(table: pa.Table, max_tokens: int) -> np.ndarray:
    """Each row's length, after checking that none is longer than a pack."""
    lengths = pc.list_value_length(table.column("input_tokens")).to_numpy().astype(np.int64)
    too_long = np.flatnonzero(lengths > max_tokens)
    if too_long.size:
        row = int(too_long[0])
        where = f"{table.column('source')[row].as_py()} line {table.column('line')[row].as_py()}"
        raise PackError(f"{where}: {lengths[row]} tokens, more than --max-tokens {max_tokens} "
                        f"({too_long.size} such rows); packing never splits a row: render with "
                        f"--max-length {max_tokens} or less to bound them")
    return lengths


def pack_stats(lengths: np.ndarray, packs: int, max_tokens: int) -> dict[str, Any]:
    """Fill of the packs, and padding against padding every row to `max_tokens`."""
    tokens = int(lengths.sum())
    padding = packs * max_tokens - tokens
    unpacked = len(lengths) * max_tokens - tokens
    return {"rows": int(len(lengths)), "packs": packs, "tokens": tokens,
            "fill_ratio": round(tokens / (packs * max_tokens), 4) if packs else 0.0,
            "padding_tokens": padding, "padding_tokens_unpacked": unpacked,
            "padding_tokens_saved": unpacked - padding}


def format_pack_stats(pack: dict[str, Any]) -> str:
    """The manifest's `pack` block as text (what `pack`, `render --pack` and `stats` print)."""
    max_tokens = pack["max_tokens"]
    lines = [f"packed into sequences of at most {max_tokens:,} tokens ({pack['strategy']})"]
    for split, s in pack["splits"].items():
        lines.append(f"  {split}: {s['rows']:,} rows -> {s['packs']:,} packs, fill {100 * s['fill_ratio']:.1f}%, "
                     f"{s['padding_tokens_saved']:,} padding tokens saved "
                     f"({s['padding_tokens']:,} left, {s['padding_tokens_unpacked']:,} padding every row to {max_tokens:,})")
    return "\n".join(lines)


def render_packed(inputs: Sequence[Path], out_dir: Path, options: Any, *, max_tokens: int, overwrite: bool = False,
                  progress: Callable[[int], None] | None = None, started_tokenizer: StartedBundle | None = None) -> Any:
    """`render --pack`: render into a hidden sibling `.<OUT>.unpacked` (a fixed name, so a killed
    run's copy is replaced by the next), pack it into `out_dir`, then remove it. The packed
    shards are the ones `datakit pack` makes from the same render; the manifest's
    `source.path` is null, the render being gone. Returns the render's RenderResult with the
    packed output's manifest, and its stats with the `pack` block added."""
    from ..pipeline import render_files

    out_dir = Path(out_dir)
    prepare_output_dir(out_dir, overwrite)  # refuse an existing output before rendering, not after
    unpacked = out_dir.parent / f".{out_dir.name}.unpacked"
    try:
        rendered = render_files(inputs, unpacked, options, overwrite=True, progress=progress,
                                started_tokenizer=started_tokenizer)
        packed = pack_output(unpacked, out_dir, max_tokens, overwrite=overwrite,
                             shard_bytes=options.shard_bytes, record_source=False)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return dataclasses.replace(rendered, out_dir=out_dir, manifest=packed.manifest,
                               stats={**rendered.stats, "pack": packed.manifest["pack"]})
