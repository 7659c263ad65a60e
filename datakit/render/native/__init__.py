"""Built-in templates written in Python for plain chats: the Jinja render without Jinja.

Rendering a short chat through Jinja's sandbox costs far more than tokenizing it, so for the
built-in templates a conversation that is a *plain chat* is written here instead: system /
user / assistant messages of string content, no tools, no tool calls, no reasoning, and no
chat-template kwargs but the variables (and values) the Python version reads. The output is the
owned, marked text `provenance.OwnedTemplate` renders (the same OWNs, markers and escapes),
character for character; tests/test_render_native.py checks that on every vendored row and
fuzzed chats. Anything else (a chat the template would raise on, or one whose corner a version
does not write), or a template whose source is not the built-in file's, goes through Jinja,
which stays the definition.

Differences from the Jinja path: none in output. A template is matched by its exact source, so
an edited copy of a built-in template never takes this path.
"""

from __future__ import annotations

from typing import Any, Callable

from ..catalog import builtin_template_source
from ..chat_template import ChatTemplate
from .base import NativeChat, is_plain_chat
from .llama3 import Llama3
from .qwen import ChatML, Qwen3, Qwen25, Qwen35, Qwen35NoThink, Qwen36, Qwen38

__all__ = ["NATIVE", "NativeChat", "is_plain_chat", "native_chat"]

NATIVE: dict[str, type[NativeChat]] = {
    "llama3.jinja": Llama3, "qwen2.5.jinja": Qwen25, "qwen3.jinja": Qwen3, "qwen3-instruct-2507.jinja": ChatML,
    "qwen3.5.jinja": Qwen35, "qwen3.5-nothink.jinja": Qwen35NoThink, "qwen3.6.jinja": Qwen36,
    "qwen3.8.jinja": Qwen38,
}


def native_chat(template: ChatTemplate, own: Callable[[str], str], bos: str,
                variables: dict[str, Any]) -> NativeChat | None:
    """The Python version of `template` for plain chats, if it is one of `NATIVE` unchanged and
    runs with only variables (and values) that version reads."""
    if template.limited:  # from a file: whatever its text, it is the user's
        return None
    for file, native in NATIVE.items():
        if template.source == builtin_template_source(file) and native.reads(variables):
            return native(own, bos, variables)
    return None
