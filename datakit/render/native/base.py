"""What every Python-written template shares: the plain-chat test, the owned markers, and how
a template says which variables (and values) it reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

from ..chat_template import GENERATION_END, GENERATION_START, OWN

Message = dict[str, Any]
_PLAIN_KEYS = frozenset({"role", "content", "trainable"})  # `trainable` only sets span weights
PLAIN_ROLES = frozenset({"system", "user", "assistant"})


def is_plain_chat(messages: list[Message]) -> bool:
    """Whether every message is a system, user or assistant message of string content alone."""
    return bool(messages) and all(
        m.keys() <= _PLAIN_KEYS and m.get("role") in PLAIN_ROLES and isinstance(m.get("content"), str)
        for m in messages)


def is_bool(value: Any) -> bool:
    """A value Jinja's `is true` / `is false` tests answer as Python's `is True` / `is False`."""
    return isinstance(value, bool)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def trimmed_end(content: str) -> int:
    """Where `content | trim` (Python's `str.strip()`) ends, without copying the content."""
    end = len(content)
    while end and content[end - 1].isspace():
        end -= 1
    return end


class NativeChat(ABC):
    """One built-in template for plain chats. `own` marks the template's control tokens as its
    own (`provenance.Owner.own`); `bos` and `variables` are the owned values the Jinja run gets."""

    # The variables it reads, each with a test of the values it renders natively; a run with
    # any other variable, or another value, goes through Jinja.
    variables_read: ClassVar[dict[str, Callable[[Any], bool]]] = {}

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        self.own = own
        self.bos = bos
        self.variables = variables
        self.start, self.end = OWN + GENERATION_START, OWN + GENERATION_END

    @classmethod
    def reads(cls, variables: dict[str, Any]) -> bool:
        """Whether this version renders a run with these variables (see `variables_read`)."""
        read = cls.variables_read
        return all(name in read and read[name](value) for name, value in variables.items())

    def applies(self, messages: list[Message]) -> bool:
        return is_plain_chat(messages)

    @abstractmethod
    def render(self, messages: list[Message]) -> str:
        """The owned, marked text of a plain chat this template `applies` to."""

    def content_end(self, content: str) -> int:
        """Where the template's text of the last message's content ends (after its own
        stripping), for cutting it (`bounded`); 0 when a cut could change the render."""
        return len(content)
