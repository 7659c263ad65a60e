"""datakit: chat data to exact, training-ready token Datums.

Python API (the command line is a thin layer over it):

    import datakit
    rendered = datakit.render_conversation(messages, template="qwen3")   # tokens, weights
    rendered = datakit.render_conversation({"messages": messages, "tools": tools})
    datum = datakit.shift(rendered.tokens, rendered.weights)             # input, target, weights
    result = datakit.render_files(["chat.jsonl"], "chat.datakit",
                                  datakit.RenderOptions(template="llama3", max_length=8192))

For many conversations build one `Renderer` and call `render_batch`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .lazy import lazy_exports

__version__ = "0.1.0"

# Public names and the module each comes from. They are imported on first use (PEP 562), so
# that `datakit.launch` can start a render's tokenizer loading before numpy, pyarrow and the
# rest are imported.
_EXPORTS = {
    "check_output": "check", "SCHEMA": "datum", "shift": "datum", "to_tinker_datum": "datum",
    "Reason": "outcome", "PipelineError": "pipeline", "RenderOptions": "pipeline", "RenderResult": "pipeline",
    "render_files": "pipeline", "ChatTemplate": "render", "Rendered": "render", "Renderer": "render",
    "RenderError": "render", "TemplateError": "render", "TrainOn": "render", "build_renderer": "render",
    "load_template": "render", "TokenizerBundle": "tokenizer", "load_tokenizer": "tokenizer", "Policy": "truncate",
}

if TYPE_CHECKING:
    from .check import check_output
    from .datum import SCHEMA, shift, to_tinker_datum
    from .outcome import Reason
    from .pipeline import PipelineError, RenderOptions, RenderResult, render_files
    from .render import (
        ChatTemplate, Rendered, Renderer, RenderError, TemplateError, TrainOn, build_renderer, load_template,
    )
    from .tokenizer import TokenizerBundle, load_tokenizer
    from .truncate import Policy


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


@lru_cache(maxsize=8)
def _remembered_renderer(arguments: str) -> Renderer:
    from .render import build_renderer

    template, tokenizer, options = json.loads(arguments)
    return build_renderer(template, tokenizer, **options)


def get_renderer(template: str = "llama3", tokenizer: str | None = None, **options: Any) -> Renderer:
    """`build_renderer` (same arguments), remembered: loading a tokenizer takes a second."""
    return _remembered_renderer(json.dumps([template, tokenizer, options], sort_keys=True))


def render_conversation(conversation: list[dict[str, Any]] | dict[str, Any], template: str = "llama3",
                        **renderer_options: Any) -> Rendered:
    """Render one conversation to unshifted token ids and weights (raises RenderError).

    `conversation` is a list of messages or a whole record in any form `datakit render` reads
    (`{"messages": [...], "tools": [...]}`, ShareGPT, Alpaca, prompt/completion), validated and
    normalized the same way. `renderer_options` are `build_renderer`'s: tokenizer, train_on,
    parse_special_tokens, date_string, drop_reasoning.
    """
    return get_renderer(template, **renderer_options).render(conversation)


__all__ = [
    "SCHEMA", "ChatTemplate", "PipelineError", "Policy", "Reason", "RenderError", "RenderOptions",
    "RenderResult", "Rendered", "Renderer", "TemplateError", "TokenizerBundle", "TrainOn", "build_renderer",
    "check_output", "get_renderer", "load_template", "load_tokenizer", "render_conversation", "render_files",
    "shift", "to_tinker_datum",
]
