"""The entry point's early tokenizer load: the guess from the arguments agrees with what the
render resolves, a load started so is taken over (or ignored when it is not the one needed),
and a render through the entry point writes what an in-process render writes."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import bundle, data_rows
from conftest import load_bundled as unshared_load_bundled

from datakit.bundled import read_definition, start_bundled
from datakit.launch import render_tokenizer
from datakit.pipeline import RenderOptions, render_files
from datakit.render.catalog import ALIASES, BUILTIN, MODEL_FAMILIES, load_template, resolve_model, tokenizer_name


@pytest.mark.parametrize(("args", "expected"), [
    (["render", "x.jsonl"], "llama3"),
    (["render", "x.jsonl", "--template", "qwen3"], "qwen3"),
    (["render", "--template=qwen3.6", "x.jsonl"], "qwen3.5"),
    (["render", "-tqwen2.5", "x.jsonl"], "qwen2.5"),
    (["render", "-t", "qwen3-cookbook", "x.jsonl"], "qwen3"),
    (["render", "x.jsonl", "--model", "Qwen/Qwen3.5-9B"], "qwen3.5"),
    (["render", "x.jsonl", "--model=meta-llama/Llama-3.2-1B"], "llama3"),
    (["render", "x.jsonl", "-t", "cookbook:role_colon", "--tokenizer", "qwen3"], "qwen3"),
    (["render", "x.jsonl", "--engine", "local", "-o", "out", "-q"], "llama3"),
    (["render", "x.jsonl", "--", "-t", "qwen3"], "llama3"),  # after --, click reads arguments only
    (["render", "x.jsonl", "-t", "cookbook:role_colon"], None),  # no tokenizer of its own
    (["render", "x.jsonl", "-t", "mine.jinja"], None),
    (["render", "x.jsonl", "--tokenizer", "./my-tokenizer"], None),
    (["render", "x.jsonl", "--model", "someone/unknown"], None),
    (["render", "x.jsonl", "--engine", "ray"], None),
    (["render", "x.jsonl", "-t", "qwen3", "-t", "llama3"], None),
    (["render", "x.jsonl", "-qt", "qwen3"], None),
    (["render", "x.jsonl", "--template"], None),
    (["render", "--help"], None),
    (["split", "x.jsonl"], None),
    (["--version"], None),
    ([], None),
])
def test_the_arguments_name_the_tokenizer_plainly_or_not_at_all(args, expected):
    assert render_tokenizer(args) == expected


@pytest.mark.parametrize("name", [*BUILTIN, *ALIASES])
def test_the_guess_for_each_template_is_the_tokenizer_the_render_loads(name):
    template = load_template(name)
    expected = tokenizer_name(template, None) if template.tokenizer else None
    assert render_tokenizer(["render", "x.jsonl", "--template", name]) == expected


@pytest.mark.parametrize("model_id", [model for family in MODEL_FAMILIES for model in family.ids])
def test_the_guess_for_each_model_is_the_tokenizer_the_render_loads(model_id):
    assert render_tokenizer(["render", "x.jsonl", "--model", model_id]) == resolve_model(model_id, None, None)[1]


@pytest.fixture(scope="module")
def started_qwen3():
    started = start_bundled("qwen3")
    if started is None:
        pytest.skip("fastokens is not installed: nothing loads early")
    return started


def test_a_started_load_is_taken_over_by_the_tokenizer_it_is(started_qwen3):
    taken = unshared_load_bundled("qwen3", started_qwen3)
    assert taken.whole._load is started_qwen3.load
    shared = bundle("qwen3")
    assert taken.fingerprint == shared.fingerprint and taken.full_json == shared.full_json
    texts = [m["content"] for row in data_rows("conversations")[:20] for m in row["messages"] if m.get("content")]
    got, expected = taken.encode_whole(texts), shared.encode_whole(texts)
    assert np.array_equal(got.ids, expected.ids) and np.array_equal(got.bounds, expected.bounds)


def test_a_started_load_of_another_tokenizer_is_ignored(started_qwen3):
    other = unshared_load_bundled("qwen2.5", started_qwen3)  # the same file, less four added tokens
    assert other.whole._load is not started_qwen3.load
    assert other.fingerprint == bundle("qwen2.5").fingerprint != started_qwen3.definition.fingerprint
    assert other.full_json == read_definition("qwen2.5").text != started_qwen3.definition.text


def test_a_started_load_does_not_travel_to_a_spawned_process(started_qwen3):
    assert pickle.loads(pickle.dumps(started_qwen3)) is None


def _data_files(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_a_render_through_the_entry_point_writes_what_render_files_writes(tmp_path, data_files):
    source = data_files["conversations"]
    through_entry = tmp_path / "entry"
    proc = subprocess.run([sys.executable, "-m", "datakit", "render", str(source), "-o", str(through_entry),
                           "--template", "qwen3", "--workers", "2", "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    in_process = tmp_path / "in-process"
    render_files([source], in_process, RenderOptions(template="qwen3", workers=2))
    assert _data_files(through_entry) == _data_files(in_process)


@pytest.mark.parametrize("no_fastokens", [True, False], ids=["fastokens not installed", "fast=False"])
def test_a_bundled_tokenizer_can_be_encoded_by_tokenizers_with_the_same_ids(monkeypatch, no_fastokens):
    if no_fastokens:
        monkeypatch.setattr("datakit.tokenizer.start_encoder_load", lambda definition: None)  # no wheel here
    plain = unshared_load_bundled("llama3", fast=no_fastokens)
    assert plain.encoder_name.startswith("tokenizers ")
    texts = ["<|begin_of_text|>hello", "naïve café 🙂", ""]
    got, expected = plain.encode_whole(texts), bundle("llama3").encode_whole(texts)
    assert np.array_equal(got.ids, expected.ids) and np.array_equal(got.bounds, expected.bounds)


def test_inspect_renders_with_tokenizers_which_is_ready_sooner_for_a_few_rows(monkeypatch):
    import datakit.render.renderer as renderer
    from datakit.inspect import make_renderer

    asked = []
    monkeypatch.setattr(renderer, "load_tokenizer", lambda name, started=None, fast=True: asked.append(fast) or bundle(name))
    make_renderer("qwen3")
    assert asked == [False]


def test_the_entry_point_imports_nothing_heavy_before_the_load_starts():
    probe = ("import sys, datakit.launch; "
             "print(sorted({'numpy', 'pyarrow', 'jinja2', 'tokenizers', 'click'} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["datakit", "datakit.render"])
def test_every_public_name_of_a_lazy_package_resolves(package):
    module = __import__(package, fromlist=["__all__"])
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
