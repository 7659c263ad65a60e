"""templates/llama3.jinja (Llama 3.1 / 3.3) in Python, for plain chats."""

from __future__ import annotations

from typing import Any, Callable

from .base import PLAIN_ROLES, Message, NativeChat, is_str, trimmed_end


class Llama3(NativeChat):
    """templates/llama3.jinja: Llama 3.1 / 3.3, tools absent."""

    variables_read = {"date_string": is_str}  # the operator's --date-string

    def __init__(self, own: Callable[[str], str], bos: str, variables: dict[str, Any]):
        super().__init__(own, bos, variables)
        self.eot = own("<|eot_id|>")
        self.headers = {role: own(f"<|start_header_id|>{role}<|end_header_id|>\n\n") for role in PLAIN_ROLES}
        date = variables.get("date_string", "26 Jul 2024")
        self.system_head = (bos + self.headers["system"] + "Cutting Knowledge Date: December 2023\n"
                            f"Today Date: {date}\n\n")

    def content_end(self, content: str) -> int:
        return trimmed_end(content)  # `| trim`

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
