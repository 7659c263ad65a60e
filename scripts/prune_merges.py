"""Keep only the BPE merges a tokenizer can ever apply; the build scripts of the bundled tokenizers use it.

A `tokenizer.json` converted from tiktoken ranks lists every split of a token into two
vocabulary tokens as a merge (Llama 3: 280,147 merges for 128,000 tokens; Qwen3.5: 500,709 for
248,044), but BPE only ever applies one of them per token: the last merge of BPE run on the
token's own text. The others cost the encoders' load time (fastokens builds its tables from
every merge: Llama 3 1.1 -> 0.7 s, Qwen3.5 2.2 -> 1.7 s) and nothing else.

Why dropping them gives the same ids for every text: BPE merges, at each step, the adjacent
pair of lowest rank (leftmost among equals). Suppose it merges x and y into t = x + y, in any
word. No merge ever crossed the edges of the span t covers (x and y lie inside it), so every
merge inside the span happened in the order BPE gives the span's text alone: BPE on t's own
text reaches [x, y] too, and then t, so (x, y) is t's last merge in that run, the one kept.
Hence no run ever applies a dropped merge, and with only the kept ones (in their order) BPE
takes the same steps. A token its own text never reaches (Qwen3.5 has 201, Llama 3 588) keeps
no merge: no run can build it, but a tokenizer that looks a whole pre-token up in the
vocabulary first (`ignore_merges`) still finds it there. `check_same_ids` tests the claim.
"""

from __future__ import annotations

import json
import random

from tokenizers import Tokenizer


def applied_merges(vocab: dict[str, int], merges: list[str]) -> list[str]:
    """The merges (`"a b"` strings) BPE applies last on some token's own text, in their order."""
    rank = {tuple(merge.split(" ")): i for i, merge in enumerate(merges)}
    applied = set()
    for token in vocab:
        symbols, last = list(token), None
        while len(symbols) > 1:
            pairs = [(rank[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in rank]
            if not pairs:
                break
            last, at = min(pairs)
            symbols[at:at + 2] = [symbols[at] + symbols[at + 1]]
        if len(symbols) == 1 and last is not None:
            applied.add(last)
    return [merges[i] for i in sorted(applied)]


def pruned(definition: str) -> str:
    """A compact `tokenizer.json` with only the merges BPE applies; everything else unchanged."""
    spec = json.loads(definition)
    model = spec["model"]
    model["merges"] = applied_merges(model["vocab"], model["merges"])
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))


def check_same_ids(original: str, pruned_definition: str, mixes: int = 100_000, seed: int = 0) -> int:
    """Encode every token's text alone and `mixes` runs of 2-12 random tokens' texts with both
    definitions (`tokenizers`); raise SystemExit on any difference. Returns the texts checked."""
    before, after = Tokenizer.from_str(original), Tokenizer.from_str(pruned_definition)
    pieces = [before.decode([i]) for i in range(before.get_vocab_size(with_added_tokens=False))]
    rng = random.Random(seed)
    texts = pieces + ["".join(rng.choices(pieces, k=rng.randint(2, 12))) for _ in range(mixes)]
    for start in range(0, len(texts), 20_000):
        chunk = texts[start:start + 20_000]
        a = before.encode_batch_fast(chunk, add_special_tokens=False)
        b = after.encode_batch_fast(chunk, add_special_tokens=False)
        for text, x, y in zip(chunk, a, b):
            if x.ids != y.ids:
                raise SystemExit(f"pruning the merges changed the ids of {text!r}: {x.ids} -> {y.ids}")
    return len(texts)
