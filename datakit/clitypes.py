"""Command-line value types shared by the commands (click parameter types)."""

from __future__ import annotations

import json
from typing import Any

import click


class JsonObject(click.ParamType):
    """An option value that must be a JSON object, e.g. '{"enable_thinking": false}'."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict:
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            self.fail(f"not JSON ({exc})", param, ctx)
        if not isinstance(parsed, dict):
            self.fail("must be a JSON object", param, ctx)
        return parsed


JSON_OBJECT = JsonObject()


MODEL_HELP = ("A model id such as Qwen/Qwen3.6-27B: picks its template (the official one; role_colon for "
              "base models) and tokenizer; --template may name another that fits it (its cookbook: modes).")


def template_for_model(model: str | None, template: str | None, tokenizer: str | None) -> tuple[str | None, str | None]:
    """--template and --tokenizer as --model decides them (a usage error if they disagree)."""
    if model is None:
        return template, tokenizer
    from .render.catalog import resolve_model
    from .render.chat_template import TemplateError

    try:
        return resolve_model(model, template, tokenizer)
    except TemplateError as exc:
        raise click.UsageError(str(exc)) from None
