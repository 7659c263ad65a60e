"""The tokenizers shipped in the package: which file each is, its definition, and loading its
encoder on a thread.

Loading a bundled tokenizer's encoder (fastokens) is the longest step of a render's start, about
a second on one core. Nothing here imports numpy or `tokenizers`, so the command line can start
that load before the rest of datakit is imported (`launch`); `tokenizer.load_bundled` takes over
a load started so, or starts its own.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .heap import release_free_memory

if TYPE_CHECKING:
    import fastokens

PACKAGE_DIR = Path(__file__).resolve().parent


class Bundled(NamedTuple):
    asset: str  # file in datakit/assets
    drop: tuple[str, ...] = ()  # added tokens to remove
    eos_token: str | None = None
    bos_token: str | None = None  # as the models' tokenizer_config.json has it


BUNDLED: dict[str, Bundled] = {
    # Built by scripts/build_llama3_tokenizer.py from a PyPI file, the Llama 3.2 *Vision*
    # tokenizer: text models lack `<|image|>`.
    "llama3": Bundled("llama3-tokenizer.json.gz", ("<|image|>",), bos_token="<|begin_of_text|>"),
    "qwen3": Bundled("qwen-tokenizer.json.gz"),
    # Qwen2.5 has the Qwen3 vocabulary minus its four Qwen3-only added tokens.
    "qwen2.5": Bundled("qwen-tokenizer.json.gz", ("<tool_response>", "</tool_response>", "<think>", "</think>")),
    # Qwen3.5, 3.6 and 3.8 share it: built by scripts/build_qwen35_tokenizer.py.
    "qwen3.5": Bundled("qwen3.5-tokenizer.json.gz", eos_token="<|im_end|>"),
}


class Definition(NamedTuple):
    """A bundled tokenizer's `tokenizer.json` text, less the added tokens it drops, and the
    fingerprint of the file as shipped."""

    text: str
    fingerprint: str


def read_definition(name: str) -> Definition:
    """The definition of bundled tokenizer `name` (a key of BUNDLED)."""
    bundled = BUNDLED[name]
    shipped = gzip.decompress((PACKAGE_DIR / "assets" / bundled.asset).read_bytes()).decode("utf-8")
    text = definition_without(shipped, bundled.drop) if bundled.drop else shipped
    return Definition(text, fingerprint(shipped, bundled.drop))


def fingerprint(definition: str, drop: tuple[str, ...] = ()) -> str:
    """What a manifest records of a tokenizer: the SHA-256 of its `tokenizer.json` text and of
    the added tokens removed from it."""
    digest = hashlib.sha256(definition.encode())
    digest.update(json.dumps(sorted(drop)).encode())
    return "sha256:" + digest.hexdigest()


def definition_without(definition: str, drop: tuple[str, ...]) -> str:
    """`definition` without the added tokens in `drop`.

    Splices the one array instead of re-serializing the whole file (megabytes of vocab and
    merges), unless the array cannot be found unambiguously.
    """
    key = '"added_tokens":'
    at = definition.find(key)
    if at >= 0 and definition.find(key, at + 1) < 0:
        start = at + len(key)
        while definition[start] in " \t\r\n":
            start += 1
        try:
            added, end = json.JSONDecoder().raw_decode(definition, start)
        except json.JSONDecodeError:
            pass
        else:
            kept = [t for t in added if t["content"] not in drop]
            return definition[:start] + json.dumps(kept, ensure_ascii=False) + definition[end:]
    spec = json.loads(definition)
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in drop]
    return json.dumps(spec, ensure_ascii=False)


class EncoderLoad:
    """fastokens building its tokenizer from a definition, on a thread: the build releases the
    GIL, so this process imports, parses and renders meanwhile."""

    def __init__(self, definition: str):
        self._built: fastokens.Tokenizer | None = None
        self._thread = threading.Thread(target=self._build, args=(definition,), daemon=True)
        self._thread.start()

    def _build(self, definition: str) -> None:
        import fastokens

        self._built = fastokens.Tokenizer.from_json_str(definition)
        release_free_memory()  # what building it, and parsing the definition before, left behind

    def result(self) -> fastokens.Tokenizer:
        """The built tokenizer, once the build ends. Until its first encode it runs no thread, so a
        process may fork then and its children share it."""
        self._thread.join()
        if self._built is None:
            raise RuntimeError("fastokens could not load the tokenizer (its error is above)")
        return self._built


def start_encoder_load(definition: str) -> EncoderLoad | None:
    """Start building fastokens' tokenizer for `definition`; None where fastokens is not installed
    (it has no wheel for Linux on ARM): `tokenizers` encodes instead."""
    try:
        import fastokens  # noqa: F401
    except ImportError:
        return None
    return EncoderLoad(definition)


class StartedBundle(NamedTuple):
    """A bundled tokenizer whose definition is read and whose encoder is loading."""

    name: str
    definition: Definition
    load: EncoderLoad

    def __reduce__(self) -> tuple:
        # A spawned worker process loads its own tokenizer: a thread does not travel.
        return type(None), ()


def start_bundled(name: str) -> StartedBundle | None:
    """Read bundled tokenizer `name` and start loading its encoder (None: no fastokens here)."""
    definition = read_definition(name)
    load = start_encoder_load(definition.text)
    return None if load is None else StartedBundle(name, definition, load)
