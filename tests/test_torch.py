"""datakit.torch: the dataset over the shards, the collator's two layouts, and a tiny Llama
trained from them, whose loss from the Datum layout equals Hugging Face's from `labels=`."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import golden_rows
from datakit.output import OutputReadError
from datakit.torch import IGNORE_INDEX, DatumDataset, collate


@pytest.fixture(scope="module")
def dataset(conversations_output):
    return DatumDataset(conversations_output)


@pytest.fixture(scope="module")
def by_length(dataset):
    """Row indices, shortest first (short rows keep the 128,256-way logits small)."""
    return np.argsort([len(dataset[i]["input_tokens"]) for i in range(len(dataset))], kind="stable").tolist()


@pytest.fixture(scope="module")
def short_rows(dataset, by_length):
    return [dataset[i] for i in by_length[:4]]


@pytest.fixture(scope="module")
def llama():
    """A randomly initialised two-layer Llama with Llama 3's vocabulary, built from its config."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128_256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         initializer_range=0.2, pad_token_id=None, bos_token_id=128000, eos_token_id=128009)
    return LlamaForCausalLM(config).eval()


def weighted_loss(logits, targets, weights):
    """The Datum loss: weighted mean of the per-target cross-entropy."""
    losses = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="none")
    return (losses * weights.flatten()).sum() / weights.sum()


def test_rows_are_views_of_the_shards(dataset, conversations_output):
    golden = golden_rows("hf", "llama3", "conversations")
    assert len(dataset) == 128 and dataset.pad_id == 128004  # <|finetune_right_pad_id|>
    for i in (0, 5, -1):
        row = dataset[i]
        tokens, weights = golden[i]["tokens"], golden[i]["weights"]
        assert row["input_tokens"].tolist() == tokens[:-1] and row["target_tokens"].tolist() == tokens[1:]
        assert row["weights"].tolist() == weights[1:]
    with pytest.raises(IndexError):
        dataset[128]
    again = pickle.loads(pickle.dumps(dataset))  # what a DataLoader worker gets
    assert len(pickle.dumps(dataset)) < 1000 and again[3]["input_tokens"].tolist() == dataset[3]["input_tokens"].tolist()


def test_only_renders_and_packed_outputs(tmp_path):
    with pytest.raises(OutputReadError, match="no such directory"):
        DatumDataset(tmp_path / "missing")


def test_datum_layout_pads_with_no_weight(dataset, short_rows):
    rows = [dataset[0], short_rows[0]]
    batch = dataset.collator(pad_to_multiple_of=64)(rows)
    assert set(batch) == {"input_tokens", "target_tokens", "weights", "attention_mask"}
    n0, n1 = (len(r["input_tokens"]) for r in rows)
    assert batch["input_tokens"].shape == (2, -(-max(n0, n1) // 64) * 64)
    assert batch["input_tokens"].dtype == torch.int64 and batch["weights"].dtype == torch.float32
    assert batch["attention_mask"][1].sum() == n1 and batch["weights"][1, n1:].abs().sum() == 0
    assert (batch["input_tokens"][1, n1:] == dataset.pad_id).all()
    assert batch["target_tokens"][1, :n1].tolist() == short_rows[0]["target_tokens"].tolist()


def test_hf_layout_is_the_unshifted_sequence_with_ignored_labels(dataset):
    golden = golden_rows("hf", "llama3", "conversations")[:3]
    batch = collate([dataset[i] for i in range(3)], "hf", pad_id=dataset.pad_id)
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    for b, g in enumerate(golden):
        n = len(g["tokens"])
        assert batch["input_ids"][b, :n].tolist() == g["tokens"]
        expected = [IGNORE_INDEX] + [t if w else IGNORE_INDEX for t, w in zip(g["tokens"][1:], g["weights"][1:])]
        assert batch["labels"][b, :n].tolist() == expected
        assert (batch["labels"][b, n:] == IGNORE_INDEX).all() and batch["attention_mask"][b].sum() == n


def test_a_tiny_llama_trains_and_both_layouts_give_the_same_loss(dataset, short_rows, llama):
    model = copy.deepcopy(llama).train()
    loader = torch.utils.data.DataLoader(short_rows, batch_size=4, collate_fn=dataset.collator())
    hf_batch = dataset.collator("hf")(short_rows)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(3):
        for batch in loader:
            logits = model(input_ids=batch["input_tokens"], attention_mask=batch["attention_mask"]).logits
            loss = weighted_loss(logits, batch["target_tokens"], batch["weights"])
            with torch.no_grad():
                hf_loss = model(**hf_batch).loss
                # The same labels one position late: what an off-by-one mistake gives.
                late = torch.cat([torch.full((4, 1), IGNORE_INDEX), hf_batch["labels"][:, :-1]], dim=1)
                late_loss = model(input_ids=hf_batch["input_ids"], attention_mask=hf_batch["attention_mask"],
                                  labels=late).loss
            # float32 losses near 12 are 1e-6 apart at one ulp: the tolerance is relative.
            assert abs(loss.item() - hf_loss.item()) <= 1e-6 * abs(hf_loss.item())
            assert abs(late_loss.item() - hf_loss.item()) > 1e-3
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert losses[-1] < losses[0] - 1


def _packed(rows, sizes):
    """Rows packed by hand, `sizes` rows per pack (datakit pack's layout, see tests/export)."""
    packs, start = [], 0
    for size in sizes:
        group = rows[start:start + size]
        start += size
        packs.append({name: np.concatenate([r[name] for r in group]) for name in ("input_tokens", "target_tokens", "weights")}
                     | {"seq_lens": np.array([len(r["input_tokens"]) for r in group])})
    return packs


def per_row_losses(model, batch, sizes, **inputs):
    logits = model(input_ids=batch["input_tokens"], use_cache=False, **inputs).logits
    out = []
    for b, pack_sizes in enumerate(sizes):
        start = 0
        for n in pack_sizes:
            end = start + n
            out.append(weighted_loss(logits[b:b + 1, start:end], batch["target_tokens"][b:b + 1, start:end],
                                     batch["weights"][b:b + 1, start:end]).item())
            start = end
    return np.array(out)


@pytest.fixture(scope="module")
def packing_case(dataset, by_length, llama):
    rows = [dataset[i] for i in by_length[4:9]]
    model = llama
    with torch.no_grad():
        alone = np.array([weighted_loss(model(input_ids=torch.tensor(r["input_tokens"][None], dtype=torch.long)).logits,
                                        torch.tensor(r["target_tokens"][None], dtype=torch.long),
                                        torch.tensor(r["weights"][None])).item() for r in rows])
    packs = _packed(rows, (3, 2))
    sizes = [p["seq_lens"].tolist() for p in packs]
    return model, packs, sizes, alone


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_rows_with_the_block_mask_lose_what_they_lose_alone(packing_case, attention):
    model, packs, sizes, alone = packing_case
    dtype = None if attention == "sdpa" else torch.float32  # eager adds the mask: it must be additive
    batch = collate(packs, block_mask=True, mask_dtype=dtype)
    assert batch["attention_mask"].shape == (2, 1, batch["input_tokens"].shape[1], batch["input_tokens"].shape[1])
    model.config._attn_implementation = attention
    try:
        with torch.no_grad():
            packed = per_row_losses(model, batch, sizes, attention_mask=batch["attention_mask"],
                                    position_ids=batch["position_ids"])
    finally:
        model.config._attn_implementation = "sdpa"
    np.testing.assert_allclose(packed, alone, rtol=0, atol=1e-5)


def test_packed_rows_with_position_ids_and_no_mask_lose_what_they_lose_alone(packing_case):
    model, packs, sizes, alone = packing_case
    batch = collate(packs)
    assert "attention_mask" not in batch  # a 2-D mask would let the rows see each other
    with torch.no_grad():
        packed = per_row_losses(model, batch, sizes, position_ids=batch["position_ids"])
    np.testing.assert_allclose(packed, alone, rtol=0, atol=1e-5)


def test_packing_without_document_masking_contaminates(packing_case):
    """The check above can fail: the same packs with a plain padding mask let each row attend
    to the rows before it in its pack, and only the first row of each pack keeps its loss."""
    model, packs, sizes, alone = packing_case
    batch = collate(packs)
    lengths = torch.tensor([len(p["input_tokens"]) for p in packs])
    padding = (torch.arange(batch["input_tokens"].shape[1]) < lengths[:, None]).long()
    with torch.no_grad():
        packed = per_row_losses(model, batch, sizes, attention_mask=padding, position_ids=batch["position_ids"])
    first = np.array([0, 3])
    np.testing.assert_allclose(packed[first], alone[first], rtol=0, atol=1e-5)
    assert (np.abs(np.delete(packed, first) - np.delete(alone, first)) > 1e-3).all()


def test_packed_batches_carry_positions_and_varlen_boundaries():
    rows = [{"input_tokens": np.arange(5), "target_tokens": np.arange(1, 6), "weights": np.ones(5, np.float32),
             "seq_lens": np.array([2, 3])},
            {"input_tokens": np.arange(3), "target_tokens": np.arange(1, 4), "weights": np.ones(3, np.float32),
             "seq_lens": np.array([3])}]
    batch = collate(rows, pad_to_multiple_of=8)
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2, 3, 4]]
    assert batch["cu_seqlens"].tolist() == [0, 2, 5, 8, 11, 16] and batch["max_seqlen"] == 5
    assert batch["cu_seqlens"].dtype == torch.int32
    mask = collate(rows, pad_to_multiple_of=8, block_mask=True)["attention_mask"][0, 0]
    assert mask[3].tolist() == [False, False, True, True, False, False, False, False]
    hf = collate(rows, "hf", pad_to_multiple_of=8)
    assert hf["position_ids"][0].tolist() == [0, 1, 0, 1, 2, 3, 0, 1]  # the appended last target joins the last row
    assert hf["labels"][0].tolist() == [IGNORE_INDEX, 1, 2, 3, 4, 5, IGNORE_INDEX, IGNORE_INDEX]
    with pytest.raises(ValueError, match="seq_lens sum to 4"):
        collate([dict(rows[0], seq_lens=np.array([2, 2]))])
