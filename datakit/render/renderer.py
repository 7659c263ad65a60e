"""Render conversations into token ids and per-token loss weights, a batch at a time.

A conversation is rendered by its chat template into text carrying markers (the table in
`chat_template`) around what is trainable. Normally the markers are removed and every
conversation of the batch is tokenized whole, exactly as Hugging Face tokenizes it, and its
tokens are weighted by byte position (`layout`). Message text never becomes a control token
unless `parse_special_tokens` is set: a conversation whose messages held control-token strings
had them escaped (`escape`) and is encoded in pieces instead (`pieces`), as are conversations of
tokenizers that are not byte-level. Every rendered text is checked to hold no control token or
marker the template did not write itself (`provenance`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Sequence

import numpy as np

from ..outcome import Invalid, Reason
from ..read import Conversation, RecordParser
from ..read.normalize import has_lone_surrogate
from ..bundled import StartedBundle
from ..tokenizer import TokenizerBundle, load_tokenizer
from .catalog import DEFAULT_DATE_STRING, load_template, tokenizer_name
from .chat_template import ENCODE_BOUNDARY, GENERATION_END, GENERATION_START, MARKERS, OWN, ChatTemplate, TemplateError
from .escape import Escaper, alternation
from .bounded import CHUNK_CHARS, Tail, count_tokens, cut_keeping
from .layout import ByteLayout, Rendered, byte_layout, weigh_by_bytes
from .pieces import PieceEncoder
from .provenance import Forged, OwnedTemplate


class TrainOn(StrEnum):
    """Which assistant messages are trainable (a message's own `trainable` key wins)."""

    ALL_ASSISTANT = "all_assistant"
    LAST_ASSISTANT = "last_assistant"


class RenderError(Invalid):
    """A conversation that cannot be rendered (becomes a reject with `reason`)."""


Renderable = Conversation | list | dict  # a parsed conversation, a list of messages, or a record


@dataclass
class _TextBatch:
    """Conversations rendered to text, not yet encoded (`Renderer._render_texts`)."""

    results: list[Rendered | RenderError | None]  # the errors so far, by position
    marked: dict[int, tuple[str, list[float] | None]] = field(default_factory=dict)  # text, span weights
    rendered: dict[int, Conversation] = field(default_factory=dict)  # what a whole-text layout came from
    dropped: dict[int, int] = field(default_factory=dict)  # reasoning the template left out
    whole: list[tuple[int, ByteLayout]] = field(default_factory=list)  # encoded whole
    in_pieces: list[int] = field(default_factory=list)  # encoded in pieces
    tails: dict[int, Tail] = field(default_factory=dict)  # cut off a huge last message (`bounded`)


class Renderer:
    """Turns conversations into (tokens, weights) with one chat template and one tokenizer.

    `drop_reasoning` removes `reasoning_content` before rendering; without it, reasoning on a
    template that never writes any is a `reasoning_dropped` reject rather than lost unseen.
    """

    def __init__(self, template: ChatTemplate, tokenizer: TokenizerBundle, *,
                 train_on: TrainOn | str = TrainOn.ALL_ASSISTANT, parse_special_tokens: bool = False,
                 drop_reasoning: bool = False, chat_template_kwargs: dict[str, Any] | None = None):
        if template.bos_token is None and tokenizer.bos_token:
            template = dataclasses.replace(template, bos_token=tokenizer.bos_token)
        self.template = template
        self.tokenizer = tokenizer
        self.train_on = TrainOn(train_on)
        self.parse_special_tokens = parse_special_tokens
        self.drop_reasoning = drop_reasoning
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.parser = RecordParser(template.roles)
        self.escaper = Escaper(tokenizer.control_tokens, parse_special_tokens)
        self._owned = OwnedTemplate(template, tokenizer.control_tokens, parse_special_tokens,
                                    self.chat_template_kwargs, tokenizer.name)
        ids = list(tokenizer.control_tokens.values())
        # Indexed by the ids of the whole-text path, which has `token_bytes` for every id.
        self._is_control = np.zeros(max([0 if tokenizer.token_bytes is None else len(tokenizer.token_bytes), *(i + 1 for i in ids)]), bool)
        self._is_control[ids] = True
        control_split = re.compile(alternation([*tokenizer.control_tokens, GENERATION_START, GENERATION_END,
                                                ENCODE_BOUNDARY]))
        self._max_token_bytes = 0 if tokenizer.token_bytes is None else int(tokenizer.token_bytes.max())
        self._pieces = PieceEncoder(tokenizer, control_split, self.escaper.unescape, tokenizer.needs_normalizing)

    def ready(self) -> None:
        """Return once the tokenizer's encoder is loaded (`encoder.WholeTextEncoder.wait`)."""
        self.tokenizer.whole.wait()

    def render(self, conversation: Renderable) -> Rendered:
        """Render one conversation; raises RenderError."""
        result = self.render_batch([conversation])[0]
        if isinstance(result, RenderError):
            raise result
        return result

    def render_text(self, conversation: Renderable) -> str:
        """The exact text the template produces (markers removed, content unescaped)."""
        conversation = self.conversation(conversation)
        text = self.template.render(self.escaper.escape_messages(self._messages(conversation)),
                                    self.escaper.escape(conversation.tools), self.kwargs(conversation))
        return self.escaper.unescape(_unmarked(text))

    def conversation(self, item: Renderable) -> Conversation:
        """`item` parsed and normalized as `datakit render` reads records (raises RenderError)."""
        if isinstance(item, Conversation):
            return item
        try:
            return self.parser.parse_value({"messages": item} if isinstance(item, list) else item)
        except Invalid as exc:
            raise RenderError(exc.reason, exc.detail) from None

    def render_batch(self, conversations: Sequence[Renderable],
                     keep_tokens: int | None = None) -> list[Rendered | RenderError]:
        """Render many conversations, tokenizing all their text in one batch call. With
        `keep_tokens`, only the first that many tokens of a row need to be exact (`bounded`)."""
        return self._encode_texts(self._render_texts(conversations, keep_tokens))

    def _render_texts(self, conversations: Sequence[Renderable], keep_tokens: int | None) -> _TextBatch:
        """The first half of `render_batch`: the templates' texts."""
        batch = _TextBatch([None] * len(conversations))
        for i, item in enumerate(conversations):
            try:
                conversation = self.conversation(item)
                if keep_tokens is not None:
                    conversation, tail = self._cut_last_message(conversation, keep_tokens)
                    if tail is not None:
                        batch.tails[i] = tail
                text, span_flags, escaped, batch.dropped[i] = self._render_marked(conversation)
                layout = None if escaped else self._whole_layout(text, span_flags)
                if layout is None:
                    text = self._checked(text)
            except RenderError as exc:
                batch.results[i] = exc
                continue
            if layout is None:
                batch.marked[i] = text, span_flags
                batch.in_pieces.append(i)
            else:  # its marked text (four bytes a character) is made again if the layout fails
                batch.whole.append((i, layout))
                batch.rendered[i] = conversation
        return batch

    def _encode_texts(self, batch: _TextBatch) -> list[Rendered | RenderError]:
        """The second half of `render_batch`: encode the texts and weigh their tokens."""
        results, marked, in_pieces = batch.results, batch.marked, batch.in_pieces
        if batch.whole:
            texts = [t for _, layout in batch.whole for t in layout.texts]
            # A row whose control ids are not exactly where its template wrote control tokens
            # comes back None, as does one whose bytes do not add up (a tokenizer that strips
            # text): the pieces path renders it, after the exact check of what the template wrote.
            placed = weigh_by_bytes(self.tokenizer.encode_whole(texts), self.tokenizer.token_bytes,
                                    [layout for _, layout in batch.whole],
                                    self._is_control if self._owned.provenance.checks_tokens else None)
            for (i, _), rendered in zip(batch.whole, placed):
                if rendered is not None:
                    results[i] = rendered
                    continue
                try:
                    text, span_flags, _, _ = self._render_marked(batch.rendered[i])
                    marked[i] = self._checked(text), span_flags
                    in_pieces.append(i)
                except RenderError as exc:
                    results[i] = exc
        if in_pieces:
            for i, rendered in zip(in_pieces, self._pieces.encode([marked[i] for i in in_pieces])):
                results[i] = rendered
        for i, count in batch.dropped.items():
            if count and isinstance(results[i], Rendered):
                results[i] = dataclasses.replace(results[i], reasoning_dropped=count)
        for i, tail in batch.tails.items():
            if isinstance(results[i], Rendered):
                counted = count_tokens(tail, self._count)
                results[i] = dataclasses.replace(results[i], tail_tokens=counted,
                                                 tail_trainable=counted if tail.trainable else 0)
        return results  # type: ignore[return-value]

    def _count(self, texts: list[str]) -> int:
        return int(self.tokenizer.encode_whole(texts).bounds[-1])

    def _cut_last_message(self, conversation: Conversation, keep_tokens: int) -> tuple[Conversation, Tail | None]:
        """The conversation with its last message cut at a safe boundary past what `keep_tokens`
        tokens can span, and what was cut; or as it is, when it is short or not a case `bounded`
        covers (a bundled tokenizer, a built-in template's plain chat, no markup in the rest)."""
        messages = conversation.messages
        content = messages[-1].get("content") if messages else None
        at = keep_tokens * self._max_token_bytes
        # (`in` finds one character several times faster than a string: "<" first.)
        if (not isinstance(content, str) or len(content) <= at + CHUNK_CHARS or not self.tokenizer.bundled
                or self.tokenizer.token_bytes is None or ("<" in content and "</think>" in content)
                or self.escaper.escape(content) is not content):
            return conversation, None
        native = self._owned.native_for(messages, conversation.tools, conversation.kwargs)
        if native is None:
            return conversation, None
        cut = cut_keeping(content, keep_tokens, at, self._count)  # counts with the encoder: after the cheap tests
        end = native.content_end(content)
        if cut is None or end <= cut:
            return conversation, None
        last = messages[-1]
        trainable = last["role"] == "assistant" and trainable_turns(messages, self.train_on)[len(messages) - 1]
        shortened = [*messages[:-1], {**last, "content": content[:cut]}]
        return dataclasses.replace(conversation, messages=shortened), Tail(content, cut, end, trainable)

    def _whole_layout(self, text: str, span_flags: list[float] | None) -> ByteLayout | None:
        """The layout to encode `text` whole with, or None for the pieces path; raises RenderError
        for a marker made from data."""
        if self.tokenizer.token_bytes is None:
            return None
        layout = byte_layout(text, span_flags, self.tokenizer.needs_normalizing)
        if layout is not None and layout.unowned_marker:
            self._checked(text)  # raises, naming the marker
            return None
        return layout

    def _checked(self, text: str) -> str:
        """`text` without its OWNs, once every control token and marker in it is known to be the
        template's own; raises RenderError (forged_control_token)."""
        try:
            return self._owned.provenance.verify(text)
        except Forged as exc:
            raise RenderError(Reason.FORGED_CONTROL_TOKEN, str(exc)) from None

    def kwargs(self, conversation: Conversation) -> dict[str, Any]:
        """The chat-template kwargs a conversation renders with: the renderer's, then its own."""
        if not conversation.kwargs:
            return self.chat_template_kwargs
        return {**self.chat_template_kwargs, **self.escaper.escape(conversation.kwargs)}

    def _messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        messages = conversation.messages
        if self.drop_reasoning and any("reasoning_content" in m for m in messages):
            messages = [{k: v for k, v in m.items() if k not in _REASONING_KEYS} for m in messages]
        return messages

    def _render_marked(self, conversation: Conversation) -> tuple[str, list[float] | None, bool, int]:
        """The template's text with markers, each span's weight, whether anything was escaped,
        and how many assistant turns had their reasoning left out by the template."""
        messages = self._messages(conversation)
        if not self.template.writes_reasoning:
            with_reasoning = [i for i, m in enumerate(messages) if m.get("reasoning_content")]
            if with_reasoning:
                raise RenderError(Reason.REASONING_DROPPED,
                                  f"message {with_reasoning[0]} has reasoning_content, which template "
                                  f"{self.template.name} never writes; pass --drop-reasoning to train without it")
        kwargs = self.kwargs(conversation)
        if self.template.thinking_disabled(kwargs):
            inline = self.template.reads_inline_reasoning
            with_reasoning = [i for i, m in enumerate(messages) if m.get("reasoning_content") or (
                inline and m["role"] == "assistant" and "</think>" in m["content"])]
            if with_reasoning:
                off = (f"enable_thinking is {json.dumps(kwargs['enable_thinking'])}" if "enable_thinking" in kwargs
                       else f"template {self.template.name} does not think unless enable_thinking is true")
                raise RenderError(Reason.REASONING_WITH_THINKING_DISABLED,
                                  f"message {with_reasoning[0]} has reasoning, but {off}: the model is asked "
                                  "not to reason")
        escaped = self.escaper.escape_messages(messages)
        tools = self.escaper.escape(conversation.tools)
        try:
            text = self._owned.render(escaped, tools, self.escaper.escape(conversation.kwargs))
        except TemplateError as exc:
            raise RenderError(exc.reason, str(exc)) from None
        if has_lone_surrogate(text):
            raise RenderError(Reason.INVALID_UNICODE, "a message field holds a lone surrogate")
        span_flags = self._span_flags(messages)
        num_spans = text.count(GENERATION_START)  # one character is counted faster than two
        if span_flags is not None and num_spans != len(span_flags):
            num_spans = text.count(OWN + GENERATION_START)  # the template's own: a forged one is rejected later
        if span_flags is not None and num_spans != len(span_flags):
            raise RenderError(
                Reason.TEMPLATE_SPANS_MISMATCH,
                f"the template marked {num_spans} generation spans for "
                f"{len(span_flags)} assistant messages, so per-message choices cannot apply",
            )
        missing = [t["function"]["name"] for t in tools or () if t["function"]["name"] not in text]
        if missing:
            raise RenderError(Reason.TOOLS_DROPPED, f"template {self.template.name} does not write the tool "
                              f"definitions (no {missing[0]!r} in its text)")
        trained = trainable_turns(messages, self.train_on)
        return text, span_flags, escaped is not messages, _left_out(escaped, text, self.template.name, trained)

    def _span_flags(self, messages: list[dict[str, Any]]) -> list[float] | None:
        """Weight of each assistant turn's generation span, in order (None: all trainable)."""
        if self.train_on is TrainOn.ALL_ASSISTANT and not any(
                "trainable" in m for m in messages if m.get("role") == "assistant"):
            return None
        return [1.0 if trainable else 0.0 for trainable in trainable_turns(messages, self.train_on).values()]


def trainable_turns(messages: list[dict[str, Any]], train_on: TrainOn) -> dict[int, bool]:
    """Whether each assistant message (by its index) is trained: by `train_on`, unless the
    message's own `trainable` says otherwise."""
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    last_only = train_on is TrainOn.LAST_ASSISTANT
    return {i: messages[i].get("trainable", not last_only or i == assistant[-1]) for i in assistant}


_REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")


def _left_out(messages: list[dict[str, Any]], text: str, template: str, trained: dict[int, bool]) -> int:
    """Raise `content_dropped` for an assistant's text beside tool calls that the template did
    not write; count the trained assistant turns whose reasoning it did not write (history it
    rewrites). Reasoning is `reasoning_content`, or a `<think>...</think>` block leading the content."""
    dropped = 0
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        content = message["content"]
        thought, _, visible = content.rpartition("</think>")
        if "tool_calls" in message and visible.strip() and visible.strip() not in text:
            raise RenderError(Reason.CONTENT_DROPPED,
                              f"message {i} has text beside its tool calls, which template {template} does not write")
        reasoning = message.get("reasoning_content", thought.rpartition("<think>")[2]).strip()
        if trained[i] and reasoning and reasoning not in text:
            dropped += 1
    return dropped


def _unmarked(text: str) -> str:
    for marker in MARKERS[:3]:
        text = text.replace(marker, "")
    return text


def build_renderer(
    template: str = "llama3",
    tokenizer: str | None = None,
    *,
    train_on: TrainOn | str = TrainOn.ALL_ASSISTANT,
    parse_special_tokens: bool = False,
    date_string: str = DEFAULT_DATE_STRING,
    drop_reasoning: bool = False,
    chat_template_kwargs: dict[str, Any] | None = None,
    started_tokenizer: StartedBundle | None = None,
    fast_encoder: bool = True,
) -> Renderer:
    """A Renderer for a template name or file and a tokenizer (default: the template's).
    `started_tokenizer` (`bundled.start_bundled`) is used if it is the tokenizer that is loaded;
    `fast_encoder` is `load_bundled`'s `fast` (False: for a few conversations)."""
    chat = load_template(template, date_string)
    bundle = load_tokenizer(tokenizer_name(chat, tokenizer), started_tokenizer, fast_encoder)
    return Renderer(chat, bundle, train_on=train_on, parse_special_tokens=parse_special_tokens,
                    drop_reasoning=drop_reasoning, chat_template_kwargs=chat_template_kwargs)
