"""`datakit inspect`: show what the model will learn from a row, token by token.

Two sources of rows, displayed identically:

* a rendered output directory (`datakit render ... -o OUT`): rows are read back from the Arrow
  shards, which hold the shifted Datum layout, and the full sequence is rebuilt as
  ``input_tokens + [target_tokens[-1]]`` with per-token weights ``[0] + weights`` (the weight
  of token i is the weight of predicting it; nothing predicts the first token). The text is
  decoded with the tokenizer the manifest records, so the original JSONL is not needed.
* a chat JSONL file: each selected line is rendered now with a template (and tokenizer), the
  way `datakit render` would, without truncation. The first token's weight is shown as 0 for
  the same reason as above.

Outputs: coloured text in the terminal (trained tokens green and bold, the rest dim, control
tokens in inverse video), a per-token table (`--tokens`), or one self-contained HTML page
(`--html`) with a tooltip per token.
"""

from __future__ import annotations

import html
import json
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import click
import numpy as np
import pyarrow as pa

from .convert import Limits, convert
from .outcome import Reason, Reject, Side
from .read import ReadCounts, RecordParser, read_records
from .render import DEFAULT_DATE_STRING, Renderer, TemplateError, TrainOn, build_renderer
from .tokenizer import BUNDLED, TokenizerBundle, TokenizerError, load_tokenizer

try:  # tokenizers >= 0.21
    from tokenizers.decoders import DecodeStream
except ImportError:  # pragma: no cover - older tokenizers: decode token by token
    DecodeStream = None  # type: ignore[assignment,misc]

DEFAULT_LIMIT = 3
MANIFEST = "manifest.json"
STAGING = ".datakit-staging"
_REQUIRED_COLUMNS = ("input_tokens", "target_tokens", "weights")

# Terminal styles (keyword arguments of click.style).
TRAINED_STYLE: dict = {"fg": "green", "bold": True}
UNTRAINED_STYLE: dict = {"dim": True}
CONTROL_STYLE: dict = {"reverse": True}
BOUNDARY_STYLE: dict = {"fg": "blue"}
HEADER_STYLE: dict = {"fg": "cyan", "bold": True}
NOTE_STYLE: dict = {"fg": "yellow"}

# Markers used instead of colour (NO_COLOR, pipes): trained runs and control tokens.
TRAINED_OPEN, TRAINED_CLOSE = "⟦", "⟧"
CONTROL_OPEN, CONTROL_CLOSE = "⟨", "⟩"
BOUNDARY = "|"


class InspectError(ValueError):
    """A row cannot be shown (no such output, row, line, split, ...); the message says why."""


# -- rows ----------------------------------------------------------------------------------


@dataclass
class InspectedRow:
    """One row as the model sees it: unshifted tokens, the weight of each, and provenance."""

    tokens: list[int]
    weights: list[float]  # weights[i]: loss weight of predicting tokens[i] (weights[0] is 0)
    source: str | None = None
    line: int | None = None  # 1-based line of `source`
    split: str | None = None  # None: rendered on the fly from JSONL
    row: int | None = None  # 0-based index within the split (JSONL: among non-blank lines)
    num_tokens: int = 0
    num_trainable: int = 0
    original_length: int = 0
    truncated: bool = False
    note: str | None = None  # something worth knowing (e.g. `datakit render` would reject it)

    @classmethod
    def from_datum(cls, input_tokens: Sequence[int], target_tokens: Sequence[int],
                   weights: Sequence[float], **fields) -> "InspectedRow":
        """Undo the Datum shift: tokens = input + [last target], weights = [0] + weights."""
        tokens = list(input_tokens) + list(target_tokens[-1:])
        row = cls(tokens, [0.0] + [float(w) for w in weights], **fields)
        if list(input_tokens[1:]) != list(target_tokens[:-1]) or len(weights) != len(target_tokens):
            row.note = "damaged row: target_tokens/weights are not a one-token shift of input_tokens"
        return row

    @classmethod
    def from_rendered(cls, tokens: Sequence[int], weights: Sequence[float], **fields) -> "InspectedRow":
        """An unshifted rendering; the first token's weight is shown as 0 (nothing predicts it)."""
        tokens = [int(t) for t in tokens]
        weights = [0.0] + [float(w) for w in list(weights)[1:]] if len(tokens) else []
        fields.setdefault("num_tokens", len(tokens))
        fields.setdefault("original_length", len(tokens))
        fields.setdefault("num_trainable", int(sum(weights)))
        return cls(tokens, weights, **fields)

    @property
    def label(self) -> str:
        """`train row 3 · data.jsonl line 7` (what the row is and where it came from)."""
        parts = []
        if self.split is not None:
            parts.append(f"{self.split} row {self.row}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.source is not None:
            parts.append(f"{self.source} line {self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        return " · ".join(parts)

    @property
    def counts(self) -> str:
        text = f"{self.num_tokens} tokens · {self.num_trainable} trainable"
        if self.truncated:
            text += f" · truncated from {self.original_length}"
        return text


def _as_list(value: int | Iterable[int] | None) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return [int(value)]
    return [int(v) for v in value]


# -- rendered output directories -------------------------------------------------------------


@lru_cache(maxsize=4)
def _load_bundled_once(name: str) -> TokenizerBundle:
    return load_tokenizer(name)


def get_tokenizer(name: str) -> TokenizerBundle:
    """`load_tokenizer`, with the bundled tokenizers (package data, slow to build) kept once loaded."""
    return _load_bundled_once(name) if name in BUNDLED else load_tokenizer(name)


def read_manifest(out_dir: str | Path) -> dict:
    """The manifest of a datakit output directory, or InspectError saying what is wrong."""
    out_dir = Path(out_dir)
    if not out_dir.exists():
        raise InspectError(f"{out_dir}: no such directory")
    if not out_dir.is_dir():
        raise InspectError(f"{out_dir} is not a directory")
    path = out_dir / MANIFEST
    if not path.is_file():
        if (out_dir / STAGING).exists():
            raise InspectError(f"{out_dir} is an unfinished datakit output (no {MANIFEST}; the render did not complete)")
        raise InspectError(f"{out_dir} is not a datakit output directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InspectError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("splits"), dict):
        raise InspectError(f"{path}: not a datakit manifest (no \"splits\")")
    return manifest


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
        bundle = get_tokenizer(name)
    except TokenizerError as exc:
        hint = "" if tokenizer else "; pass --tokenizer to decode with another copy of it"
        raise InspectError(f"cannot load tokenizer {name!r} recorded in the manifest: {exc}{hint}") from None
    warning = None
    expected = recorded.get("fingerprint")
    if expected and bundle.fingerprint != expected:
        warning = (f"tokenizer {name!r} has fingerprint {bundle.fingerprint[:23]}…, but the rows were "
                   f"rendered with {recorded.get('name')!r} {expected[:23]}…: the decoded text may be wrong")
    return bundle, warning


def _split_entry(out_dir: Path, manifest: dict, split: str) -> dict:
    splits = manifest["splits"]
    if split not in splits:
        raise InspectError(f"{out_dir} has no {split!r} split (it has: {', '.join(splits) or 'none'})")
    return splits[split]


def _iter_batches(out_dir: Path, shard: dict) -> Iterator[pa.RecordBatch]:
    """The record batches of one shard, read lazily from a memory map."""
    path = out_dir / shard["file"]
    try:
        source = pa.memory_map(str(path))
    except FileNotFoundError:
        raise InspectError(f"{path}: shard listed in the manifest is missing (try `datakit check {out_dir}`)") from None
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


def _split_rows(out_dir: Path, entry: dict) -> int:
    if isinstance(entry.get("rows"), int):
        return entry["rows"]
    return sum(b.num_rows for shard in entry.get("shards", []) for b in _iter_batches(out_dir, shard))


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
    manifest = read_manifest(out_dir)
    entry = _split_entry(out_dir, manifest, split)
    shards = entry.get("shards") or []
    wanted_rows = _as_list(rows)
    wanted_lines = _as_list(line)
    if source is not None:
        inputs = [i.get("path", "") for i in manifest.get("inputs", []) if isinstance(i, dict)]
        if inputs and not any(_source_matches(p, source) for p in inputs):
            raise InspectError(f"no input {source!r} was rendered into {out_dir} (inputs: {', '.join(inputs)})")

    order: list[int] = []
    if wanted_rows is not None:
        total = _split_rows(out_dir, entry)
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
    for shard in shards:
        if wanted_rows is not None:
            if len(found) == len(wanted_set):
                break
            n = shard.get("rows")
            if isinstance(n, int) and not any(offset <= r < offset + n for r in wanted_set):
                offset += n
                continue  # none of the wanted rows is in this shard: skip it unread
        for batch in _iter_batches(out_dir, shard):
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
            raise InspectError(_explain_missing_line(out_dir, manifest, split, missing[0], source, truncated))
    return results


def _explain_missing_line(out_dir: Path, manifest: dict, split: str, line: int, source: str | None,
                          truncated: bool) -> str:
    """Why input line `line` has no row in `split`: another split, a reject, or no such line."""
    where = f"line {line}" + (f" of {source}" if source else "")
    if truncated:
        try:
            if load_rows(out_dir, split, line=line, source=source):
                return f"{where} is in the {split} split but was not truncated"
        except InspectError:
            pass
    for other, entry in manifest["splits"].items():
        if other == split:
            continue
        for shard in entry.get("shards") or []:
            for batch in _iter_batches(out_dir, shard):
                hit = _column(batch, "line", -1) == line
                if source is not None:
                    hit &= np.array([_source_matches(str(s), source) for s in _column(batch, "source", "")])
                if hit.any():
                    return f"{where} is in the {other} split, not {split}: add --split {other}"
    rejects = out_dir / ((manifest.get("rejects") or {}).get("file") or "rejects.jsonl")
    if rejects.is_file():
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


# -- JSONL rendered on the fly ---------------------------------------------------------------


def make_renderer(template: str = "llama3", tokenizer: str | None = None, *,
                  parse_special_tokens: bool = False, train_on: str = "all_assistant",
                  date_string: str = DEFAULT_DATE_STRING) -> Renderer:
    """A Renderer as `datakit render` builds it (raises TemplateError, TokenizerError)."""
    return build_renderer(template, tokenizer, train_on=train_on, parse_special_tokens=parse_special_tokens,
                          date_string=date_string)


def load_jsonl_rows(
    path: str | Path,
    renderer: Renderer,
    rows: int | Iterable[int] | None = None,
    line: int | Iterable[int] | None = None,
    limit: int = DEFAULT_LIMIT,
    on_skip: Callable[[str], None] | None = None,
) -> list[InspectedRow]:
    """Render selected conversations of a chat JSONL file now (no truncation, no split).

    `rows` are 0-based indices among the file's non-blank lines (negative: from the end),
    `line` 1-based line numbers. Without either, the first `limit` lines that render are
    returned and the others are reported to `on_skip`. An explicitly chosen line that
    `datakit render` would reject raises InspectError with the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise InspectError(f"{path}: no such file")
    wanted_rows = _as_list(rows)
    wanted_lines = _as_list(line)
    if wanted_rows and any(r < 0 for r in wanted_rows):
        total = sum(1 for _ in read_records([path], ReadCounts()))
        wanted_rows = [r + total if r < 0 else r for r in wanted_rows]
    scanning = wanted_rows is None and wanted_lines is None
    found: dict[tuple[str, int], InspectedRow] = {}
    results: list[InspectedRow] = []
    counts = ReadCounts()
    index = -1
    try:
        for index, item in enumerate(read_records([path], counts)):
            picked = scanning or (wanted_rows is not None and index in wanted_rows) or (
                wanted_lines is not None and item.line in wanted_lines)
            if not picked:
                if (wanted_rows is None or index > max(wanted_rows)) and (
                        wanted_lines is None or item.line > max(wanted_lines)):
                    break
                continue
            try:
                row = _render_line(path, item, index, renderer)
            except InspectError as exc:
                if scanning:
                    if on_skip is not None:
                        on_skip(str(exc))
                    continue
                raise
            if scanning:
                results.append(row)
                if len(results) >= limit:
                    break
            else:
                if wanted_rows is not None and index in wanted_rows:
                    found[("row", index)] = row
                if wanted_lines is not None and item.line in wanted_lines:
                    found[("line", item.line)] = row
    except OSError as exc:
        raise InspectError(f"{path}: cannot read ({exc})") from None
    if scanning:
        return results
    ordered: list[InspectedRow] = []
    for r in wanted_rows or []:
        if ("row", r) not in found:
            total = index + 1
            span = f"rows 0-{total - 1}" if total else "no rows"
            raise InspectError(f"row {r} is out of range: {path} has {span} (non-blank lines)")
        ordered.append(found[("row", r)])
    for n in wanted_lines or []:
        if ("line", n) not in found:
            raise InspectError(f"{path}: line {n} is blank or past the end of the file ({counts.lines} lines read)")
        ordered.append(found[("line", n)])
    unique: list[InspectedRow] = []
    for row in ordered:
        if not any(row is u for u in unique):
            unique.append(row)
    return unique


def _render_line(path: Path, item, index: int, renderer: Renderer) -> InspectedRow:
    """The record as `datakit render` makes it (without truncation), or InspectError with the
    reason it rejects it; a row with nothing trainable is shown with a note."""
    parser = RecordParser(renderer.template.roles)
    outcome = convert([item], [Side.TRAIN], parser, renderer, Limits())[0]
    note = None
    if isinstance(outcome, Reject):
        reason = f"{outcome.reason} ({outcome.detail})"
        if outcome.reason is not Reason.NO_TRAINABLE_TOKENS:
            raise InspectError(f"{path}:{item.line}: datakit render rejects this line: {reason}")
        outcome = renderer.render(parser.parse(item).messages)
        note = f"datakit render rejects this row: {reason}"
    row = InspectedRow.from_rendered(outcome.tokens.tolist(), outcome.weights.tolist(),
                                     source=str(path), line=item.line, row=index)
    row.note = note
    return row


# -- tokens as text --------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenPiece:
    """How one token shows: its share of the decoded text, and what kind of token it is."""

    id: int
    text: str  # what this token adds to the decoded row ('' when a later token completes its character)
    own: str  # the token decoded alone (bytes repr for a fragment of a UTF-8 character)
    control: bool
    partial: bool  # a fragment of a character whose text shows on a later token
    unknown: bool = False  # not in the tokenizer's vocabulary


def token_pieces(tokens: Sequence[int], bundle: TokenizerBundle) -> list[TokenPiece]:
    """Each token's text, decoded incrementally so characters split across tokens come out whole."""
    full = bundle.full
    control_ids = set(bundle.control_tokens.values())
    vocab_size = full.get_vocab_size(with_added_tokens=True)
    texts: list[str | None] = [None] * len(tokens)
    unknown = [not 0 <= t < vocab_size or full.id_to_token(t) is None for t in tokens]
    stream = DecodeStream(skip_special_tokens=False) if DecodeStream is not None else None
    pending: list[int] = []
    for i, t in enumerate(tokens):
        if unknown[i]:
            texts[i] = f"<unknown id {t}>"
            continue
        out = stream.step(full, t) if stream is not None else full.decode([t], skip_special_tokens=False)
        if out is None:
            pending.append(i)
            continue
        for j in pending:
            texts[j] = ""
        pending = []
        texts[i] = out
    if pending:  # the row ends inside a character (e.g. truncated there)
        for j in pending[:-1]:
            texts[j] = ""
        texts[pending[-1]] = full.decode([tokens[j] for j in pending], skip_special_tokens=False)
    pieces = []
    for i, t in enumerate(tokens):
        own = texts[i] if unknown[i] else _own_text(bundle, t)
        pieces.append(TokenPiece(int(t), texts[i] or "", own, t in control_ids,
                                 partial=texts[i] == "", unknown=unknown[i]))
    return pieces


_BYTE_DECODER: dict[str, int] | None = None


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, inverted: character -> byte."""
    global _BYTE_DECODER
    if _BYTE_DECODER is None:
        bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
        cs = bs[:]
        n = 0
        for b in range(256):
            if b not in bs:
                bs.append(b)
                cs.append(256 + n)
                n += 1
        _BYTE_DECODER = {chr(c): b for b, c in zip(bs, cs)}
    return _BYTE_DECODER


def _own_text(bundle: TokenizerBundle, token_id: int) -> str:
    text = bundle.full.decode([token_id], skip_special_tokens=False)
    if "\ufffd" not in text:
        return text
    raw = bundle.full.id_to_token(token_id) or ""
    if raw.startswith("<0x") and raw.endswith(">") and len(raw) == 6:  # byte fallback
        return repr(bytes([int(raw[3:5], 16)]))
    decoder = _byte_decoder()
    if raw and all(ch in decoder for ch in raw):
        return repr(bytes(decoder[ch] for ch in raw))
    return text


# Characters that must never reach a terminal or page as themselves.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SAFE = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}  # ␀ … ␟ (\r is ␍)
_SAFE[0x7F] = "␡"
_SAFE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
_SAFE.update({ord(c): f"\\u{ord(c):04x}" for c in _BIDI + "\u2028\u2029"})
_SAFE_WS = {**_SAFE, 0x0A: "↵\n", 0x09: "→", 0x20: "·"}
_SAFE_NL = {**_SAFE, 0x0A: "↵\n", 0x09: "→"}


def _visible(text: str, whitespace: str = "") -> str:
    """`text` with control characters made harmless; whitespace shown ("all", "newlines", "")."""
    table = _SAFE_WS if whitespace == "all" else _SAFE_NL if whitespace == "newlines" else _SAFE
    return text.translate(table)


def _whitespace_modes(pieces: list[TokenPiece], weights: Sequence[float], boundaries: bool) -> list[str]:
    """Where whitespace is made visible: whitespace-only tokens where the weight changes
    (else nothing shows whether that newline is trained), and everywhere with boundaries."""
    modes = []
    for i, piece in enumerate(pieces):
        blank = piece.text != "" and piece.text.isspace() and not piece.control
        edge = (i > 0 and weights[i - 1] != weights[i]) or (i + 1 < len(weights) and weights[i + 1] != weights[i])
        if blank and (edge or boundaries):
            modes.append("all")
        elif boundaries:
            modes.append("newlines")
        else:
            modes.append("")
    return modes


def _fmt_weight(w: float) -> str:
    return "1" if w == 1 else "0" if w == 0 else f"{w:g}"


# -- terminal --------------------------------------------------------------------------------


def terminal_legend(color: bool) -> str:
    if color:
        return ("legend: " + click.style("trained", **TRAINED_STYLE) + "  "
                + click.style("not trained", **UNTRAINED_STYLE) + "  "
                + click.style("<|control|>", **CONTROL_STYLE, **UNTRAINED_STYLE) + "  "
                + click.style("<|trained control|>", **CONTROL_STYLE, **TRAINED_STYLE))
    return (f"legend: {TRAINED_OPEN}trained{TRAINED_CLOSE}  not trained  "
            f"{CONTROL_OPEN}<|control token|>{CONTROL_CLOSE}  ↵ ␍ → · = newline, CR, tab, space")


def render_header(row: InspectedRow, color: bool) -> str:
    text = _visible(f"── {row.label} · {row.counts} ──")
    lines = [click.style(text, **HEADER_STYLE) if color else text]
    if row.note:
        note = _visible(f"note: {row.note}")
        lines.append(click.style(note, **NOTE_STYLE) if color else note)
    return "\n".join(lines)


def _style_lines(text: str, style: dict) -> str:
    # Style each line on its own, so a pager or a wrapped line never carries a style over.
    return "\n".join(click.style(part, **style) if part else "" for part in text.split("\n"))


def render_terminal(row: InspectedRow, bundle: TokenizerBundle, color: bool, boundaries: bool = False,
                    header: bool = True) -> str:
    """The row's decoded text: trained tokens green and bold, the rest dim, control tokens in
    inverse video (without colour: trained runs in ⟦…⟧, control tokens in ⟨…⟩), optionally
    with `|` between tokens. Control characters in the text never reach the terminal raw."""
    pieces = token_pieces(row.tokens, bundle)
    modes = _whitespace_modes(pieces, row.weights, boundaries)
    out: list[str] = []
    if color:
        runs: list[tuple[dict, str]] = []
        for i, piece in enumerate(pieces):
            style = dict(TRAINED_STYLE if row.weights[i] > 0 else UNTRAINED_STYLE)
            if piece.control or piece.unknown:
                style.update(CONTROL_STYLE)
            text = _visible(piece.text, modes[i])
            if boundaries and i > 0:
                runs.append((BOUNDARY_STYLE, BOUNDARY))
            if runs and runs[-1][0] == style and not boundaries:
                runs[-1] = (style, runs[-1][1] + text)
            else:
                runs.append((style, text))
        out = [_style_lines(text, style) for style, text in runs]
    else:
        trained = False
        for i, piece in enumerate(pieces):
            now = row.weights[i] > 0
            if trained and not now:
                out.append(TRAINED_CLOSE)
            if boundaries and i > 0:
                out.append(BOUNDARY)
            if now and not trained:
                out.append(TRAINED_OPEN)
            trained = now
            text = _visible(piece.text, modes[i])
            out.append(f"{CONTROL_OPEN}{text}{CONTROL_CLOSE}" if piece.control or piece.unknown else text)
        if trained:
            out.append(TRAINED_CLOSE)
    body = "".join(out)
    return f"{render_header(row, color)}\n{body}" if header else body


def render_tokens_table(row: InspectedRow, bundle: TokenizerBundle) -> str:
    """One line per token: position, id, weight, the token's text (repr-escaped), its kind."""
    pieces = token_pieces(row.tokens, bundle)
    width = max(3, len(str(len(pieces) - 1)))
    lines = [f"{'pos':>{width}}  {'id':>7}  {'weight':>6}  text"]
    for i, piece in enumerate(pieces):
        kind = "  control" if piece.control else "  unknown" if piece.unknown else (
            "  part of a character" if piece.partial else "")
        text = piece.own if piece.own.startswith("b'") or piece.own.startswith('b"') else repr(piece.own)
        lines.append(f"{i:>{width}}  {piece.id:>7}  {_fmt_weight(row.weights[i]):>6}  {_visible(text)}{kind}")
    return "\n".join(lines)


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
:root{--w1-bg:#c8f0d2;--w1-fg:#0b4a1a;--w0-fg:#8b9099;--ctl-bg:#e4e6ea;--ctl-fg:#4b5058;--ctl1-bg:#1f883d}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header.page{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #d8dce1;padding:10px 20px}
header.page h1{font-size:17px;margin:0 0 4px}
header.page .sub{color:#59636e;font-size:12.5px}
.legend{margin-top:6px;font-size:12.5px;color:#59636e}
.legend .tok{margin:0 6px 0 2px}
.legend label{margin-left:14px;cursor:pointer;user-select:none}
#bnd{position:absolute;left:-9999px}
main{padding:6px 20px 30px}
section.row{background:#fff;border:1px solid #d8dce1;border-radius:8px;margin:14px 0;overflow:hidden}
section.row>h2{margin:0;padding:8px 12px;font-size:14px;background:#f0f2f5;border-bottom:1px solid #e3e6ea;font-weight:600}
section.row>h2 .where{font-weight:400;color:#59636e;margin-left:8px;word-break:break-all}
.meta{padding:6px 12px;font-size:12.5px;color:#59636e;border-bottom:1px solid #eef0f2}
.meta b{color:#1f2328;font-weight:600}
.meta .trunc{color:#9a3412;background:#ffedd5;border-radius:4px;padding:0 5px;font-weight:600}
.meta .note{color:#854d0e;background:#fef9c3;border-radius:4px;padding:0 5px}
pre.seq{margin:0;padding:10px 12px;font:13px/1.65 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere;tab-size:4}
.tok{border-radius:0}
.tok.w0{color:var(--w0-fg)}
.tok.w1{color:var(--w1-fg);background:var(--w1-bg)}
.tok.special{font-size:11px;padding:0 3px;margin:0 1px;border-radius:3px;background:var(--ctl-bg);color:var(--ctl-fg);vertical-align:1px}
.tok.special.w1{background:var(--ctl1-bg);color:#fff}
.tok.part{display:inline-block;min-width:2px;height:1em}
.tok .nl{opacity:.45;font-size:11px}
.tok .ws{opacity:.55}
.tok:hover{outline:1px solid #1f2328;outline-offset:0}
#bnd:checked~main pre.seq>.tok:nth-child(even){box-shadow:inset 0 -2px 0 rgba(9,105,218,.55)}
#bnd:checked~main pre.seq>.tok:nth-child(odd){box-shadow:inset 0 -2px 0 rgba(207,34,46,.45)}
#bnd:checked~header label .box::before{content:"☑ "}
label .box::before{content:"☐ "}
"""


def _html_token_text(text: str) -> str:
    escaped = html.escape(_visible(text), quote=False)
    return escaped.replace("\n", '<span class="nl">↵</span>\n')


def _html_row(row: InspectedRow, bundle: TokenizerBundle) -> str:
    pieces = token_pieces(row.tokens, bundle)
    spans = []
    for i, piece in enumerate(pieces):
        w = row.weights[i]
        classes = "tok " + ("w1" if w > 0 else "w0")
        if piece.control or piece.unknown:
            classes += " special"
        if piece.partial:
            classes += " part"
        text = piece.own if piece.own.startswith(("b'", 'b"')) else repr(piece.own)
        title = f"pos {i} · id {piece.id} · weight {_fmt_weight(w)} · {_visible(text)}"
        if piece.partial:
            title += " (part of a character)"
        elif piece.control:
            title += " (control token)"
        spans.append(
            f'<span class="{classes}" data-id="{piece.id}" data-pos="{i}" data-w="{_fmt_weight(w)}" '
            f'title="{html.escape(title, quote=True)}">{_html_token_text(piece.text)}</span>'
        )
    attrs = {
        "split": row.split, "row": row.row, "source": row.source, "line": row.line,
        "num-tokens": row.num_tokens, "num-trainable": row.num_trainable,
        "original-length": row.original_length, "truncated": str(row.truncated).lower(),
    }
    data = " ".join(f'data-{k}="{html.escape(str(v), quote=True)}"' for k, v in attrs.items() if v is not None)
    heading = f"{row.split} · row {row.row}" if row.split is not None else f"row {row.row}"
    where = f"{row.source or ''} line {row.line}" if row.line is not None else ""
    meta = [f"<b>{row.num_tokens}</b> tokens", f"<b>{row.num_trainable}</b> trainable",
            f"original length <b>{row.original_length}</b>"]
    meta.append('<span class="trunc">truncated</span>' if row.truncated else "not truncated")
    if row.split is None:
        meta.append("rendered now from JSONL")
    if row.note:
        meta.append(f'<span class="note">{html.escape(row.note)}</span>')
    return (
        f'<section class="row" {data}>\n'
        f'<h2>{html.escape(heading)}<span class="where">{html.escape(where)}</span></h2>\n'
        f'<div class="meta">{" · ".join(meta)}</div>\n'
        f'<pre class="seq">{"".join(spans)}</pre>\n'
        f"</section>"
    )


def render_html(rows: Sequence[InspectedRow], bundle: TokenizerBundle, title: str, *,
                subtitle: str | None = None, boundaries: bool = False) -> str:
    """One self-contained page (inline CSS, no scripts, no network): a section per row with its
    provenance and counts, every token a `<span class="tok w1|w0 [special]">` with
    data-id/data-pos/data-w and a tooltip."""
    sub = f'<div class="sub">{html.escape(subtitle)}</div>' if subtitle else ""
    legend = (
        '<div class="legend">'
        '<span class="tok w1">trained</span> <span class="tok w0">not trained</span> '
        '<span class="tok special w0">&lt;|control|&gt;</span> '
        '<span class="tok special w1">&lt;|trained control|&gt;</span> '
        "hover a token for its position, id and weight"
        '<label for="bnd"><span class="box"></span>show token boundaries</label></div>'
    )
    body = "\n".join(_html_row(row, bundle) for row in rows)
    checked = " checked" if boundaries else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<input type="checkbox" id="bnd"{checked}>\n'
        f'<header class="page"><h1>{html.escape(title)}</h1>{sub}{legend}</header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


# -- command line ----------------------------------------------------------------------------


def _stdout_isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(flag: bool | None) -> bool:
    """--color/--no-color if given; else no colour when NO_COLOR is set or stdout is no terminal."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return _stdout_isatty()


@click.command("inspect", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="TARGET", type=click.Path(path_type=Path))
@click.option("--split", metavar="NAME", help="Split of an output directory to read.  [default: train]")
@click.option("--row", "rows", type=int, multiple=True, metavar="N",
              help="Row N (0-based) of the split, or of the JSONL's non-blank lines; negative counts "
                   "from the end. Repeatable.")
@click.option("--line", "lines", type=click.IntRange(min=1), multiple=True, metavar="L",
              help="The row made from input line L (1-based). Repeatable.")
@click.option("--source", metavar="FILE",
              help="With --line, when the output was rendered from several files: which one "
                   "(path or file name).")
@click.option("--truncated", is_flag=True, help="Only rows that --max-length truncated.")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True, metavar="K",
              help="How many rows to show when no --row/--line picks them.")
@click.option("--tokens", "tokens_table", is_flag=True,
              help="Print a table (position, id, weight, token text) instead of the text.")
@click.option("--boundaries", is_flag=True,
              help="Show where each token starts and ends (| between tokens; whitespace made visible).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              metavar="FILE", help="Write one self-contained HTML page instead (- for stdout).")
@click.option("--color/--no-color", default=None,
              help="Force colour on or off [default: on for a terminal, off if NO_COLOR is set].")
@click.option("-t", "--template", help="JSONL only: chat format, as for render.  [default: llama3]")
@click.option("--tokenizer", help="Tokenizer to decode with [default: the manifest's / the template's].")
@click.option("--train-on", type=click.Choice([m.value for m in TrainOn]), help="JSONL only: as for render.  [default: all_assistant]")
@click.option("--parse-special-tokens", is_flag=True, default=None,
              help="JSONL only: encode control-token text in messages as control tokens (as for render).")
@click.option("--date-string", help=f"JSONL only: as for render.  [default: {DEFAULT_DATE_STRING}]")
def inspect_command(target: Path, split: str | None, rows: tuple[int, ...], lines: tuple[int, ...],
                    source: str | None, truncated: bool, limit: int, tokens_table: bool, boundaries: bool,
                    html_file: Path | None, color: bool | None, template: str | None, tokenizer: str | None,
                    train_on: str | None, parse_special_tokens: bool | None, date_string: str | None) -> None:
    """Show what the model will learn from rows: decoded text, trained tokens highlighted.

    TARGET is a rendered output directory (rows are decoded from its shards with the tokenizer
    its manifest records) or a chat JSONL file (rows are rendered now with --template, without
    truncation). Trained tokens (loss weight 1) are green and bold, the rest dim, control tokens
    in inverse video; without colour, trained text is in ⟦…⟧ and control tokens in ⟨…⟩.

    \b
    Examples:
      datakit inspect out/ --row 0 --row 5
      datakit inspect out/ --split test --line 812 --boundaries
      datakit inspect out/ --truncated --limit 10 --html rows.html
      datakit inspect chat.jsonl -t qwen3 --line 3 --tokens
    """
    if tokens_table and html_file is not None:
        raise click.UsageError("--tokens and --html do not combine (the page shows each token on hover)")
    try:
        if target.is_dir():
            jsonl_only = {"--template": template, "--train-on": train_on,
                          "--parse-special-tokens": parse_special_tokens, "--date-string": date_string}
            given = [name for name, value in jsonl_only.items() if value is not None]
            if given:
                raise click.UsageError(f"{', '.join(given)}: only for JSONL input; an output directory "
                                       "is shown as it was rendered")
            split = split or "train"
            selected = load_rows(target, split, rows=rows or None, line=lines or None, truncated=truncated,
                                 limit=limit, source=source)
            bundle, warning = load_output_tokenizer(target, tokenizer)
            if warning:
                click.echo(f"warning: {warning}", err=True)
            manifest = read_manifest(target)
            described = (f"template {(manifest.get('template') or {}).get('name')} · "
                         f"tokenizer {(manifest.get('tokenizer') or {}).get('name')} · {split} split")
            empty = f"no {'truncated ' if truncated else ''}rows in the {split} split of {target}"
        elif target.exists():
            for name, value in (("--split", split), ("--source", source)):
                if value is not None:
                    raise click.UsageError(f"{name}: only for an output directory")
            if truncated:
                raise click.UsageError("--truncated: only for an output directory (JSONL is shown "
                                       "without truncation)")
            renderer = make_renderer(template or "llama3", tokenizer,
                                     parse_special_tokens=bool(parse_special_tokens),
                                     train_on=train_on or "all_assistant",
                                     date_string=date_string or DEFAULT_DATE_STRING)
            selected = load_jsonl_rows(target, renderer, rows=rows or None, line=lines or None, limit=limit,
                                       on_skip=lambda msg: click.echo(f"skipped: {msg}", err=True))
            bundle = renderer.tokenizer
            described = f"template {renderer.template.name} · tokenizer {bundle.name} · rendered now"
            empty = f"no line of {target} renders"
        else:
            raise InspectError(f"{target}: no such file or directory")
    except (InspectError, TemplateError, TokenizerError) as exc:
        raise click.ClickException(str(exc)) from None
    if not selected:
        raise click.ClickException(empty)

    if html_file is not None:
        page = render_html(selected, bundle, f"datakit inspect — {target.name}",
                           subtitle=f"{target} · {described}", boundaries=boundaries)
        if str(html_file) == "-":
            click.echo(page, nl=False)
            return
        try:
            html_file.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"{html_file}: cannot write ({exc.strerror or exc})") from None
        click.echo(f"wrote {html_file} ({len(selected)} row{'s' if len(selected) != 1 else ''})")
        return

    colored = use_color(color)
    if not tokens_table:
        click.echo(terminal_legend(colored), color=colored)
    for i, row in enumerate(selected):
        if i or not tokens_table:
            click.echo("")
        if tokens_table:
            click.echo(render_header(row, colored), color=colored)
            click.echo(render_tokens_table(row, bundle), color=colored)
        else:
            click.echo(render_terminal(row, bundle, colored, boundaries), color=colored)


def main() -> None:  # pragma: no cover - `python -m datakit.inspect` before cli.py registers it
    inspect_command(prog_name="datakit inspect")


if __name__ == "__main__":  # pragma: no cover
    main()
