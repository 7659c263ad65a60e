"""Bundled tokenizers: the right files, the right ids, offline; local directories work too."""

from __future__ import annotations

import json

import pytest

from conftest import bundle
from datakit.bundled import definition_without
from datakit.tokenizer import TokenizerError, load_tokenizer


def test_llama3_bundle_drops_the_vision_image_token():
    b = bundle("llama3")
    assert b.full.get_vocab_size() == 128256
    assert b.full.token_to_id("<|image|>") is None
    assert b.full.token_to_id("<|begin_of_text|>") == 128000
    assert b.full.token_to_id("<|eot_id|>") == 128009
    assert len(b.control_tokens) == 256


def test_qwen_bundles():
    qwen3, qwen25 = bundle("qwen3"), bundle("qwen2.5")
    assert qwen3.full.token_to_id("<|im_start|>") == 151644
    assert qwen3.full.token_to_id("<|im_end|>") == 151645
    assert qwen3.full.token_to_id("<think>") == 151667
    for token in ("<tool_response>", "</tool_response>", "<think>", "</think>"):
        assert qwen25.full.token_to_id(token) is None
    assert qwen25.full.get_vocab_size() == 151665
    # Markup tokens are not control tokens: chat data writes them on purpose, as in HF.
    assert "<think>" not in qwen3.control_tokens and "<tool_call>" not in qwen3.control_tokens
    assert "<|fim_prefix|>" in qwen3.control_tokens


@pytest.mark.parametrize("name", ["llama3", "qwen2.5", "qwen3", "qwen3.5"])
def test_plain_twin_keeps_every_id_but_reads_control_text_as_text(name):
    b = bundle(name)
    assert b.plain.get_vocab() == b.full.get_vocab()
    for text, token_id in b.control_tokens.items():
        assert b.full.encode(text, add_special_tokens=False).ids == [token_id]
        assert token_id not in b.plain.encode(text, add_special_tokens=False).ids


def test_fingerprints_are_stable_and_distinct():
    assert bundle("qwen3").fingerprint != bundle("qwen2.5").fingerprint
    assert load_tokenizer("llama3").fingerprint == bundle("llama3").fingerprint


def test_a_local_tokenizer_directory(tmp_path):
    (tmp_path / "tokenizer.json").write_text(bundle("qwen2.5").full.to_str())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"bos_token": None, "eos_token": "<|im_end|>"}))
    local = load_tokenizer(str(tmp_path))
    assert local.full.encode("hello world").ids == bundle("qwen2.5").full.encode("hello world").ids
    assert local.eos_token == "<|im_end|>"


def test_unknown_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer.json"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(TokenizerError, match="not found locally|needs"):
        load_tokenizer("nobody/no-such-model-datakit-test")


def test_license_notices_ship_with_the_tokenizers():
    from datakit.bundled import PACKAGE_DIR

    assets = PACKAGE_DIR / "assets"
    assert "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT" in (assets / "LICENSE-llama3.txt").read_text()
    assert "Apache License" in (assets / "LICENSE-qwen.txt").read_text()
    assert "Built with Llama" in (assets / "NOTICE.md").read_text()


@pytest.mark.parametrize("layout", ["compact", "indented", "key_twice"])
def test_dropping_added_tokens_splices_or_reserializes_to_the_same_tokenizer(layout):
    source = json.loads(bundle("qwen3").full_json)
    source["model"]["vocab"] = dict(list(source["model"]["vocab"].items())[:300])
    source["model"]["merges"] = source["model"]["merges"][:50]
    if layout == "key_twice":  # a vocab entry spelled like the key: no splicing
        source["model"]["vocab"]["added_tokens"] = 299
    definition = json.dumps(source, indent=2 if layout == "indented" else None)
    keep = [t for t in source["added_tokens"] if t["content"] != "<think>"]
    spliced = json.loads(definition_without(definition, ("<think>",)))
    assert spliced == dict(source, added_tokens=keep)


@pytest.mark.parametrize("name", ["llama3", "qwen3", "qwen3.5"])
def test_a_bundled_definition_parses_to_the_same_spec_without_its_merges(name):
    from datakit.tokenizer import _parse_without_merges

    definition = bundle(name).full_json
    spec = json.loads(definition)
    assert spec["model"]["merges"] and _parse_without_merges(definition) == dict(spec, model=dict(spec["model"], merges=[]))
    shuffled = json.dumps(dict(spec, model={"merges": [["a", "b"]], **spec["model"]}))  # merges not last
    assert _parse_without_merges(shuffled) == json.loads(shuffled)


@pytest.fixture(scope="module")
def prune_merges():
    """scripts/prune_merges.py, which the build scripts of the bundled tokenizers run."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "prune_merges.py"
    spec = importlib.util.spec_from_file_location("prune_merges", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["llama3", "qwen3", "qwen3.5"])
def test_a_bundled_tokenizer_keeps_only_the_merges_bpe_applies(name, prune_merges):
    # The ids are those of the files as published: the goldens check every row against them.
    model = json.loads(bundle(name).full_json)["model"]
    assert prune_merges.applied_merges(model["vocab"], model["merges"]) == model["merges"]


def test_pruning_every_split_merges_keeps_the_ids(prune_merges):
    # A tiktoken-style file: the first 6,000 tokens of Qwen3.5 as ranks, every split a merge.
    spec = json.loads(bundle("qwen3.5").full_json)
    vocab = {text: i for text, i in spec["model"]["vocab"].items() if i < 6000}
    splits = sorted((vocab[t], vocab[t[:k]], vocab[t[k:]], f"{t[:k]} {t[k:]}") for t in vocab
                    for k in range(1, len(t)) if t[:k] in vocab and t[k:] in vocab)
    spec["model"].update(vocab=vocab, merges=[merge for *_, merge in splits])
    spec["added_tokens"] = []
    original = json.dumps(spec, ensure_ascii=False)
    pruned = prune_merges.pruned(original)
    assert 0 < len(json.loads(pruned)["model"]["merges"]) < len(splits)
    assert prune_merges.check_same_ids(original, pruned, mixes=20_000) == len(vocab) + 20_000
