"""`--model ORG/NAME`: the template and tokenizer of a known model id, and the usage errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datakit.cli import main
from datakit.render import BUILTIN, TemplateError
from datakit.render.catalog import MODEL_FAMILIES, model_template, resolve_model


@pytest.mark.parametrize("model,expected", [
    ("Qwen/Qwen3.6-27B", ("qwen3.6", "qwen3.5")),
    ("Qwen/Qwen3.5-9B-Base", ("cookbook:role_colon", "qwen3.5")),
    ("meta-llama/Llama-3.1-8B-Instruct", ("llama3", "llama3")),
    ("meta-llama/Llama-3.2-3B-Instruct", ("llama3.2", "llama3")),
    ("meta-llama/Llama-3.2-1B", ("cookbook:role_colon", "llama3")),
    ("Qwen/Qwen3-8B", ("qwen3", "qwen3")),
    ("Qwen/Qwen3-30B-A3B-Instruct-2507", ("qwen3-instruct-2507", "qwen3")),
    ("Qwen/Qwen3.5-397B-A17B", ("qwen3.5", "qwen3.5")),
    ("Qwen/Qwen3.5-2B", ("qwen3.5-nothink", "qwen3.5")),
    ("Qwen/Qwen3.8-27B", ("qwen3.8", "qwen3.5")),
    ("qwen/qwen3.8-27b:step-100", ("qwen3.8", "qwen3.5")),  # case and a checkpoint suffix do not matter
])
def test_known_models_pick_their_template_and_tokenizer(model, expected):
    assert model_template(model) == expected


def test_every_family_names_real_templates_and_their_tokenizers():
    ids = [model for family in MODEL_FAMILIES for model in family.ids]
    assert len(ids) == len({m.lower() for m in ids})
    for family in MODEL_FAMILIES:
        assert all(t in BUILTIN for t in family.templates), family.name
        assert set(family.templates) == {family.template, *(f"cookbook:{name}" for name in family.cookbook)}
        assert BUILTIN[family.template].tokenizer in (family.tokenizer, None)  # None: role_colon takes any


def test_template_and_tokenizer_must_fit_the_model():
    assert resolve_model("Qwen/Qwen3.6-27B", None, None) == ("qwen3.6", "qwen3.5")
    assert resolve_model("Qwen/Qwen3.6-27B", "cookbook:qwen3_5", None) == ("cookbook:qwen3_5", "qwen3.5")
    assert resolve_model("Qwen/Qwen3-8B", "qwen3-cookbook", "qwen3") == ("cookbook:qwen3", "qwen3")  # the old alias
    with pytest.raises(TemplateError, match="--template qwen3 does not fit --model Qwen/Qwen3.6-27B: use qwen3.6 or"):
        resolve_model("Qwen/Qwen3.6-27B", "qwen3", None)
    with pytest.raises(TemplateError, match="whose tokenizer is qwen3.5"):
        resolve_model("Qwen/Qwen3.6-27B", None, "qwen3")
    with pytest.raises(TemplateError, match=r"unknown model 'Qwen/Qwen9'.*Qwen3\.5 base; Qwen3\.6; Qwen3\.8"):
        model_template("Qwen/Qwen9")


def test_cli_model_option(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "yo"}]}) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(source), "-o", str(out), "--model", "Qwen/Qwen3.5-9B-Base",
                                       "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["template"]["name"], manifest["tokenizer"]["name"]) == ("cookbook:role_colon", "qwen3.5")
    for args, message in ((["--model", "Qwen/Qwen3.6-27B", "-t", "llama3"], "does not fit --model"),
                          (["--model", "nobody/nothing"], "unknown model 'nobody/nothing'")):
        result = CliRunner().invoke(main, ["render", str(source), "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["inspect", str(source), "--model", "Qwen/Qwen3.8-27B", "--no-color"])
    assert result.exit_code == 0 and "Reasoning effort is set to xhigh" in result.output
