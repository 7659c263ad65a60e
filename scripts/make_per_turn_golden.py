"""Make tests/golden/cookbook/qwen3-per-turn/reasoning.jsonl.gz: tinker-cookbook 0.6.1's
`build_supervised_examples` on multi-turn conversations with reasoning, for `--examples per_turn`.

The records are generated here (deterministic) in datakit's input form (`reasoning_content` on
assistant messages); tinker-cookbook gets them as its own messages (the reasoning as a
ThinkingPart before the text). One golden line per record: its input `record` and the
`examples` tinker-cookbook builds, each `{"tokens", "weights"}` (unshifted). Never imports
datakit. Run in a venv that has tinker-cookbook (see scripts/make_tinker_golden.py):

    /work/venv-trainers/bin/python scripts/make_per_turn_golden.py
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "cookbook" / "qwen3-per-turn" / "reasoning.jsonl.gz"
WORDS = "plan check add carry the digits then answer why because step one two three 十 二 ✓".split()


def records(n: int = 12) -> list[dict]:
    rng = random.Random(20261203)
    out = []
    for _ in range(n):
        messages = [{"role": "system", "content": "Think, then answer."}] if rng.random() < 0.5 else []
        for turn in range(rng.randint(1, 4)):
            messages.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(2, 9))) + "?"})
            answer = {"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(1, 12)))}
            if rng.random() < 0.8:
                answer["reasoning_content"] = " ".join(rng.choices(WORDS, k=rng.randint(3, 20)))
            messages.append(answer)
        out.append({"messages": messages})
    return out


def cookbook_messages(messages: list[dict]) -> list[dict]:
    """datakit's reasoning_content as tinker-cookbook's [ThinkingPart, TextPart] content."""
    converted = []
    for m in messages:
        if "reasoning_content" in m:
            m = {"role": m["role"], "content": [{"type": "thinking", "thinking": m["reasoning_content"]},
                                                {"type": "text", "text": m["content"]}]}
        converted.append(m)
    return converted


def main() -> None:
    import tinker_cookbook
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    from tinker_cookbook import renderers
    from tinker_cookbook.renderers import TrainOnWhat

    assert tinker_cookbook.__version__ == "0.6.1", tinker_cookbook.__version__
    raw = gzip.decompress((ROOT / "datakit" / "assets" / "qwen-tokenizer.json.gz").read_bytes()).decode()
    renderer = renderers.get_renderer("qwen3", PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(raw)))
    lines = []
    for record in records():
        examples = renderer.build_supervised_examples(cookbook_messages(record["messages"]),
                                                      TrainOnWhat.ALL_ASSISTANT_MESSAGES)
        lines.append({"record": record, "examples": [
            {"tokens": model_input.to_ints(), "weights": [float(w) for w in weights.tolist()]}
            for model_input, weights in examples]})
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(gzip.compress("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode(),
                                     compresslevel=9, mtime=0))
    print(f"wrote {len(lines)} records, {sum(len(x['examples']) for x in lines)} examples to {GOLDEN.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
