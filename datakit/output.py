"""Read a committed datakit output: its manifest, splits, and shards as Arrow batches or one
memory-mapped table.

An output is committed when `manifest.json` is in it (`layout.output_state`: the commit is one
directory rename); anything less is refused with an `OutputReadError` saying what is missing. Shard files come from the manifest, so they are checked before they are opened: each
must be a plain file name inside its split's directory (no `..`, no absolute path, no
separator) and a regular file (not a link, a directory or a device). Reading never copies the
token columns into Python objects: shards are memory-mapped and their Arrow buffers used as
they are.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa

from .commit import leftovers
from .layout import LEGACY_STAGING, MANIFEST, OutputState, UnreadableFile, output_state, read_json


class Format(StrEnum):
    """The manifest's `format`: what kind of directory datakit wrote."""

    RENDER = "datakit/1"  # `datakit render`: one conversation per row (SCHEMA)
    PACKED = "datakit-packed/1"  # `datakit pack` / `render --pack`: several rows per row
    HF = "datakit-hf/1"  # `datakit export --to hf`: input_ids / labels / attention_mask
    PARQUET = "datakit-parquet/1"  # `datakit export --to parquet`: Parquet shards, no dataset_dict.json


# Bundled-tokenizer families' pad tokens: what the `tokenizer_config.json` beside the bundled
# `tokenizer.json` files sets as `pad_token` (Llama 3.2's, Qwen2.5/Qwen3's). Padding never
# reaches the loss (attention mask 0, weight 0, label -100); the id only has to exist.
PAD_TOKENS = ("<|finetune_right_pad_id|>", "<|endoftext|>")


class OutputReadError(ValueError):
    """A directory is not a complete, readable datakit output; the message says why."""


def _plain_name(name: Any, what: str) -> str:
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\0" in name or PurePosixPath(name).is_absolute()):
        raise OutputReadError(f"{what} {name!r} is not a plain file name")
    return name


def _regular_file(path: Path) -> Path:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise OutputReadError(f"{path}: listed in the manifest but missing") from None
    if not stat.S_ISREG(mode):
        raise OutputReadError(f"{path}: not a regular file")
    return path


@dataclass(frozen=True)
class Output:
    """A committed output directory and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path, formats: Iterable[Format] = (Format.RENDER, Format.PACKED)) -> "Output":
        """Open `path`, refusing anything that is not a complete output of one of `formats`."""
        path = Path(path)
        state = output_state(path)
        if state is OutputState.ABSENT:
            raise OutputReadError(f"{path}: no such directory")
        if state is OutputState.NOT_A_DIRECTORY:
            raise OutputReadError(f"{path} is not a directory")
        if state is not OutputState.COMPLETE:
            unfinished = " (an unfinished run: it was interrupted before it committed)" if (
                (path / LEGACY_STAGING).exists() or leftovers(path.resolve())) else ""
            raise OutputReadError(f"{path} is not a complete datakit output: no {MANIFEST}{unfinished}")
        try:
            manifest = read_json(path / MANIFEST)
        except UnreadableFile as exc:
            raise OutputReadError(f"unreadable manifest: {exc}") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("splits"), dict):
            raise OutputReadError(f"{path / MANIFEST}: not a datakit manifest (no \"splits\")")
        wanted = {Format(f) for f in formats}
        found = manifest.get("format")
        if found not in {f.value for f in wanted}:
            raise OutputReadError(f"{path} is a {found!r} directory; expected {' or '.join(sorted(wanted))}")
        return cls(path, manifest)

    @property
    def format(self) -> Format:
        return Format(self.manifest["format"])

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def split_entry(self, split: str) -> dict[str, Any]:
        entry = self.manifest["splits"].get(split)
        if not isinstance(entry, dict):
            raise OutputReadError(f"{self.path} has no {split!r} split (it has: {', '.join(self.splits) or 'none'})")
        return entry

    def rows(self, split: str) -> int:
        return int(self.split_entry(split).get("rows", 0))

    def shard_paths(self, split: str) -> list[Path]:
        """The split's shard files, in order, each checked to be a plain regular file in the split."""
        entry = self.split_entry(split)
        _plain_name(split, "split")
        directory = self.path / split
        if not directory.is_dir() or directory.is_symlink():
            raise OutputReadError(f"{directory}: the {split!r} split's directory is missing or not a directory")
        paths = []
        for shard in entry.get("shards", []):
            recorded = shard.get("file") if isinstance(shard, dict) else None
            parts = PurePosixPath(recorded).parts if isinstance(recorded, str) else ()
            if len(parts) != 2 or parts[0] != split:
                raise OutputReadError(f"{self.path / MANIFEST}: shard {recorded!r} is not a file of the {split!r} split")
            paths.append(_regular_file(directory / _plain_name(parts[1], "shard")))
        return paths

    def batches(self, split: str) -> Iterator[pa.RecordBatch]:
        """The split's record batches, shard after shard, read lazily from memory maps."""
        for path in self.shard_paths(split):
            yield from _read_stream(path).to_batches()

    def table(self, split: str) -> pa.Table:
        """The whole split as one table over memory-mapped shards (no copy of the data)."""
        tables = [_read_stream(path) for path in self.shard_paths(split)]
        if not tables:
            raise OutputReadError(f"{self.path}: the {split!r} split lists no shard")
        try:
            return pa.concat_tables(tables)
        except pa.ArrowInvalid as exc:
            raise OutputReadError(f"{self.path}: the {split!r} split's shards differ in schema ({exc})") from None

    def pad_token_id(self) -> int:
        """The id batches are padded with: the tokenizer's pad token (see PAD_TOKENS), else its eos."""
        from .bundled import BUNDLED
        from .tokenizer import TokenizerError, load_tokenizer

        name = (self.manifest.get("tokenizer") or {}).get("name")
        if not name:
            raise OutputReadError(f"{self.path}: the manifest names no tokenizer; give the pad id yourself")
        try:
            bundle = load_tokenizer(name, fast=False)  # for its pad token: nothing is encoded
        except TokenizerError as exc:
            raise OutputReadError(f"cannot load tokenizer {name!r} of {self.path} for its pad id ({exc}); "
                                  "give the pad id yourself") from None
        configured = None if name in BUNDLED else _configured_pad_token(name)
        for token in (configured, *PAD_TOKENS, bundle.eos_token):
            if token is not None and token in bundle.control_tokens:
                return bundle.control_tokens[token]
        raise OutputReadError(f"tokenizer {name!r} has no pad or eos token; give the pad id yourself")


def _configured_pad_token(tokenizer: str) -> str | None:
    """`pad_token` of the `tokenizer_config.json` beside a local tokenizer, if it sets one."""
    path = Path(tokenizer)
    config = (path if path.is_dir() else path.parent) / "tokenizer_config.json"
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("pad_token")
    except (OSError, ValueError, AttributeError):
        return None
    return value.get("content") if isinstance(value, dict) else value


def _read_stream(path: Path) -> pa.Table:
    try:
        return pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
    except (OSError, pa.ArrowException) as exc:
        raise OutputReadError(f"{path}: not a readable Arrow IPC stream ({exc})") from None


class ListColumns:
    """Random access to a record batch's list columns: row i as numpy views of the Arrow buffers."""

    def __init__(self, batch: pa.RecordBatch, names: Iterable[str]):
        self.num_rows = batch.num_rows
        self._columns = {}
        for name in names:
            column = batch.column(name)
            self._columns[name] = (np.asarray(column.offsets), np.asarray(column.values))

    def row(self, i: int) -> dict[str, np.ndarray]:
        out = {}
        for name, (offsets, values) in self._columns.items():
            out[name] = values[offsets[i]:offsets[i + 1]]
        return out

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return (self.row(i) for i in range(self.num_rows))
