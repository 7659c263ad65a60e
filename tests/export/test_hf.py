"""`datakit export --to hf`: Hugging Face's causal-LM rows, which TRL's SFTTrainer trains on as
they are."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import golden_rows
from datakit.cli import main
from datakit.export.hf import IGNORE_INDEX, export_hf
from datakit.export.pack import pack_output
from datakit.output import OutputReadError


@pytest.fixture(scope="module")
def exported(conversations_output, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf") / "hf"
    result = CliRunner().invoke(main, ["export", str(conversations_output), "--to", "hf", "-o", str(out)])
    assert result.exit_code == 0 and "train 128 rows" in result.output, result.output
    return out


def test_rows_are_the_unshifted_tokens_with_ignored_labels(exported, conversations_output):
    import datasets
    train = datasets.load_from_disk(str(exported))["train"]
    assert train.column_names[:3] == ["input_ids", "labels", "attention_mask"]
    source = datasets.load_from_disk(str(conversations_output))["train"]
    for row, golden, original in zip(train, golden_rows("hf", "llama3", "conversations"), source):
        assert row["input_ids"] == golden["tokens"]
        assert row["labels"] == [IGNORE_INDEX] + [t if w else IGNORE_INDEX
                                                  for t, w in zip(golden["tokens"][1:], golden["weights"][1:])]
        assert row["attention_mask"] == [1] * len(golden["tokens"])
        assert {k: row[k] for k in ("source", "line", "num_tokens")} == {k: original[k] for k in ("source", "line", "num_tokens")}


def test_manifest_points_at_the_source(exported, conversations_output):
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["format"] == "datakit-hf/1"
    assert manifest["source"]["path"] == str(conversations_output.resolve())
    assert manifest["splits"]["train"]["rows"] == 128 and manifest["tokenizer"]["name"] == "llama3"
    assert (exported / "rejects.jsonl").is_file() and (exported / "stats.json").is_file()


def test_packed_sources_and_existing_targets_are_refused(conversations_output, exported, tmp_path):
    packed = pack_output(conversations_output, tmp_path / "packed", 2048).out_dir
    with pytest.raises(OutputReadError, match="expected datakit/1"):
        export_hf(packed, tmp_path / "hf")
    again = CliRunner().invoke(main, ["export", str(conversations_output), "--to", "hf", "-o", str(exported)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    replaced = tmp_path / "replaced"
    export_hf(conversations_output, replaced)
    again = CliRunner().invoke(main, ["export", str(conversations_output), "--to", "hf", "-o", str(replaced),
                                      "--overwrite"])
    assert again.exit_code == 0, again.output
    assert json.loads((replaced / "manifest.json").read_text())["splits"]["train"]["rows"] == 128


def test_trl_sft_trainer_runs_a_step_on_the_export_as_it_is(exported, tmp_path):
    import datasets
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import SFTConfig, SFTTrainer

    from datakit.tokenizer import load_tokenizer

    train = datasets.load_from_disk(str(exported))["train"].select(range(4))  # four rows: one small step
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(load_tokenizer("llama3").full_json),
                                        pad_token="<|finetune_right_pad_id|>", eos_token="<|eot_id|>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=128_256, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    args = SFTConfig(output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=4,
                     report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    labels = [[t for t in row if t != IGNORE_INDEX] for row in batch["labels"].tolist()]
    expected = sorted([t for t in row["labels"] if t != IGNORE_INDEX] for row in train)
    assert sorted(labels) == expected  # TRL kept datakit's labels: loss only on assistant tokens
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
