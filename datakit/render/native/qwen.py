"""The Qwen templates in Python, for plain chats: qwen2.5, qwen3-instruct-2507, qwen3 and the
Qwen3.5 family (qwen3.5, qwen3.5-nothink, qwen3.6, qwen3.8), tools absent.

Each writes a message as `<|im_start|>ROLE\\nCONTENT<|im_end|>\\n`, an assistant's content and
`<|im_end|>` being its generation span. They differ in what comes before the turns (a default or
extended system message), whether content is trimmed, and which assistant turns are *framed*
(written with a think block, which follows from the last user query). Where a template raises
(the Qwen3.5 family: no user query, a system message not first) or reads reasoning out of an
assistant's content (`</think>`), `applies` refuses the chat and Jinja renders it.
"""

from __future__ import annotations

from typing import Any, Callable

from .base import Message, NativeChat, is_bool, is_plain_chat, trimmed_end

_EFFORT_INSTRUCTIONS = {  # templates/qwen3.8.jinja's reasoning_effort, when thinking
    "xhigh": "Reasoning effort is set to xhigh. Please think carefully through the task, validate key assumptions, "
             "consider plausible alternatives, and prioritize correctness, consistency, and clarity in the final answer.",
    "medium": "",
    "low": "Reasoning effort is set to low. Keep your thinking brief and focused, moving directly to the conclusion "
           "without unnecessary elaboration.",
}


class ChatML(NativeChat):
    """templates/qwen3-instruct-2507.jinja (Qwen3 Instruct-2507): every message as its turn."""

    trims = False  # whether the template writes `content | trim`

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.im_start, self.im_end = own("<|im_start|>"), own("<|im_end|>")
        self.opening = self.im_start + "assistant\n"  # an assistant turn's header
        self.framed_opening = self.opening  # and the framed one's, through its think block
        self.closing = self.im_end + self.end + "\n"

    def preamble(self, messages: list[Message]) -> tuple[list[str], int]:
        """The text before the turns, and the first message written as a turn."""
        return [], 0

    def framed(self, messages: list[Message]) -> range:
        """The indices of the assistant turns written with a think block."""
        return range(0)

    def framed_content(self, content: str) -> str:
        return content

    def render(self, messages: list[Message]) -> str:
        parts, first = self.preamble(messages)
        framed = self.framed(messages)
        im_start, im_end, start = self.im_start, self.im_end, self.start
        for index in range(first, len(messages)):
            role, content = messages[index]["role"], messages[index]["content"]
            if self.trims:
                content = content.strip()
            if role != "assistant":
                parts += (im_start, role, "\n", content, im_end, "\n")
            elif index in framed:
                parts += (self.framed_opening, self.framed_content(content), self.closing)
            else:
                parts += (self.opening, start, content, self.closing)
        return "".join(parts)


class Qwen25(ChatML):
    """templates/qwen2.5.jinja (Qwen2.5 Instruct): a default system message when there is none."""

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.default_system = own("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
                                  "You are a helpful assistant.<|im_end|>\n")

    def preamble(self, messages: list[Message]) -> tuple[list[str], int]:
        return [] if messages[0]["role"] == "system" else [self.default_system], 0


class LastQuery(ChatML):
    """A template that frames the assistant turns after the last user query: the last user
    message that is not a tool response (`<tool_response>...</tool_response>`)."""

    parses_reasoning = True  # an assistant's `...</think>` is its reasoning: Jinja's to split

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.think_open, self.think_close = own("<think>\n"), own("\n</think>\n\n")

    def is_query(self, content: str) -> bool:
        if self.trims:
            content = content.strip()
        return not (content.startswith("<tool_response>") and content.endswith("</tool_response>"))

    def last_query(self, messages: list[Message]) -> int | None:
        for index in range(len(messages) - 1, -1, -1):
            if messages[index]["role"] == "user" and self.is_query(messages[index]["content"]):
                return index
        return None

    def applies(self, messages: list[Message]) -> bool:
        return is_plain_chat(messages) and not (self.parses_reasoning and any(
            m["role"] == "assistant" and "</think>" in m["content"] for m in messages))

    def content_end(self, content: str) -> int:
        # Cut, a tool response would no longer end with its tag and become the last query.
        if not self.is_query(content):
            return 0
        return trimmed_end(content) if self.trims else len(content)


class Qwen3(LastQuery):
    """templates/qwen3.jinja (Qwen3, hybrid thinking), enable_thinking unset: the last message,
    when an assistant's after the last query, opens with an empty think block."""

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.framed_opening = self.opening + self.start + self.think_open + self.think_close

    def framed(self, messages: list[Message]) -> range:
        last = len(messages) - 1
        query = self.last_query(messages)
        return range(last, last + 1) if query is not None and last > query else range(0)

    def framed_content(self, content: str) -> str:
        return content.lstrip("\n")


class Qwen35(LastQuery):
    """templates/qwen3.5.jinja (Qwen3.5): content trimmed; every assistant turn after the last
    query framed, its empty think block trainable unless enable_thinking is false (then it is
    the generation prompt's). Raises (so: refused) without a user query or with a system
    message not first."""

    trims = True
    variables_read = {"enable_thinking": is_bool}

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        head = self.opening + self.think_open
        self.framed_opening = (head + self.start + self.think_close if self.thinks()
                               else head + self.think_close + self.start)

    def thinks(self) -> bool:
        """`generation_prompt_thinks`: the generation prompt opens a think block."""
        return self.variables.get("enable_thinking") is not False

    def applies(self, messages: list[Message]) -> bool:
        return (super().applies(messages) and all(m["role"] != "system" for m in messages[1:])
                and self.last_query(messages) is not None)

    def framed(self, messages: list[Message]) -> range:
        return range(self.last_query(messages) + 1, len(messages))  # type: ignore[operator]


class Qwen35NoThink(Qwen35):
    """templates/qwen3.5-nothink.jinja (Qwen3.5-2B): thinks only when enable_thinking is true."""

    def thinks(self) -> bool:
        return self.variables.get("enable_thinking") is True


class Qwen36(Qwen35):
    """templates/qwen3.6.jinja (Qwen3.6): Qwen3.5, every assistant turn framed when
    preserve_thinking is true."""

    variables_read = {**Qwen35.variables_read, "preserve_thinking": is_bool}

    def framed(self, messages: list[Message]) -> range:
        return range(len(messages)) if self.variables.get("preserve_thinking") is True else super().framed(messages)


class Qwen38(Qwen35):
    """templates/qwen3.8.jinja (Qwen3.8): Qwen3.5, but every assistant turn framed unless
    preserve_thinking is false, `</think>` in content written as content, and when thinking, the
    reasoning effort's instructions (xhigh by default) leading the system message."""

    parses_reasoning = False
    variables_read = {**Qwen35.variables_read, "preserve_thinking": is_bool,
                      "reasoning_effort": lambda value: isinstance(value, str) and value in _EFFORT_INSTRUCTIONS}

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        effort = _EFFORT_INSTRUCTIONS[variables.get("reasoning_effort", "xhigh")] if self.thinks() else ""
        self.system_open = own("<|im_start|>system\n") + (own(effort + "\n\n") if effort else "")
        self.system_close = own("<|im_end|>\n")
        self.instructions = [own("<|im_start|>system\n") + own(effort) + self.system_close] if effort else []

    def preamble(self, messages: list[Message]) -> tuple[list[str], int]:
        if messages[0]["role"] != "system":
            return list(self.instructions), 0
        content = messages[0]["content"].strip()
        return ([self.system_open, content, self.system_close] if content else list(self.instructions)), 1

    def framed(self, messages: list[Message]) -> range:
        return super().framed(messages) if self.variables.get("preserve_thinking") is False else range(len(messages))
