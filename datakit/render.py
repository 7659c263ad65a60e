"""Render conversations into token ids and per-token loss weights, a batch at a time.

A conversation is rendered by its chat template into text carrying markers (see
`chat_template`) around what is trainable. The markers are removed and every conversation of
the batch is tokenized whole (`TokenizerBundle.encode_whole`), exactly as Hugging Face
tokenizes it. Tokens are then weighted by their byte lengths (byte-level BPE: each id stands
for a fixed number of bytes): a token is trainable if any of its bytes is, which is Hugging
Face's `return_assistant_tokens_mask` rule. No offsets are needed.

Message text never becomes a control token unless `parse_special_tokens` is set. A
conversation whose messages hold control-token strings (or datakit's marker characters) has
them replaced by escape sequences before rendering; its text is then cut at the template's
control tokens, and the text between them, escapes turned back, is encoded with a tokenizer
that has no control tokens. Tokenizers that are not byte-level take that path too, placing
tokens by the tokenizer's character offsets.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from itertools import chain
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, NamedTuple

import numpy as np

from .chat_template import (
    DEFAULT_DATE_STRING,
    ENCODE_BOUNDARY,
    ESCAPE,
    GENERATION_END,
    GENERATION_START,
    MARKERS,
    ChatTemplate,
    TemplateError,
    load_template,
)
from .tokenizer import TokenizerBundle, load_tokenizer

TrainOn = Literal["all_assistant", "last_assistant"]
TRAIN_ON: tuple[str, ...] = ("all_assistant", "last_assistant")

_MARKER_SPLIT = re.compile(f"([{GENERATION_START}{GENERATION_END}{ENCODE_BOUNDARY}])")
_PIECE_CACHE_LIMIT = 1 << 12
_PIECE_CACHE_MAX_CHARS = 512


@dataclass(frozen=True)
class Rendered:
    """One rendered conversation: unshifted token ids and their weights (0.0 or 1.0)."""

    tokens: np.ndarray  # int32
    weights: np.ndarray  # float32

    @property
    def num_trainable(self) -> int:
        return int(np.count_nonzero(self.weights))


class ByteLayout(NamedTuple):
    """A conversation's text ready to encode whole, and where its trainable bytes are."""

    texts: list[str]  # encoded one after another (more than one at encode boundaries)
    intervals: list[tuple[int, int]]  # trainable [start, end) byte ranges
    num_bytes: int


class RenderError(ValueError):
    """A conversation that cannot be rendered; `reason` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _alternation(strings: Iterable[str]) -> str:
    # Longest first, so a token never loses to one of its own prefixes.
    return "|".join(re.escape(s) for s in sorted(strings, key=lambda s: (-len(s), s)))


class Renderer:
    """Turns conversations into (tokens, weights) with one chat template and one tokenizer."""

    def __init__(
        self,
        template: ChatTemplate,
        tokenizer: TokenizerBundle,
        *,
        train_on: TrainOn = "all_assistant",
        parse_special_tokens: bool = False,
    ):
        if train_on not in TRAIN_ON:
            raise ValueError(f"train_on must be one of {TRAIN_ON}, not {train_on!r}")
        if template.bos_token is None and tokenizer.bos_token:
            template = dataclasses.replace(template, bos_token=tokenizer.bos_token)
        self.template = template
        self.tokenizer = tokenizer
        self.train_on = train_on
        self.parse_special_tokens = parse_special_tokens

        control = tokenizer.control_tokens
        self._control_ids = control
        self._split = re.compile(_alternation([*control, *MARKERS[:3]]))
        # What message text may not contain verbatim, and the escape that stands for it.
        escaped = list(MARKERS) + ([] if parse_special_tokens else list(control))
        self._escapes = {s: ESCAPE + chr(0xF0100 + i) for i, s in enumerate(escaped)}
        self._unescapes = {v: k for k, v in self._escapes.items()}
        self._escape_re = re.compile(_alternation(escaped))
        # A cheap first test: what must be escaped starts with one of these (e.g. "<|").
        self._escape_needles = tuple(sorted({s[:2] for s in escaped}))
        self._unescape_re = re.compile(re.escape(ESCAPE) + ".", re.DOTALL)
        self._piece_cache: dict[str, list[int]] = {}
        self._token_bytes = tokenizer.token_bytes
        self._needs_normalizing = tokenizer.needs_normalizing

    # -- one conversation -------------------------------------------------------------------

    def render(self, messages: list[dict[str, Any]]) -> Rendered:
        """Render one conversation; raises RenderError."""
        result = self.render_batch([messages])[0]
        if isinstance(result, RenderError):
            raise result
        return result

    def render_text(self, messages: list[dict[str, Any]]) -> str:
        """The exact text the template produces (markers removed, content unescaped)."""
        text = self.template.render(self._escape_messages(messages))
        for marker in MARKERS[:3]:
            text = text.replace(marker, "")
        return self._unescape(text)

    # -- a batch ----------------------------------------------------------------------------

    def render_batch(self, conversations: list[list[dict[str, Any]]]) -> list[Rendered | RenderError]:
        """Render many conversations, tokenizing all their text in one batch call.

        A conversation is encoded whole, the way Hugging Face encodes it, and its tokens are
        weighted by their byte positions. One whose messages had control-token text escaped
        (or whose tokenizer is not byte-level) is cut into pieces at control tokens instead.
        """
        results: list[Rendered | RenderError | None] = [None] * len(conversations)
        marked: dict[int, tuple[str, list[float] | None]] = {}  # conversation -> (text, span flags)
        whole: list[tuple[int, ByteLayout]] = []
        in_pieces: list[int] = []
        for i, messages in enumerate(conversations):
            try:
                text, span_flags, escaped = self._render_marked(messages)
            except RenderError as exc:
                results[i] = exc
                continue
            marked[i] = text, span_flags
            layout = None if escaped or self._token_bytes is None else self._byte_layout(text, span_flags)
            if layout is None:
                in_pieces.append(i)
            else:
                whole.append((i, layout))

        if whole:
            texts = [t for _, layout in whole for t in layout.texts]
            placed = _weigh_by_bytes(self.tokenizer.encode_whole(texts), self._token_bytes, [x for _, x in whole])
            for (i, _), rendered in zip(whole, placed):
                if rendered is None:  # the tokenizer changed the text (e.g. stripped spaces)
                    in_pieces.append(i)
                else:
                    results[i] = rendered
        if in_pieces:
            for i, rendered in zip(in_pieces, self._render_pieces([marked[i] for i in in_pieces])):
                results[i] = rendered
        return results  # type: ignore[return-value]

    # -- internals --------------------------------------------------------------------------

    def _render_marked(self, messages: list[dict[str, Any]]) -> tuple[str, list[float] | None, bool]:
        """The template's text with markers, each span's weight, and whether anything was escaped."""
        escaped = self._escape_messages(messages)
        try:
            text = self.template.render(escaped)
        except TemplateError as exc:
            raise RenderError("template_error", str(exc)) from None
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise RenderError("invalid_unicode", "a message field holds a lone surrogate") from None
        span_flags = self._span_flags(messages)
        num_spans = text.count(GENERATION_START)
        if span_flags is not None and num_spans != len(span_flags):
            raise RenderError(
                "template_spans_mismatch",
                f"the template marked {num_spans} generation spans for "
                f"{len(span_flags)} assistant messages, so per-message choices cannot apply",
            )
        return text, span_flags, escaped is not messages

    def _byte_layout(self, text: str, span_flags: list[float] | None) -> ByteLayout | None:
        """Marked text as texts to encode and trainable byte ranges, markers removed.

        None when byte positions in the text would not be byte positions in the tokens
        (text the tokenizer's NFC normalizer would change).
        """
        parts = _MARKER_SPLIT.split(text)
        in_ascii = text.isascii()
        texts: list[str] = []
        current: list[str] = []
        intervals: list[tuple[int, int]] = []
        pos = opened = 0
        trainable = False
        span = -1
        for k, part in enumerate(parts):
            if k % 2 == 0:  # text between markers
                if part:
                    current.append(part)
                    pos += len(part) if in_ascii else len(part.encode("utf-8"))
                continue
            if trainable and pos > opened:
                intervals.append((opened, pos))
            if part == GENERATION_START:
                span += 1
                trainable, opened = span_flags is None or bool(span_flags[span]), pos
            elif part == GENERATION_END:
                trainable = False
            else:  # ENCODE_BOUNDARY
                texts.append("".join(current))
                current = []
        if trainable and pos > opened:
            intervals.append((opened, pos))
        texts.append("".join(current))
        if not in_ascii and any(map(self._needs_normalizing, texts)):
            return None
        return ByteLayout(texts, intervals, pos)

    def _render_pieces(self, marked: list[tuple[str, list[float] | None]]) -> list[Rendered]:
        """Cut marked texts at control tokens and encode the text between them with `plain`."""
        plans: list[list[tuple]] = []
        pure_texts: list[str] = []
        mixed_texts: list[str] = []
        for text, span_flags in marked:
            plans.append(self._plan(text, span_flags, pure_texts, mixed_texts))
        plain = self.tokenizer.plain
        pure_ids = [e.ids for e in plain.encode_batch_fast(pure_texts, add_special_tokens=False)] if pure_texts else []
        mixed = plain.encode_batch(mixed_texts, add_special_tokens=False) if mixed_texts else []

        results: list[Rendered] = []
        for plan in plans:
            tokens: list[int] = []
            counts: list[int] = []  # tokens per plan entry...
            flags: list[float] = []  # ...and their weight
            patches: list[tuple[int, np.ndarray]] = []  # mixed pieces: (position, weights)
            for kind, value, flag in plan:
                if kind == 0:  # a control token id
                    ids = (value,)
                elif kind == 1:  # a cached piece
                    ids = value
                elif kind == 2:  # a pure piece, tokenized in this batch
                    ids = pure_ids[value]
                    if len(pure_texts[value]) <= _PIECE_CACHE_MAX_CHARS:
                        self._remember(pure_texts[value], ids)
                elif kind == 3:  # a mixed piece, placed by byte lengths: trainable if any byte is
                    ids = pure_ids[value]
                    patches.append((len(tokens), _any_byte_weights(self._token_bytes[ids], flag)))
                    flag = 0.0
                else:  # a mixed piece, placed by the tokenizer's offsets
                    encoding = mixed[value]
                    ids = encoding.ids
                    patches.append((len(tokens), _any_char_weights(encoding.offsets, flag)))
                    flag = 0.0
                tokens.extend(ids)
                counts.append(len(ids))
                flags.append(flag)
            weights = np.repeat(np.asarray(flags, dtype=np.float32), counts)
            for start, piece_weights in patches:
                weights[start : start + len(piece_weights)] = piece_weights
            results.append(Rendered(np.asarray(tokens, dtype=np.int32), weights))
        return results

    def _remember(self, text: str, ids: list[int]) -> None:
        if len(self._piece_cache) >= _PIECE_CACHE_LIMIT:
            self._piece_cache.clear()
        self._piece_cache[text] = ids

    def _escape_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Messages with every string in them (content, tool calls, ...) escaped; the very
        same list when nothing needed escaping."""
        escaped = [self._escape(message) for message in messages]
        return messages if all(map(operator.is_, escaped, messages)) else escaped

    def _escape(self, value: Any) -> Any:
        """`value` with control-token text in its strings escaped (the same object if none)."""
        if type(value) is str:
            if any(map(value.__contains__, self._escape_needles)) and self._escape_re.search(value):
                return self._escape_re.sub(lambda m: self._escapes[m.group()], value)
            return value
        if isinstance(value, dict):
            items = [(self._escape(k), self._escape(v)) for k, v in value.items()]
            unchanged = all(k is k2 and v is v2 for (k, v), (k2, v2) in zip(value.items(), items))
            return value if unchanged else dict(items)
        if isinstance(value, list):
            escaped = [self._escape(v) for v in value]
            return value if all(map(operator.is_, escaped, value)) else escaped
        return value

    def _unescape(self, text: str) -> str:
        if ESCAPE not in text:
            return text
        return self._unescape_re.sub(lambda m: self._unescapes.get(m.group(), m.group()), text)

    def _span_flags(self, messages: list[dict[str, Any]]) -> list[float] | None:
        """Weight of each assistant turn's generation span, in order (None: all trainable)."""
        assistant = [m for m in messages if m.get("role") == "assistant"]
        if self.train_on == "last_assistant":
            flags = [1.0 if i == len(assistant) - 1 else 0.0 for i in range(len(assistant))]
        else:
            flags = [1.0] * len(assistant)
        overridden = False
        for i, message in enumerate(assistant):
            if "trainable" in message:
                flags[i] = 1.0 if message["trainable"] else 0.0
                overridden = True
        if not overridden and self.train_on == "all_assistant":
            return None
        return flags

    def _plan(self, text: str, span_flags: list[float] | None, pure_texts: list[str],
              mixed_texts: list[str]) -> list[tuple]:
        """Cut one conversation's text into control ids and text pieces queued for encoding.

        Plan entries are (kind, value, weight): 0 = control id, 1 = cached ids, 2 = index into
        pure_texts, 3 = index into pure_texts of a mixed piece (weight = its trainable byte
        intervals), 4 = index into mixed_texts (weight = trainable character intervals).
        """
        plan: list[tuple] = []
        runs: list[tuple[str, float]] = []  # the text piece being gathered: (text, weight) runs
        control_ids = self._control_ids
        cache = self._piece_cache
        unescape = self._unescape

        def flush() -> None:
            if not runs:
                return
            if len(runs) == 1 or all(w == runs[0][1] for _, w in runs):
                piece = "".join(t for t, _ in runs)
                weight = runs[0][1]
                cached = cache.get(piece)
                if cached is not None:
                    plan.append((1, cached, weight))
                else:
                    plan.append((2, len(pure_texts), weight))
                    pure_texts.append(piece)
            else:
                piece = "".join(t for t, _ in runs)
                if self._token_bytes is not None and not self._needs_normalizing(piece):
                    plan.append((3, len(pure_texts), _run_layout(runs, in_bytes=True)))
                    pure_texts.append(piece)
                else:
                    plan.append((4, len(mixed_texts), _run_layout(runs)))
                    mixed_texts.append(piece)
            runs.clear()

        weight = 0.0
        span = -1
        pos = 0
        for match in self._split.finditer(text):
            start = match.start()
            if start > pos:
                runs.append((unescape(text[pos:start]), weight))
            pos = match.end()
            token = match.group()
            if token == GENERATION_START:
                span += 1
                weight = 1.0 if span_flags is None else span_flags[span]
            elif token == GENERATION_END:
                weight = 0.0
            elif token == ENCODE_BOUNDARY:
                flush()
            else:
                flush()
                plan.append((0, control_ids[token], weight))
        if pos < len(text):
            runs.append((unescape(text[pos:]), weight))
        flush()
        return plan


def build_renderer(
    template: str = "llama3",
    tokenizer: str | None = None,
    *,
    train_on: str = "all_assistant",
    parse_special_tokens: bool = False,
    date_string: str = DEFAULT_DATE_STRING,
    load: Callable[[str], TokenizerBundle] = load_tokenizer,
) -> Renderer:
    """A Renderer for a template name or file and a tokenizer (default: the template's)."""
    chat = load_template(template, date_string)
    name = tokenizer or chat.tokenizer
    if name is None:
        raise TemplateError(f"template {template} names no tokenizer; pass --tokenizer")
    return Renderer(chat, load(name), train_on=train_on,  # type: ignore[arg-type]
                    parse_special_tokens=parse_special_tokens)


def _weigh_by_bytes(segment_ids: list[list[int]], token_bytes: np.ndarray,
                    layouts: list[ByteLayout]) -> list[Rendered | None]:
    """Rows from the ids of their encoded texts (in order), weighted in one pass for the batch.

    A token is trainable if any of its bytes lies in one of its row's trainable byte
    intervals (Hugging Face's any-character rule). A row whose tokens do not add up to its
    text's bytes (a tokenizer that strips or rewrites text) comes back as None.
    """
    num_segments = np.fromiter(map(len, segment_ids), np.int64, len(segment_ids))
    tokens = np.fromiter(chain.from_iterable(segment_ids), np.int32, int(num_segments.sum()))
    lengths = token_bytes[tokens]
    ends = np.cumsum(lengths)  # byte offsets over the whole batch
    starts = ends - lengths
    first_segment = np.cumsum([0, *(len(layout.texts) for layout in layouts)])
    segment_bounds = np.concatenate([[0], np.cumsum(num_segments)])
    row_bounds = segment_bounds[first_segment]  # token index where each row starts / ends
    byte_bounds = np.concatenate([[0], ends])[row_bounds]
    ok = np.diff(byte_bounds) == np.fromiter((layout.num_bytes for layout in layouts), np.int64, len(layouts))

    marks = np.zeros(len(tokens) + 1, dtype=np.int32)
    rows = [r for r, layout in enumerate(layouts) if ok[r] for _ in layout.intervals]
    if rows:
        spans = np.array([span for r, layout in enumerate(layouts) if ok[r] for span in layout.intervals],
                         dtype=np.int64)
        base = byte_bounds[rows]
        np.add.at(marks, np.searchsorted(ends, base + spans[:, 0], "right"), 1)
        np.add.at(marks, np.searchsorted(starts, base + spans[:, 1], "left"), -1)
    weights = (np.cumsum(marks[:-1]) > 0).astype(np.float32)
    return [
        Rendered(tokens[a:b], weights[a:b]) if good else None
        for a, b, good in zip(row_bounds[:-1].tolist(), row_bounds[1:].tolist(), ok.tolist())
    ]


def _run_layout(runs: list[tuple[str, float]], in_bytes: bool = False) -> list[tuple[int, int]]:
    """Intervals [start, end) of the trainable runs of a mixed piece, in characters or bytes."""
    intervals = []
    pos = 0
    for text, weight in runs:
        end = pos + (len(text.encode("utf-8")) if in_bytes else len(text))
        if weight and end > pos:
            if intervals and intervals[-1][1] == pos:
                intervals[-1] = (intervals[-1][0], end)
            else:
                intervals.append((pos, end))
        pos = end
    return intervals


def _any_byte_weights(token_bytes: np.ndarray, intervals: list[tuple[int, int]]) -> np.ndarray:
    ends = np.cumsum(token_bytes)
    starts = ends - token_bytes
    trainable = np.zeros(len(token_bytes), dtype=bool)
    for a, b in intervals:
        trainable |= (starts < b) & (ends > a)
    return trainable


def _any_char_weights(offsets: list[tuple[int, int]], intervals: list[tuple[int, int]]) -> list[float]:
    weights = []
    for start, end in offsets:
        weights.append(1.0 if any(start < b and end > a for a, b in intervals) else 0.0)
    return weights
