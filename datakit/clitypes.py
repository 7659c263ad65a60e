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
