"""Render conversations into token ids and per-token loss weights, a batch at a time.

A conversation is rendered by its chat template into text carrying markers (the table in
`chat_template`) around what is trainable. Normally the markers are removed and every
conversation of the batch is tokenized whole, exactly as Hugging Face tokenizes it, and its
tokens are weighted by byte position (`layout`). Message text never becomes a control token
unless `parse_special_tokens` is set: a conversation whose messages held control-token strings
had them escaped (`escape`) and is encoded in pieces instead (`pieces`), as are conversations of
tokenizers that are not byte-level.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from enum import StrEnum
from typing import Any

from ..outcome import Invalid, Reason
from ..tokenizer import TokenizerBundle, load_tokenizer
from .catalog import DEFAULT_DATE_STRING, load_template
from .chat_template import ENCODE_BOUNDARY, GENERATION_END, GENERATION_START, MARKERS, ChatTemplate, TemplateError
from .escape import Escaper, alternation
from .layout import ByteLayout, Rendered, byte_layout, weigh_by_bytes
from .pieces import PieceEncoder


class TrainOn(StrEnum):
    """Which assistant messages are trainable (a message's own `trainable` key wins)."""

    ALL_ASSISTANT = "all_assistant"
    LAST_ASSISTANT = "last_assistant"


class RenderError(Invalid):
    """A conversation that cannot be rendered (becomes a reject with `reason`)."""


class Renderer:
    """Turns conversations into (tokens, weights) with one chat template and one tokenizer."""

    def __init__(self, template: ChatTemplate, tokenizer: TokenizerBundle, *,
                 train_on: TrainOn | str = TrainOn.ALL_ASSISTANT, parse_special_tokens: bool = False):
        if template.bos_token is None and tokenizer.bos_token:
            template = dataclasses.replace(template, bos_token=tokenizer.bos_token)
        self.template = template
        self.tokenizer = tokenizer
        self.train_on = TrainOn(train_on)
        self.parse_special_tokens = parse_special_tokens
        self.escaper = Escaper(tokenizer.control_tokens, parse_special_tokens)
        control_split = re.compile(alternation([*tokenizer.control_tokens, GENERATION_START, GENERATION_END,
                                                ENCODE_BOUNDARY]))
        self._pieces = PieceEncoder(tokenizer, control_split, self.escaper.unescape, self._changes_under_normalizer)

    def render(self, messages: list[dict[str, Any]]) -> Rendered:
        """Render one conversation; raises RenderError."""
        result = self.render_batch([messages])[0]
        if isinstance(result, RenderError):
            raise result
        return result

    def render_text(self, messages: list[dict[str, Any]]) -> str:
        """The exact text the template produces (markers removed, content unescaped)."""
        text = self.template.render(self.escaper.escape_messages(messages))
        for marker in MARKERS[:3]:
            text = text.replace(marker, "")
        return self.escaper.unescape(text)

    def render_batch(self, conversations: list[list[dict[str, Any]]]) -> list[Rendered | RenderError]:
        """Render many conversations, tokenizing all their text in one batch call."""
        results: list[Rendered | RenderError | None] = [None] * len(conversations)
        marked: dict[int, tuple[str, list[float] | None]] = {}
        whole: list[tuple[int, ByteLayout]] = []
        in_pieces: list[int] = []
        for i, messages in enumerate(conversations):
            try:
                text, span_flags, escaped = self._render_marked(messages)
            except RenderError as exc:
                results[i] = exc
                continue
            marked[i] = text, span_flags
            layout = None
            if not escaped and self.tokenizer.token_bytes is not None:
                layout = byte_layout(text, span_flags, self._changes_under_normalizer)
            if layout is None:
                in_pieces.append(i)
            else:
                whole.append((i, layout))
        if whole:
            texts = [t for _, layout in whole for t in layout.texts]
            placed = weigh_by_bytes(self.tokenizer.encode_whole(texts), self.tokenizer.token_bytes,
                                    [layout for _, layout in whole])
            for (i, _), rendered in zip(whole, placed):
                if rendered is None:  # the tokenizer changed the text (e.g. stripped spaces)
                    in_pieces.append(i)
                else:
                    results[i] = rendered
        if in_pieces:
            for i, rendered in zip(in_pieces, self._pieces.encode([marked[i] for i in in_pieces])):
                results[i] = rendered
        return results  # type: ignore[return-value]

    def _render_marked(self, messages: list[dict[str, Any]]) -> tuple[str, list[float] | None, bool]:
        """The template's text with markers, each span's weight, and whether anything was escaped."""
        escaped = self.escaper.escape_messages(messages)
        try:
            text = self.template.render(escaped)
        except TemplateError as exc:
            raise RenderError(Reason.TEMPLATE_ERROR, str(exc)) from None
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise RenderError(Reason.INVALID_UNICODE, "a message field holds a lone surrogate") from None
        span_flags = self._span_flags(messages)
        num_spans = text.count(GENERATION_START)
        if span_flags is not None and num_spans != len(span_flags):
            raise RenderError(
                Reason.TEMPLATE_SPANS_MISMATCH,
                f"the template marked {num_spans} generation spans for "
                f"{len(span_flags)} assistant messages, so per-message choices cannot apply",
            )
        return text, span_flags, escaped is not messages

    def _span_flags(self, messages: list[dict[str, Any]]) -> list[float] | None:
        """Weight of each assistant turn's generation span, in order (None: all trainable)."""
        assistant = [m for m in messages if m.get("role") == "assistant"]
        last_only = self.train_on is TrainOn.LAST_ASSISTANT
        flags = [1.0 if not last_only or i == len(assistant) - 1 else 0.0 for i in range(len(assistant))]
        overridden = False
        for i, message in enumerate(assistant):
            if "trainable" in message:
                flags[i] = 1.0 if message["trainable"] else 0.0
                overridden = True
        return None if not overridden and not last_only else flags

    def _changes_under_normalizer(self, text: str) -> bool:
        return self.tokenizer.normalizes_nfc and not unicodedata.is_normalized("NFC", text)


def build_renderer(
    template: str = "llama3",
    tokenizer: str | None = None,
    *,
    train_on: TrainOn | str = TrainOn.ALL_ASSISTANT,
    parse_special_tokens: bool = False,
    date_string: str = DEFAULT_DATE_STRING,
) -> Renderer:
    """A Renderer for a template name or file and a tokenizer (default: the template's)."""
    chat = load_template(template, date_string)
    name = tokenizer or chat.tokenizer
    if name is None:
        raise TemplateError(f"template {template} names no tokenizer; pass --tokenizer")
    return Renderer(chat, load_tokenizer(name), train_on=train_on, parse_special_tokens=parse_special_tokens)
