"""Render: a chat template turns a conversation into text, the tokenizer into ids, and the
template's generation spans into per-token weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

# Imported on first use, as in `datakit`: `formats` is read before the rest of datakit loads.
_EXPORTS = {
    "BUILTIN": "formats", "DEFAULT_DATE_STRING": "formats", "load_template": "catalog",
    "ChatTemplate": "chat_template", "TemplateError": "chat_template", "Rendered": "layout",
    "Renderer": "renderer", "RenderError": "renderer", "TrainOn": "renderer", "build_renderer": "renderer",
    "trainable_turns": "renderer",
}

if TYPE_CHECKING:
    from .catalog import load_template
    from .chat_template import ChatTemplate, TemplateError
    from .formats import BUILTIN, DEFAULT_DATE_STRING
    from .layout import Rendered
    from .renderer import Renderer, RenderError, TrainOn, build_renderer, trainable_turns

__all__ = ["BUILTIN", "DEFAULT_DATE_STRING", "ChatTemplate", "RenderError", "Rendered", "Renderer",
           "TemplateError", "TrainOn", "build_renderer", "load_template", "trainable_turns"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
