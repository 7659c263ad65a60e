"""Tinker datums: `reduction="mean"` against tinker-cookbook 0.6.1's SFT datums (the golden
made by scripts/make_tinker_golden.py), and batches straight from an output."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from conftest import GOLDEN, data_rows, renderer
from datakit import shift, to_tinker_datum
from datakit.datum import reduce_weights
from datakit.output import OutputReadError
from datakit.pipeline import RenderOptions, render_files
from datakit.tinker import datums

COOKBOOK = [json.loads(line) for line in gzip.open(GOLDEN / "tinker" / "cookbook_datums.jsonl.gz", "rt")]


def _datum_fields(datum):
    return (datum.model_input.to_ints(), datum.loss_fn_inputs["target_tokens"].to_numpy().tolist(),
            datum.loss_fn_inputs["weights"].to_numpy())


@pytest.mark.parametrize("golden", COOKBOOK, ids=lambda g: f"{g['template']}-{g['data']}-{g['line']}")
def test_mean_reduction_equals_tinker_cookbooks_conversation_to_datum(golden):
    rendered = renderer(golden["template"]).render(data_rows(golden["data"])[golden["line"] - 1]["messages"])
    row = dict(zip(("input_tokens", "target_tokens", "weights"), shift(rendered.tokens, rendered.weights)))
    tokens, targets, weights = _datum_fields(to_tinker_datum(row, reduction="mean"))
    assert tokens == golden["input_tokens"] and targets == golden["target_tokens"]
    np.testing.assert_array_equal(weights, np.asarray(golden["weights"], np.float32))  # bit for bit


def test_the_golden_covers_both_cookbook_templates_and_multi_turn_rows():
    assert {g["template"] for g in COOKBOOK} == {"llama3-cookbook", "qwen3-cookbook"}
    assert all(abs(sum(g["weights"]) - 1) < 1e-5 for g in COOKBOOK)
    assert len({g["data"] for g in COOKBOOK}) == 2


def test_reductions():
    weights = np.array([0, 1, 1, 0, 1], np.float32)
    np.testing.assert_array_equal(reduce_weights(weights, "none"), weights)
    np.testing.assert_allclose(reduce_weights(weights, "mean"), weights / 3)
    assert reduce_weights(np.zeros(3, np.float32), "mean").tolist() == [0, 0, 0]
    with pytest.raises(ValueError):
        reduce_weights(weights, "sum")


def test_datums_batches_an_output(tmp_path, data_files):
    out = tmp_path / "cookbook"
    render_files([data_files["conversations"]], out, RenderOptions(template="llama3-cookbook", workers=1))
    batches = list(datums(out, reduction="mean", batch_size=50))
    assert [len(b) for b in batches] == [50, 50, 28]
    flat = [d for b in batches for d in b]
    for golden in (g for g in COOKBOOK if g["template"] == "llama3-cookbook" and g["data"] == "conversations"):
        tokens, targets, weights = _datum_fields(flat[golden["line"] - 1])
        assert tokens == golden["input_tokens"] and targets == golden["target_tokens"]
        np.testing.assert_array_equal(weights, np.asarray(golden["weights"], np.float32))
    plain = next(datums(out, reduction="none", batch_size=1))[0]
    assert set(plain.loss_fn_inputs["weights"].to_numpy().tolist()) == {0.0, 1.0}
    with pytest.raises(ValueError):
        next(datums(out, reduction="mean", batch_size=0))


def test_datums_refuses_what_is_not_a_render(tmp_path):
    with pytest.raises(OutputReadError, match="no such directory"):
        next(datums(tmp_path / "missing", reduction="mean"))
