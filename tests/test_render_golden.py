"""Exact parity with the golden references: every row of every file in tests/golden/ (made
by transformers or tinker-cookbook, see tests/data/README.md), through both encoders."""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache

import pytest

from conftest import DATA, GOLDEN, bundle, data_rows, golden_rows, renderer
from datakit.render import BUILTIN, Renderer, RenderError

# Templates whose golden is another's: (engine, golden dir, datakit template).
SHARED_GOLDENS = [("hf", "llama3", "llama3.2")]  # identical text for plain chats with the same date_string
# The templates that read <think>...</think> out of an assistant's string content as its reasoning.
READS_INLINE_THINK = {"qwen3", "qwen3.5", "qwen3.5-nothink", "qwen3.6"}


def golden_cases() -> list[tuple[str, str, str, str]]:
    """(engine, golden dir, datakit template, data file) for every vendored golden file."""
    cases = []
    for directory in sorted(p for p in GOLDEN.glob("*/*") if p.is_dir() and p.parent.name != "tinker"):
        engine, name = directory.parent.name, directory.name
        template = name.split("@")[0] if engine == "hf" else f"cookbook:{name.split('@')[0]}"
        for file in sorted(directory.glob("*.jsonl.gz")):
            data = file.name.removesuffix(".jsonl.gz")
            if not (DATA / file.name).is_file():  # another shape, e.g. the --examples per_turn golden
                continue
            cases.append((engine, name, template, data))
            cases += [(e, d, t, data) for e, d, t in SHARED_GOLDENS if (e, d) == (engine, name)]
    return cases


def golden_options(golden_dir: str) -> dict:
    """The renderer options a golden directory's `@name=value,...` tag stands for."""
    options, kwargs = {}, {}
    for pair in filter(None, golden_dir.partition("@")[2].split(",")):
        key, value = pair.split("=", 1)
        try:
            value = json.loads(value)
        except ValueError:  # a bare string, e.g. reasoning_effort=low
            pass
        if key == "tokenizer":
            options["tokenizer"] = value
        else:
            kwargs[key] = value
    return {**options, "chat_template_kwargs": tuple(kwargs.items())} if kwargs else options


@lru_cache(maxsize=None)
def without_fastokens(tokenizer: str):
    return dataclasses.replace(bundle(tokenizer), bundled=False)


@lru_cache(maxsize=None)
def renderer_on_tokenizers(template: str, **options) -> Renderer:
    """The same renderer without fastokens: every id comes from `tokenizers`."""
    r = renderer(template, **options)
    return Renderer(r.template, without_fastokens(r.tokenizer.name), drop_reasoning=r.drop_reasoning,
                    chat_template_kwargs=r.chat_template_kwargs)


def thinking_is_off(template: str, kwargs: dict) -> bool:
    if template == "qwen3.5-nothink":
        return kwargs.get("enable_thinking") is not True
    return template in ("qwen3", "qwen3.5", "qwen3.6", "qwen3.8") and kwargs.get("enable_thinking") is False


def has_reasoning(template: str, record: dict) -> bool:
    return any(m.get("reasoning_content") or (template in READS_INLINE_THINK and m["role"] == "assistant"
                                              and "</think>" in m["content"]) for m in record["messages"])


@pytest.mark.parametrize("encoder", ["fastokens", "tokenizers"])
@pytest.mark.parametrize("engine,golden_dir,template,data_file", golden_cases(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_every_golden_row_matches(engine, golden_dir, template, data_file, encoder):
    """Every row equals the reference; a row it refused is rejected. datakit also rejects what
    the reference renders silently: reasoning the template never writes (the row then equals
    the reference with --drop-reasoning) and reasoning when thinking is off."""
    golden = golden_rows(engine, golden_dir, data_file)
    records = data_rows(data_file)
    assert len(golden) == len(records)
    options = golden_options(golden_dir)
    make = renderer if encoder == "fastokens" else renderer_on_tokenizers
    r = make(template, **options)
    assert r.tokenizer.encoder_name.startswith(f"{encoder} ")
    results = r.render_batch([{k: v for k, v in record.items() if k != "name"} for record in records])
    kwargs = dict(options.get("chat_template_kwargs", ()))
    mismatches, refused = [], 0
    for i, (expected, got, record) in enumerate(zip(golden, results, records)):
        if isinstance(got, RenderError) and got.reason == "reasoning_dropped" and "error" not in expected:
            got = make(template, **options, drop_reasoning=True).render(record)
        if isinstance(got, RenderError):
            refused += 1
            off = got.reason == "reasoning_with_thinking_disabled"
            assert "error" in expected or (off and thinking_is_off(template, kwargs) and has_reasoning(template, record)), \
                f"row {i}: datakit rejects ({got}) what the reference renders"
            continue
        same = "error" not in expected and got.tokens.tolist() == expected["tokens"] and \
            got.weights.tolist() == [float(w) for w in expected["weights"]]
        if not same:
            mismatches.append(i)
    assert mismatches == [], f"{len(mismatches)} of {len(golden)} rows differ, first: {mismatches[:5]}"
    assert refused < len(golden)


def test_every_template_has_golden_references():
    covered = {template for _, _, template, _ in golden_cases()}
    assert set(BUILTIN) - covered == set()
