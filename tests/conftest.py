"""Shared fixtures: the `../shared` references beside the repo, and loaded renderers."""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

import pytest

from datakit.chat_template import load_template
from datakit.render import Renderer
from datakit.tokenizer import load_bundled

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"
GOLDEN = SHARED / "golden"

needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason="../shared is not beside the repo")


@lru_cache(maxsize=None)
def bundle(name: str):
    return load_bundled(name)


@lru_cache(maxsize=None)
def renderer(template: str, **options) -> Renderer:
    chat = load_template(template)
    return Renderer(chat, bundle(chat.tokenizer), **options)


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]
