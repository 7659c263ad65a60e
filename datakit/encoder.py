"""Encode a batch of whole texts into one flat buffer of ids: the hot call of every render.

For the bundled tokenizers this is fastokens (Apache-2.0, a Rust reimplementation of the
`tokenizers` pipeline). It gives exactly the ids `tokenizers` gives with control-token strings
parsed, which the tests check on every golden row, the vendored data and fuzzed text
(tests/test_encoder.py), and it returns two buffers rather than a Python object per token: on
this project's 2-core machine it encodes about 5x (short texts) to 10x (long) faster than
tiktoken did. Any other tokenizer, or a machine without fastokens (it has no wheel for Linux on
ARM), is encoded by `tokenizers` itself, with the same result.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from itertools import chain
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np
from tokenizers import Tokenizer

if TYPE_CHECKING:
    import fastokens

    from .bundled import EncoderLoad


def encode_on_one_thread() -> None:
    """Make this process's encoders use one thread, unless the environment says otherwise:
    `tokenizers` reads RAYON_NUM_THREADS, fastokens FASTOKENS_BPE_THREADS (at each call). Where
    processes are the parallelism, a second thread in each only contends for the cores, and
    fastokens' holds a cache of its own (~35 MiB)."""
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    os.environ.setdefault("FASTOKENS_BPE_THREADS", "1")


class FlatIds(NamedTuple):
    """The ids of many texts, one after another: text i is `ids[bounds[i]:bounds[i + 1]]`."""

    ids: np.ndarray  # int32
    bounds: np.ndarray  # int64, len(texts) + 1


class WholeTextEncoder:
    """`tokenizer.json`'s ids of whole texts, control-token strings encoded as control tokens:
    by fastokens when its load is given, else by `tokenizers`."""

    def __init__(self, tokenizer: Callable[[], Tokenizer], load: EncoderLoad | None):
        self._tokenizer = tokenizer  # built only if it is the one that encodes
        self._load = load
        self._fast: fastokens.Tokenizer | None = None
        self.name = f"fastokens {version('fastokens')}" if load else f"tokenizers {version('tokenizers')}"

    def wait(self) -> None:
        """Return once the encoder is loaded. Until its first `encode` it runs no thread, so a
        process may fork then and its children share it."""
        if self._load is None:
            self._tokenizer()
        elif self._fast is None:
            self._fast = self._load.result()

    def encode(self, texts: list[str]) -> FlatIds:
        self.wait()
        if self._fast is not None:
            ids, bounds = self._fast.encode_batch_flat(texts, add_special_tokens=False)
            # Ids fit in 31 bits, so the uint32 buffer is read as int32 in place.
            return FlatIds(np.frombuffer(ids, np.int32), np.frombuffer(bounds, np.uint64).astype(np.int64))
        rows = [e.ids for e in self._tokenizer().encode_batch_fast(texts, add_special_tokens=False)]
        lengths = np.fromiter(map(len, rows), np.int64, len(rows))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return FlatIds(np.fromiter(chain.from_iterable(rows), np.int32, int(bounds[-1])), bounds)

