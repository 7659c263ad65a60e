"""Make tests/golden/tinker/cookbook_datums.jsonl.gz: tinker-cookbook 0.6.1's SFT datums.

For a few vendored conversations and the cookbook `llama3` / `qwen3` renderers, this records
what tinker-cookbook's `conversation_to_datum(messages, renderer, max_length=None)` gives with
its default `reduction="mean"`: input tokens, target tokens and weights (summing to 1).
`tests/test_tinker.py` checks `datakit.to_tinker_datum(row, reduction="mean")` and
`datakit.tinker.datums` against it.

tinker-cookbook is not a test dependency (its `tml-renderers` requirement is not on PyPI at
the version it pins); run this in a venv that has it, installed without dependencies:

    python -m venv --system-site-packages /tmp/venv-cookbook
    /tmp/venv-cookbook/bin/pip install --no-deps tinker-cookbook==0.6.1
    /tmp/venv-cookbook/bin/pip install blobfile chz pillow termcolor
    PYTHONPATH=. /tmp/venv-cookbook/bin/python scripts/make_tinker_golden.py

The tokenizers are datakit's bundled ones, loaded into `PreTrainedTokenizerFast` from their
`tokenizer.json` (no hub access).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden" / "tinker" / "cookbook_datums.jsonl.gz"
# (data file, how many leading lines): single- and multi-turn, system prompts, mixed scripts.
PICKS = (("conversations", 6), ("synthetic", 6))
RENDERERS = {"llama3": "llama3-cookbook", "qwen3": "qwen3-cookbook"}  # cookbook name -> datakit template


def hf_tokenizer(name: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from datakit.tokenizer import load_bundled

    bundle = load_bundled(name)
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(bundle.full_json))


def main() -> None:
    import tinker_cookbook
    from tinker_cookbook import renderers
    from tinker_cookbook.supervised.data import conversation_to_datum

    assert tinker_cookbook.__version__ == "0.6.1", tinker_cookbook.__version__
    records = []
    for cookbook_name, template in RENDERERS.items():
        renderer = renderers.get_renderer(cookbook_name, hf_tokenizer(template.split("-")[0]))
        for data, count in PICKS:
            with gzip.open(DATA / f"{data}.jsonl.gz", "rt", encoding="utf-8") as f:
                lines = [json.loads(line) for _, line in zip(range(count), f)]
            for number, record in enumerate(lines, start=1):
                datum = conversation_to_datum(record["messages"], renderer, max_length=None)
                records.append({
                    "template": template, "data": data, "line": number,
                    "input_tokens": datum.model_input.to_ints(),
                    "target_tokens": [int(t) for t in datum.loss_fn_inputs["target_tokens"].data],
                    "weights": [float(w) for w in datum.loss_fn_inputs["weights"].data],
                })
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    GOLDEN.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    print(f"wrote {len(records)} datums to {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
