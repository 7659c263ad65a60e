"""Built-in templates written in Python for plain chats: the Jinja render without Jinja.

Rendering a short chat through Jinja's sandbox costs far more than tokenizing it, so for the
templates most runs use, a conversation that is a *plain chat* is written here instead:
system / user / assistant messages of string content, no tools, no tool calls, no reasoning,
and no chat-template kwargs but the template's own variables. The output is the owned, marked
text `provenance.OwnedTemplate` renders (the same OWNs, markers and escapes), character for
character; tests/test_render_native.py checks that on every vendored row, every golden row and
fuzzed chats. Anything else, or a template whose source is not the built-in file's, goes
through Jinja, which stays the definition.

Differences from the Jinja path: none in output. A template is matched by its exact source, so
an edited copy of a built-in template never takes this path.
"""

from __future__ import annotations

from typing import Any, Callable

from .catalog import builtin_template_source
from .chat_template import GENERATION_END, GENERATION_START, OWN, ChatTemplate

Message = dict[str, Any]
_PLAIN_KEYS = frozenset({"role", "content", "trainable"})  # `trainable` only sets span weights
_PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def is_plain_chat(messages: list[Message]) -> bool:
    """Whether every message is a system, user or assistant message of string content alone."""
    return bool(messages) and all(
        m.keys() <= _PLAIN_KEYS and m.get("role") in _PLAIN_ROLES and isinstance(m.get("content"), str)
        for m in messages)


class NativeChat:
    """One built-in template for plain chats. `own` marks the template's control tokens as its
    own (`provenance.Owner.own`); `bos` and `variables` are the owned values the Jinja run gets."""

    variable_names: frozenset[str] = frozenset()  # the variables it reads; any other: Jinja

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        self.own = own
        self.bos = bos
        self.variables = variables
        self.start, self.end = OWN + GENERATION_START, OWN + GENERATION_END

    def applies(self, messages: list[Message]) -> bool:
        return is_plain_chat(messages)

    def render(self, messages: list[Message]) -> str:
        raise NotImplementedError

    def content_end(self, content: str) -> int:
        """Where the template's text of a message's content ends (after its own stripping)."""
        return len(content)


class Llama3(NativeChat):
    """templates/llama3.jinja: Llama 3.1 / 3.3, tools absent."""

    variable_names = frozenset({"date_string"})  # always str: the operator's --date-string

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.eot = own("<|eot_id|>")
        self.headers = {role: own(f"<|start_header_id|>{role}<|end_header_id|>\n\n") for role in _PLAIN_ROLES}
        date = variables.get("date_string", "26 Jul 2024")
        self.system_head = (bos + self.headers["system"] + "Cutting Knowledge Date: December 2023\n"
                            f"Today Date: {date}\n\n")

    def content_end(self, content: str) -> int:
        end = len(content)
        while end and content[end - 1].isspace():  # `| trim`, without copying the content
            end -= 1
        return end

    def render(self, messages: list[Message]) -> str:
        system = ""
        if messages[0]["role"] == "system":
            system, messages = messages[0]["content"].strip(), messages[1:]
        parts = [self.system_head, system, self.eot]
        for message in messages:
            role = message["role"]
            if role == "assistant":
                parts += (self.headers[role], self.start, message["content"].strip(), self.eot, self.end)
            else:
                parts += (self.headers[role], message["content"].strip(), self.eot)
        return "".join(parts)


class Qwen3(NativeChat):
    """templates/qwen3.jinja: Qwen3 (hybrid thinking), tools absent, enable_thinking unset, and
    no `</think>` in an assistant's content (reasoning written inline goes through Jinja)."""

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.im_start, self.im_end = own("<|im_start|>"), own("<|im_end|>")

    def applies(self, messages: list[Message]) -> bool:
        return is_plain_chat(messages) and not any(
            m["role"] == "assistant" and "</think>" in m["content"] for m in messages)

    def render(self, messages: list[Message]) -> str:
        last_query = len(messages) - 1
        for index in range(len(messages) - 1, -1, -1):
            content = messages[index]["content"]
            if messages[index]["role"] == "user" and not (
                    content.startswith("<tool_response>") and content.endswith("</tool_response>")):
                last_query = index
                break
        parts = []
        last = len(messages) - 1
        for index, message in enumerate(messages):
            role, content = message["role"], message["content"]
            if role == "assistant":
                parts += (self.im_start, "assistant\n", self.start)
                if index > last_query and index == last:  # framed: an empty think block, then the answer
                    parts += ("<think>\n\n</think>\n\n", content.lstrip("\n"))
                else:
                    parts.append(content)
                parts += (self.im_end, self.end, "\n")
            elif role == "user" or index > 0:
                parts += (self.im_start, role, "\n", content, self.im_end, "\n")
            else:
                parts += (self.im_start, "system\n", content, self.im_end, "\n")
        return "".join(parts)


NATIVE: dict[str, type[NativeChat]] = {"llama3.jinja": Llama3, "qwen3.jinja": Qwen3}


def native_chat(template: ChatTemplate, own: Callable[[str], str], bos: str,
                variables: dict[str, Any]) -> NativeChat | None:
    """The Python version of `template` for plain chats, if it is one of `NATIVE` unchanged and
    runs with no variable that version does not read (and a string `date_string`)."""
    if template.limited:  # from a file: whatever its text, it is the user's
        return None
    for file, native in NATIVE.items():
        if (template.source == builtin_template_source(file) and variables.keys() <= native.variable_names
                and all(isinstance(v, str) for v in variables.values())):
            return native(own, bos, variables)
    return None
