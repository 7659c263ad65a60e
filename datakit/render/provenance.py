"""Markup in a rendered text is the template's own: every control token and datakit marker the
tokenizer will see stands where the template's source text (or datakit) wrote it.

Message fields are escaped before the template runs (`escape`), so data cannot *hold* a control
token or a marker. A template can still *make* one from data: `json_loads` of
`"\\u003c|im_end|\\u003e"`, `lower` of `<|IM_END|>`, two fields written side by side, a number
formatted with `%c`. This check does not depend on knowing those transformations:

- when the template is compiled, every control-token string in its literal text, and in the
  values the operator gives it (`bos_token`, the template's variables, `--chat-template-kwargs`),
  is prefixed with OWN (U+F0004); the `{% generation %}` markers and `encode_boundary` are
  written as OWN + marker;
- after rendering, every control token and marker in the text the tokenizer sees must be one
  an OWN stood before; anything else was made from data, and the record is rejected
  (`forged_control_token`). On the whole-text path this costs almost nothing: the layout drops
  the OWNs while it finds the markers (`layout.byte_layout`) and the control ids must start at
  exactly the byte offsets of the owned tokens (`layout.weigh_by_bytes`). A conversation that
  fails that, or goes the pieces path, is scanned exactly (`Provenance.verify`).

Why this is complete: a control id can only come from a control-token string in the text, so
it passes only at a position where an OWN stood. OWN (like every marker) is escaped in message
fields, so data cannot hold it; datakit's `json_loads` refuses to decode a reserved character,
and a template from a file runs with every call, filter and `%` checked to make none
(`limits`), so no template operation can make one from data. What the check cannot see is a
template that cuts its own control tokens apart (slicing between OWN and the token): no
built-in template edits its own markup.
"""

from __future__ import annotations

import re
from typing import Any, Collection, Iterable

from jinja2 import nodes

from .chat_template import (ENCODE_BOUNDARY, GENERATION_END, GENERATION_START, OWN, ChatTemplate, TemplateError,
                            compile_template)
from .escape import alternation
from .native import NativeChat, native_chat

_MARKERS = (GENERATION_START, GENERATION_END, ENCODE_BOUNDARY)
_MARKER_NAMES = {GENERATION_START: "datakit's generation-start marker", GENERATION_END:
                 "datakit's generation-end marker", ENCODE_BOUNDARY: "datakit's encode-boundary marker"}
# What a template writes that looks like a control token (the shape `tokenizer` treats as one).
CONTROL_SHAPE = re.compile(r"<\|[^|\s]{1,100}\|>")


class Forged(ValueError):
    """Markup in a rendered text that the template did not write."""

    def __init__(self, what: str, position: int):
        name = _MARKER_NAMES.get(what, repr(what))
        super().__init__(f"the rendered text holds {name} at character {position}, which the template did not "
                         "write: it was made from message data (e.g. by json_loads, a filter or text written side "
                         "by side)")


def literal_nodes(ast: nodes.Template) -> Iterable[nodes.Node]:
    """The nodes holding a template's literal text: string constants and the text between tags."""
    for node in ast.find_all((nodes.Const, nodes.TemplateData)):
        if isinstance(node.data if isinstance(node, nodes.TemplateData) else node.value, str):
            yield node


class Owner:
    """Marks control-token strings as the template's own (OWN before each), and notes every
    `<|...|>`-shaped string the template's literal text writes."""

    def __init__(self, tokens: Collection[str]):
        self._pattern = re.compile(alternation(tokens)) if tokens else None
        self.written_shapes: set[str] = set()

    def own_literals(self, ast: nodes.Template) -> nodes.Template:
        """The template's literal text with its control tokens owned (changes `ast`)."""
        for node in literal_nodes(ast):
            if isinstance(node, nodes.TemplateData):
                self.written_shapes.update(CONTROL_SHAPE.findall(node.data))
                node.data = self.own(node.data)
            else:
                self.written_shapes.update(CONTROL_SHAPE.findall(node.value))
                node.value = self.own(node.value)
        return ast

    def own(self, value: Any) -> Any:
        """`value` (a string, or the strings in lists and dicts) with its control tokens owned."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(lambda m: OWN + m.group(), value)
        if isinstance(value, dict):
            return {k: self.own(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.own(v) for v in value)
        return value


class Provenance:
    """Checks that a rendered text's markers, and unless `tokens_from_data` its control tokens,
    are the template's own."""

    def __init__(self, control_tokens: Collection[str], tokens_from_data: bool):
        self.checks_tokens = not tokens_from_data
        self._find = re.compile(alternation([*_MARKERS, *(control_tokens if self.checks_tokens else ())]))

    def verify(self, text: str) -> str:
        """`text` without its OWNs, scanned exactly; raises Forged at the first markup the
        template did not write."""
        owned = self._owned(text)
        stripped = text.replace(OWN, "")
        for match in self._find.finditer(stripped):
            if owned.get(match.start()) != match.group():
                raise Forged(match.group(), match.start())
        return stripped

    def _owned(self, text: str) -> dict[int, str | None]:
        """Position in the text without OWNs -> the markup each OWN stood before."""
        owned: dict[int, str | None] = {}
        at = text.find(OWN)
        while at >= 0:
            match = self._find.match(text, at + 1)
            owned[at - len(owned)] = match.group() if match else None
            at = text.find(OWN, at + 1)
        return owned


class OwnedTemplate:
    """A chat template compiled to own its markup, run and checked (see the module docstring).

    `operator_kwargs` (`--chat-template-kwargs`) are the operator's, like the template file: their
    control tokens are owned. Raises TemplateError when the template writes a `<|...|>` token
    that the tokenizer does not have as a control token (it would be encoded as plain text).
    """

    def __init__(self, template: ChatTemplate, control_tokens: Collection[str], tokens_from_data: bool,
                 operator_kwargs: dict[str, Any], tokenizer_name: str):
        owner = Owner([] if tokens_from_data else control_tokens)
        self.template = template
        self.compiled = compile_template(template.source, owner, template.limited)
        self.provenance = Provenance(control_tokens, tokens_from_data)
        self._bos = owner.own(template.bos_token or "")
        self._variables = owner.own({**dict(template.variables), **operator_kwargs})
        written = owner.written_shapes | set(CONTROL_SHAPE.findall(template.bos_token or ""))
        missing = sorted(written - set(control_tokens))
        if missing:
            raise TemplateError(
                f"template {template.name} writes {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}, "
                f"which tokenizer {tokenizer_name} does not have as a control token (it would be encoded as "
                "plain text): use the template's own tokenizer")
        self._native: NativeChat | None = native_chat(template, owner.own, self._bos, self._variables)

    def native_for(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                   record_kwargs: dict[str, Any] | None) -> NativeChat | None:
        """The Python version of the template, if it renders this conversation (`native`)."""
        if self._native is not None and not tools and not record_kwargs and self._native.applies(messages):
            return self._native
        return None

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
               record_kwargs: dict[str, Any] | None) -> str:
        """The text with OWN before each piece of markup the template wrote; raises TemplateError."""
        native = self.native_for(messages, tools, record_kwargs)
        if native is not None:
            return native.render(messages)
        variables = {**self._variables, **record_kwargs} if record_kwargs else self._variables
        return self.template.run(self.compiled, messages, tools, variables, self._bos)
