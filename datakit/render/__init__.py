"""Render: a chat template turns a conversation into text, the tokenizer into ids, and the
template's generation spans into per-token weights."""

from .catalog import BUILTIN, DEFAULT_DATE_STRING, load_template
from .chat_template import ChatTemplate, TemplateError
from .layout import Rendered
from .renderer import Renderer, RenderError, TrainOn, build_renderer, trainable_turns

__all__ = ["BUILTIN", "DEFAULT_DATE_STRING", "ChatTemplate", "RenderError", "Rendered", "Renderer",
           "TemplateError", "TrainOn", "build_renderer", "load_template", "trainable_turns"]
