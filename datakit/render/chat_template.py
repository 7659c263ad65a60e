"""Chat templates: compile a Jinja2 chat template and render a conversation to marked-up text.

Templates run in the environment Hugging Face `transformers` uses (sandboxed, `trim_blocks`,
`lstrip_blocks`, `raise_exception`, `tojson`, `strftime_now`), so the text is byte-identical
to `apply_chat_template`. The built-in templates are listed in `catalog`.

Marker protocol. The rendered text carries characters from Unicode's supplementary private-use
plane that no tokenizer sees; the renderer reads and removes them:

| character | written by | means |
|---|---|---|
| GENERATION_START U+F0000 | `{% generation %}` | trainable text starts (one assistant turn's span) |
| GENERATION_END U+F0001 | `{% endgeneration %}` | trainable text ends |
| ENCODE_BOUNDARY U+F0002 | `{{ encode_boundary }}` in datakit's cookbook templates | tokenize the text before and after separately (tinker-cookbook encodes header and body apart) |
| ESCAPE U+F0003 + one character U+F0100+i | the renderer's escaper, inside message fields | stands for the i-th string message text may not hold verbatim (a marker, or a control token such as `<|im_end|>`); turned back into that text after tokenizing |

So a template can only mark what *it* writes, and message text can neither forge a marker nor a
control token (see `escape`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Supplementary private-use characters: reserved for datakit's markers and content escapes.
GENERATION_START = "\U000f0000"
GENERATION_END = "\U000f0001"
ENCODE_BOUNDARY = "\U000f0002"
ESCAPE = "\U000f0003"
MARKERS = (GENERATION_START, GENERATION_END, ENCODE_BOUNDARY, ESCAPE)


class TemplateError(ValueError):
    """A template could not be loaded, or failed while rendering a conversation."""


class _GenerationTracker(Extension):
    """`{% generation %}...{% endgeneration %}` (Hugging Face's tag) marks trainable text."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    @staticmethod
    def _mark(caller: Any) -> str:
        return GENERATION_START + caller() + GENERATION_END


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_dumps(x: Any) -> str:
    """`json.dumps(x)` (ASCII-escaped), except that datakit's markers stay raw characters."""
    return _NON_ASCII.sub(_escape_non_ascii, json.dumps(x, ensure_ascii=False))


def _escape_non_ascii(match: re.Match) -> str:
    char = match.group()
    return char if "\U000f0000" <= char <= "\U000fffff" else json.dumps(char)[1:-1]


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def compile_template(source: str) -> jinja2.Template:
    """Compile a chat template the way `transformers` does, plus datakit's helpers."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTracker, loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.filters["json_dumps"] = _json_dumps  # Python's defaults, as tinker-cookbook writes JSON
    env.filters["json_loads"] = json.loads
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["encode_boundary"] = ENCODE_BOUNDARY
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error, line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class ChatTemplate:
    """A chat format: its Jinja source, the tokenizer it goes with, and what it accepts."""

    name: str
    source: str = field(repr=False)
    tokenizer: str | None
    bos_token: str | None = None
    roles: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
    variables: tuple[tuple[str, Any], ...] = ()
    renders_reasoning: bool | None = None  # None: decided from the source
    thinks_by_default: bool = True  # without enable_thinking, the generation prompt opens <think>

    @cached_property
    def compiled(self) -> jinja2.Template:
        return compile_template(self.source)

    @property
    def writes_reasoning(self) -> bool:
        """Whether the template can write an assistant message's `reasoning_content` at all."""
        if self.renders_reasoning is not None:
            return self.renders_reasoning
        return "reasoning_content" in self.source or "thinking" in self.source

    @property
    def takes_thinking_switch(self) -> bool:
        """Whether `enable_thinking` (a chat-template kwarg) changes what the template writes."""
        return "enable_thinking" in self.source

    @property
    def reads_inline_reasoning(self) -> bool:
        """Whether the template takes `<think>...</think>` in an assistant's content as its
        reasoning (Qwen3, Qwen3.5 and 3.6 do; Qwen3.8 writes it as content)."""
        return "'</think>' in " in self.source

    def thinking_disabled(self, kwargs: dict[str, Any]) -> bool:
        """Whether the generation prompt these kwargs give closes the think block: the model
        is asked not to reason (`enable_thinking` false, or not true where that is the default)."""
        if not self.takes_thinking_switch:
            return False
        value = kwargs.get("enable_thinking")
        return value is False if self.thinks_by_default else value is not True

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
               kwargs: dict[str, Any] | None = None, add_generation_prompt: bool = False) -> str:
        """The conversation as the template writes it for training (no generation prompt), the
        way `apply_chat_template(messages, tools=tools, **kwargs)` calls it."""
        try:
            return self.compiled.render(
                **{**dict(self.variables), **(kwargs or {})},
                messages=messages,
                tools=tools,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token or "",
            )
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template error: {exc}") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError,
                ZeroDivisionError, RecursionError, MemoryError) as exc:
            raise TemplateError(f"template error: {exc.__class__.__name__}: {exc}") from None
