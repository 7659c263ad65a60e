"""Chat templates: load a Jinja2 chat template and render a conversation to marked-up text.

Templates run in the environment Hugging Face `transformers` uses (sandboxed, `trim_blocks`,
`lstrip_blocks`, `raise_exception`, `tojson`, `strftime_now`), so the text is byte-identical
to `apply_chat_template`. Two markers ride along in the text and are removed by the renderer:
`{% generation %}` blocks are wrapped in GENERATION_START/END (what is trainable), and
datakit's own templates may emit ENCODE_BOUNDARY where the text must be tokenized in two
pieces (tinker-cookbook tokenizes each message's header and body separately).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

PACKAGE_DIR = Path(__file__).resolve().parent

# Supplementary private-use characters: reserved for datakit's markers and content escapes.
GENERATION_START = "\U000f0000"
GENERATION_END = "\U000f0001"
ENCODE_BOUNDARY = "\U000f0002"
ESCAPE = "\U000f0003"
MARKERS = (GENERATION_START, GENERATION_END, ENCODE_BOUNDARY, ESCAPE)

DEFAULT_DATE_STRING = "26 Jul 2024"


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

    @cached_property
    def compiled(self) -> jinja2.Template:
        return compile_template(self.source)

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The conversation as the template writes it for training (no generation prompt)."""
        try:
            return self.compiled.render(
                messages=messages,
                add_generation_prompt=False,
                bos_token=self.bos_token or "",
                **dict(self.variables),
            )
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template error: {exc}") from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise TemplateError(f"template error: {exc.__class__.__name__}: {exc}") from None


_LLAMA_ROLES = frozenset({"system", "user", "assistant", "tool", "ipython"})

# name -> (template file, tokenizer, bos token, roles, pass a date_string)
BUILTIN: dict[str, tuple[str, str, str | None, frozenset[str], bool]] = {
    "llama3": ("llama3.jinja", "llama3", "<|begin_of_text|>", _LLAMA_ROLES, True),
    "llama3.2": ("llama3.2.jinja", "llama3", "<|begin_of_text|>", _LLAMA_ROLES, True),
    "qwen2.5": ("qwen2.5.jinja", "qwen2.5", None, frozenset({"system", "user", "assistant", "tool"}), False),
    "qwen3": ("qwen3.jinja", "qwen3", None, frozenset({"system", "user", "assistant", "tool"}), False),
    "llama3-cookbook": ("llama3-cookbook.jinja", "llama3", "<|begin_of_text|>", frozenset({"system", "user", "assistant", "tool"}), False),
    "qwen3-cookbook": ("qwen3-cookbook.jinja", "qwen3", None, frozenset({"system", "user", "assistant", "tool"}), False),
}


def builtin_template_source(file_name: str) -> str:
    return (PACKAGE_DIR / "templates" / file_name).read_text(encoding="utf-8")


def load_template(name_or_path: str, date_string: str = DEFAULT_DATE_STRING) -> ChatTemplate:
    """A built-in chat format by name, or a Jinja file marked up with `{% generation %}`."""
    if name_or_path in BUILTIN:
        file_name, tokenizer, bos, roles, dated = BUILTIN[name_or_path]
        variables = (("date_string", date_string),) if dated else ()
        return ChatTemplate(name_or_path, builtin_template_source(file_name), tokenizer, bos,
                            roles, variables)
    path = Path(name_or_path)
    if not path.is_file():
        raise TemplateError(
            f"unknown template {name_or_path!r}: use one of {', '.join(BUILTIN)} or a .jinja file"
        )
    source = path.read_text(encoding="utf-8")
    if "generation" not in source or "endgeneration" not in source:
        raise TemplateError(
            f"{path}: the template marks nothing trainable; wrap each assistant turn's "
            "content and end-of-turn token in {% generation %}...{% endgeneration %}"
        )
    template = ChatTemplate(path.name, source, None, None, variables=(("date_string", date_string),))
    template.compiled  # fail on syntax errors now, not on the first row
    return template
