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
| OWN U+F0004 | a template compiled with `own` | the control token or marker after it was written by the template itself (see `provenance`); removed before tokenizing |

So a template can only mark what *it* writes, and message text can neither hold a marker or a
control token (`escape`) nor have the template make one from it (`provenance`).
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..outcome import Reason
from .limits import LimitedEnvironment, TemplateLimit, cpu_time_limit, limited_callable

if TYPE_CHECKING:
    from .provenance import Owner

# Supplementary private-use characters: reserved for datakit's markers and content escapes.
GENERATION_START = "\U000f0000"
GENERATION_END = "\U000f0001"
ENCODE_BOUNDARY = "\U000f0002"
ESCAPE = "\U000f0003"
OWN = "\U000f0004"
MARKERS = (GENERATION_START, GENERATION_END, ENCODE_BOUNDARY, ESCAPE, OWN)


class TemplateError(ValueError):
    """A template could not be loaded, or failed while rendering a conversation (`reason`)."""

    def __init__(self, message: str, reason: Reason = Reason.TEMPLATE_ERROR):
        super().__init__(message)
        self.reason = reason


class _GenerationTracker(Extension):
    """`{% generation %}...{% endgeneration %}` (Hugging Face's tag) marks trainable text."""

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    def _mark(self, caller: Any) -> str:
        own = self.environment.datakit_own  # type: ignore[attr-defined]
        return own + GENERATION_START + caller() + own + GENERATION_END


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


def _json_loads(text: str) -> Any:
    """`json.loads(text)`, refusing to decode datakit's reserved characters: a template must not
    make a marker (or OWN) out of message text's JSON escapes."""
    value = json.loads(text)
    if len(_RESERVED.findall(json.dumps(value, ensure_ascii=False))) > len(_RESERVED.findall(text)):
        raise ValueError("json_loads decoded one of datakit's reserved characters (U+F0000-U+F00FF)")
    return value


_RESERVED = re.compile("[\U000f0000-\U000f00ff]")


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def compile_template(source: str, owner: Owner | None = None, limited: bool = False) -> jinja2.Template:
    """Compile a chat template the way `transformers` does, plus datakit's helpers.

    With an `owner`, the markers, and the control-token strings of the template's literal text
    that it owns, are written as the template's own (OWN before each; see `provenance`).
    `limited`: every operator, filter and call is checked against the bounds of `limits`.
    """
    environment = LimitedEnvironment if limited else ImmutableSandboxedEnvironment
    env = environment(trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTracker, loopcontrols])
    env.extend(datakit_own="" if owner is None else OWN)
    env.filters["tojson"] = _tojson
    env.filters["json_dumps"] = _json_dumps  # Python's defaults, as tinker-cookbook writes JSON
    env.filters["json_loads"] = _json_loads
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["encode_boundary"] = env.datakit_own + ENCODE_BOUNDARY  # type: ignore[attr-defined]
    if limited:
        env.filters = {name: limited_callable(f) for name, f in env.filters.items()}
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error, line {exc.lineno}: {exc.message}") from None
    return env.from_string(ast if owner is None else owner.own_literals(ast))


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
    limited: bool = False  # run under `limits` (a template from a file)

    @cached_property
    def compiled(self) -> jinja2.Template:
        return compile_template(self.source, limited=self.limited)

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
        return self.run(self.compiled, messages, tools, {**dict(self.variables), **(kwargs or {})},
                        self.bos_token or "", add_generation_prompt)

    def run(self, compiled: jinja2.Template, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
            variables: dict[str, Any], bos_token: str, add_generation_prompt: bool = False) -> str:
        """One run of this template, as `compiled` (plain, or owning its markup); raises TemplateError."""
        try:
            with cpu_time_limit() if self.limited else nullcontext():
                return compiled.render(**variables, messages=messages, tools=tools,
                                       add_generation_prompt=add_generation_prompt, bos_token=bos_token)
        except TemplateLimit as exc:
            raise TemplateError(f"template error: {exc}", exc.reason) from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template error: {exc}") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError,
                ZeroDivisionError, RecursionError, MemoryError) as exc:
            raise TemplateError(f"template error: {exc.__class__.__name__}: {exc}") from None
