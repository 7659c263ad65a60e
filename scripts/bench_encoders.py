"""The encoder baselines of scripts/bench.py, each on the fully rendered chat text.

(a) tiktoken `Encoding.encode_batch(texts, num_threads=<cores>)` with an Encoding built here
from the bundle's tokenizer.json (datakit's own encoder is not used); `tokenizers`
`encode_batch_fast`; fastokens `encode_batch_flat`; and (b) transformers `apply_chat_template`
one conversation at a time. Each batch encoder returns the token count of every text, so the
benchmark can check that they agree.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from datakit.tokenizer import TokenizerBundle, byte_level_alphabet


class Specials(StrEnum):
    """How tiktoken treats the control-token text (<|eot_id|>, ...) in the rendered text."""

    NONE = "none"  # ordinary text: allowed_special=set(), disallowed_special=()
    ALL = "all"  # control tokens: allowed_special="all", the ids datakit writes


def tiktoken_encoding(bundle: TokenizerBundle) -> Any:
    """tiktoken over the bundle's byte-level BPE: its split regex, its vocabulary as byte ranks
    (merges ranked by id), its added tokens as special tokens.

    tiktoken looks a pre-token up whole before merging; `tokenizers` merges. A few tokens
    (588 of Llama 3's, such as " Việt") are reached only by that lookup, so the ids can differ on
    text holding them; the benchmark checks the counts on its corpus.
    """
    import tiktoken

    spec = json.loads(bundle.full_json)
    split = spec["pre_tokenizer"]["pretokenizers"][0]  # the bundled files: Split, then ByteLevel
    to_bytes = {ord(char): byte for char, byte in byte_level_alphabet().items()}
    ranks = {token.translate(to_bytes).encode("latin-1"): rank for token, rank in spec["model"]["vocab"].items()}
    return tiktoken.Encoding(bundle.name, pat_str=split["pattern"]["Regex"], mergeable_ranks=ranks,
                             special_tokens={t["content"]: t["id"] for t in spec["added_tokens"]})


def _thread_cpu() -> dict[tuple[str, str], float]:
    """(thread id, name) -> CPU seconds (user + system) of this process's live threads."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid, name in _thread_names().items():
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[(tid, name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def _thread_names() -> dict[str, str]:
    """Thread id -> name of this process's threads."""
    names = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names[tid] = f.read().strip()
        except OSError:
            pass
    return names


@dataclass
class BatchEncoder:
    """One encoder: `lengths(texts)` gives each text's token count; `threads` says how many it uses."""

    name: str
    lengths: Callable[[list[str]], np.ndarray]
    threads: str = "?"
    encoding: Any = None  # tiktoken's Encoding, for check_tiktoken


def tiktoken_encoder(bundle: TokenizerBundle, cores: int, specials: Specials) -> BatchEncoder:
    encoding = tiktoken_encoding(bundle)
    kwargs: dict[str, Any] = ({"allowed_special": "all"} if specials is Specials.ALL
                              else {"allowed_special": set(), "disallowed_special": ()})

    def lengths(texts: list[str]) -> np.ndarray:
        return np.fromiter(map(len, encoding.encode_batch(texts, num_threads=cores, **kwargs)), np.int64, len(texts))

    return BatchEncoder("tiktoken", lengths, encoding=encoding)


def tokenizers_encoder(bundle: TokenizerBundle) -> BatchEncoder:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(bundle.full_json)

    def lengths(texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return np.fromiter(map(len, encodings), np.int64, len(texts))

    return BatchEncoder("tokenizers", lengths)


def fastokens_encoder(bundle: TokenizerBundle) -> BatchEncoder | None:
    """fastokens' flat batch API (ids as uint32 bytes, offsets as uint64 bytes); None if absent."""
    try:
        import fastokens
    except ImportError:
        return None
    tokenizer = fastokens.Tokenizer.from_json_str(bundle.full_json)

    def lengths(texts: list[str]) -> np.ndarray:
        _ids, offsets = tokenizer.encode_batch_flat(texts, add_special_tokens=False)
        return np.diff(np.frombuffer(offsets, np.uint64)).astype(np.int64)

    return BatchEncoder("fastokens", lengths)


def _warmed_up(make: Callable[[], BatchEncoder | None], sample: list[str], pools: dict[str, str]) -> BatchEncoder | None:
    """make() and one untimed call (thread pools, regex compilation). The first one in this process
    records in `pools` the threads it started, which the library keeps for later calls."""
    before = _thread_names()
    encoder = make()
    if encoder is not None:
        encoder.lengths(sample)
        time.sleep(0.3)  # a pool may start and name its threads after the call returns
        if encoder.name not in pools:
            started = sorted(name for tid, name in _thread_names().items() if tid not in before)
            pools[encoder.name] = f"its first call started {len(started)} thread(s) ({', '.join(started) or '-'})"
        encoder.threads = pools[encoder.name]
    return encoder


def batch_encoders(bundle: TokenizerBundle, cores: int, specials: Specials, sample: list[str],
                   pools: dict[str, str]) -> list[BatchEncoder]:
    """tiktoken (a), tokenizers, fastokens (when installed), each warmed up on `sample`;
    `pools` keeps the thread pools the libraries started, across calls."""
    from importlib.metadata import version

    tiktoken = tiktoken_encoder(bundle, cores, specials)
    tiktoken.lengths(sample)
    tiktoken.threads = f"num_threads={cores} (a thread pool per call), allowed_special=" + (
        '"all"' if specials is Specials.ALL else "set(), disallowed_special=()")
    encoders = [tiktoken, _warmed_up(lambda: tokenizers_encoder(bundle), sample, pools),
                _warmed_up(lambda: fastokens_encoder(bundle), sample, pools)]
    if os.environ.get("RAYON_NUM_THREADS"):
        encoders[1].threads += f", RAYON_NUM_THREADS={os.environ['RAYON_NUM_THREADS']}"
    for encoder in encoders:
        if encoder is not None:
            encoder.name = f"{encoder.name} {version(encoder.name)}"
    return [e for e in encoders if e is not None]


def timed(encoder: BatchEncoder, texts: list[str], chunk: int) -> tuple[float, float, np.ndarray, str]:
    """Wall seconds, CPU seconds (all threads), per-text token counts, `chunk` texts a call
    (bounds the memory of the id lists), and the CPU seconds of each thread that still lives
    (a pool's threads; tiktoken's per-call threads are gone) and ran for at least 10 ms."""
    parts = []
    threads = _thread_cpu()
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), chunk):
        parts.append(encoder.lengths(texts[i:i + chunk]))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    busy = [(name, t - threads.get((tid, name), 0.0)) for (tid, name), t in _thread_cpu().items()]
    busy_text = ", ".join(f"{name} {t:.2f}s" for name, t in busy if t >= 0.01)
    return wall, cpu, np.concatenate(parts) if parts else np.zeros(0, np.int64), busy_text


def check_tiktoken(encoder: BatchEncoder, texts: list[str], reference: np.ndarray, chunk: int) -> str:
    """Whether the tiktoken Encoding, parsing control tokens, gives `reference`'s token counts."""
    encoding = encoder.encoding
    counts = np.concatenate([np.fromiter(map(len, encoding.encode_batch(texts[i:i + chunk], allowed_special="all")),
                                         np.int64) for i in range(0, len(texts), chunk)])
    return check_tiktoken_counts(counts, reference)


def check_tiktoken_counts(counts: np.ndarray, reference: np.ndarray) -> str:
    differ = int((counts != reference).sum())
    verdict = "the same token count as" if differ == 0 else f"a different count on {differ} texts from"
    return (f"tiktoken's Encoding (allowed_special=\"all\") gives {counts.sum():,} tokens: {verdict} "
            f"tokenizers ({reference.sum():,})")


# --------------------------------------------------------------------------------------------
# (b) transformers apply_chat_template
# --------------------------------------------------------------------------------------------


def hf_tokenizer(bundle: TokenizerBundle, template: Any) -> Any:
    import transformers
    from tokenizers import Tokenizer

    fresh = Tokenizer.from_str(bundle.full_json)  # transformers may change its settings
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=fresh, bos_token=template.bos_token)
    hf.chat_template = template.source  # datakit's tagged template: {% generation %} tags
    return hf


def hf_encode(hf: Any, messages: list) -> Any:
    return hf.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)


def check_hf(hf: Any, renderer: Any, records: list[dict], n: int) -> str:
    """Compare HF's tokens and assistant mask with datakit's on the first n records."""
    bad = []
    sample = records[:n]
    for i, (record, ours) in enumerate(zip(sample, renderer.render_batch(sample))):
        out = hf_encode(hf, record["messages"])
        if (list(out["input_ids"]) != ours.tokens.tolist()
                or [float(m) for m in out["assistant_masks"]] != ours.weights.tolist()):
            bad.append(i)
    return f"{len(sample) - len(bad)}/{len(sample)} identical" + (f" (differ: {bad[:10]})" if bad else "")


def bench_hf(hf: Any, records: list[dict]) -> tuple[float, int, float]:
    """(b): wall seconds, tokens and CPU seconds of apply_chat_template, one conversation a call."""
    tokens = 0
    cpu, started = time.process_time(), time.perf_counter()
    for record in records:
        tokens += len(hf_encode(hf, record["messages"])["input_ids"])
    return time.perf_counter() - started, tokens, time.process_time() - cpu
