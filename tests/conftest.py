"""Shared fixtures: the vendored test data and golden references, and loaded renderers.

`tests/data/` and `tests/golden/` are the repository's copies of `../shared/` (see their
README); every test reads them, so a plain clone runs the whole suite. A missing file is a
failure, never a skip.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from functools import lru_cache
from pathlib import Path

import pytest

import datakit.tokenizer
from datakit.render import Renderer, load_template
from datakit.tokenizer import load_bundled

# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"  # <name>.jsonl.gz
GOLDEN = TESTS / "golden"  # <engine>/<template>/<name>.jsonl.gz
SHARED = TESTS.parent.parent / "shared"  # where new references arrive; optional
DATA_FILES = ("edge_cases", "conversations", "synthetic", "control_token_text")


@lru_cache(maxsize=None)
def bundle(name: str):
    return load_bundled(name)


@lru_cache(maxsize=None)
def renderer(template: str, tokenizer: str | None = None, **options) -> Renderer:
    """A renderer with the session's tokenizers (`tokenizer`: a bundled name, default the
    template's); `chat_template_kwargs` as a tuple of pairs."""
    if "chat_template_kwargs" in options:
        options["chat_template_kwargs"] = dict(options["chat_template_kwargs"])
    chat = load_template(template)
    return Renderer(chat, bundle(tokenizer or chat.tokenizer), **options)


def rows_of(encoded) -> list[list[int]]:
    """`encode_whole`'s flat ids as one list of ids per text."""
    ids, bounds = encoded
    return [ids[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def data_rows(name: str) -> list[dict]:
    """The records of a vendored data file, e.g. `data_rows("edge_cases")`."""
    return read_jsonl(DATA / f"{name}.jsonl.gz")


def golden_rows(engine: str, template: str, name: str) -> list[dict]:
    return read_jsonl(GOLDEN / engine / template / f"{name}.jsonl.gz")


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, Path]:
    """Each vendored data file as a plain `.jsonl` file on disk (for commands that read files)."""
    root = tmp_path_factory.mktemp("data")
    paths = {}
    for name in DATA_FILES:
        paths[name] = root / f"{name}.jsonl"
        paths[name].write_bytes(gzip.decompress((DATA / f"{name}.jsonl.gz").read_bytes()))
    return paths


@pytest.fixture(scope="session", autouse=True)
def bundled_tokenizers_load_once():
    """In-process renders share one loaded copy of each bundled tokenizer (a second each to
    build); spawned workers still load their own. The tokens are the same either way."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datakit.tokenizer, "load_bundled", lambda name, started=None, fast=True: bundle(name))
        yield


@pytest.fixture(scope="session")
def conversations_output(tmp_path_factory, data_files) -> Path:
    """The 128 vendored conversations rendered with `llama3` into a committed output (read-only)."""
    from datakit.pipeline import RenderOptions, render_files

    out = tmp_path_factory.mktemp("conversations") / "conversations.datakit"
    render_files([data_files["conversations"]], out, RenderOptions(template="llama3", workers=1))
    return out


@pytest.fixture(scope="session")
def ray_runtime():
    """One local Ray runtime for the session (2 CPUs, no dashboard, no usage report), and its
    GCS address for drivers in subprocesses; after the session, no Ray process is left."""
    ray = pytest.importorskip("ray", reason='--engine ray needs Ray Data: pip install -e ".[test]" brings it')
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    deadline = time.monotonic() + 60
    while ray_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray_processes() == [], "Ray processes outlived the session"


def ray_processes() -> list[str]:
    """The command lines of the Ray processes on this machine (raylet, GCS, workers, actors)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text.startswith("ray::") or "/ray/core/src/ray/" in text or "ray/_private/" in text:
            found.append(text)
    return found
