"""The one list of reject reasons, as users see it."""

from __future__ import annotations

from pathlib import Path

from datakit.outcome import Reason

SCHEMA = Path(__file__).resolve().parents[1] / "SCHEMA.md"


def test_schema_md_lists_every_reject_reason():
    schema = SCHEMA.read_text(encoding="utf-8")
    assert [r.value for r in Reason if f"`{r.value}`" not in schema] == []


def test_reasons_are_unique_snake_case_names():
    values = [r.value for r in Reason]
    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v for v in values)
