"""datakit: chat JSONL to exact, training-ready token Datums.

Python API (the command line is a thin layer over it):

    import datakit
    rendered = datakit.render_conversation(messages, template="qwen3")   # tokens, weights
    datum = datakit.shift(rendered.tokens, rendered.weights)             # input, target, weights
    result = datakit.render_files(["chat.jsonl"], "chat.datakit",
                                  datakit.RenderOptions(template="llama3", max_length=8192))

For many conversations build one `Renderer` and call `render_batch`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__version__ = "0.1.0"

from .chat_template import ChatTemplate, TemplateError, load_template  # noqa: E402
from .check import check_output  # noqa: E402
from .datum import SCHEMA, shift, to_tinker_datum  # noqa: E402
from .pipeline import PipelineError, RenderOptions, RenderResult, render_files  # noqa: E402
from .render import Rendered, Renderer, RenderError, build_renderer  # noqa: E402
from .tokenizer import TokenizerBundle, load_tokenizer  # noqa: E402


@lru_cache(maxsize=8)
def get_renderer(template: str = "llama3", tokenizer: str | None = None,
                 train_on: str = "all_assistant", parse_special_tokens: bool = False) -> Renderer:
    """A Renderer for a template name or file (and optionally another tokenizer), reused."""
    return build_renderer(template, tokenizer, train_on=train_on, parse_special_tokens=parse_special_tokens)


def render_conversation(messages: list[dict[str, Any]], template: str = "llama3",
                        **renderer_options: Any) -> Rendered:
    """Render one conversation to unshifted token ids and weights (raises RenderError)."""
    return get_renderer(template, **renderer_options).render(messages)


__all__ = [
    "SCHEMA", "ChatTemplate", "PipelineError", "RenderError", "RenderOptions", "RenderResult",
    "Rendered", "Renderer", "TemplateError", "TokenizerBundle", "build_renderer", "check_output", "get_renderer",
    "load_template", "load_tokenizer", "render_conversation", "render_files", "shift",
    "to_tinker_datum",
]
