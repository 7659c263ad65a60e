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

from .check import check_output  # noqa: E402
from .datum import SCHEMA, shift, to_tinker_datum  # noqa: E402
from .outcome import Reason  # noqa: E402
from .pipeline import PipelineError, RenderOptions, RenderResult, render_files  # noqa: E402
from .render import (  # noqa: E402
    ChatTemplate, Rendered, Renderer, RenderError, TemplateError, TrainOn, build_renderer, load_template,
)
from .tokenizer import TokenizerBundle, load_tokenizer  # noqa: E402
from .truncate import Policy  # noqa: E402

# `build_renderer`, remembered: loading a tokenizer takes a second. Same arguments.
get_renderer = lru_cache(maxsize=8)(build_renderer)


def render_conversation(messages: list[dict[str, Any]], template: str = "llama3",
                        **renderer_options: Any) -> Rendered:
    """Render one conversation to unshifted token ids and weights (raises RenderError).

    `renderer_options` are `build_renderer`'s: tokenizer, train_on, parse_special_tokens,
    date_string.
    """
    return get_renderer(template, **renderer_options).render(messages)


__all__ = [
    "SCHEMA", "ChatTemplate", "PipelineError", "Policy", "Reason", "RenderError", "RenderOptions",
    "RenderResult", "Rendered", "Renderer", "TemplateError", "TokenizerBundle", "TrainOn", "build_renderer",
    "check_output", "get_renderer", "load_template", "load_tokenizer", "render_conversation", "render_files",
    "shift", "to_tinker_datum",
]
