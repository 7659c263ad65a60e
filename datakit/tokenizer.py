"""Load tokenizers: the bundled Llama 3 / Qwen files, a local directory, or a cached hub id.

A `TokenizerBundle` carries two `tokenizers.Tokenizer` objects built from one JSON definition:
``full`` (what Hugging Face uses; control-token strings become control tokens) and ``plain``
(the same tokenizer with its control tokens removed, so their text encodes as ordinary text).
Conversations are encoded whole by `encode_whole`, which gives ``full``'s ids (through fastokens,
for the bundled tokenizers: see `encoder`); a conversation whose messages hold control-token
text is encoded in pieces with ``plain`` instead, unless the user opts into Hugging Face's
behaviour. Both ``Tokenizer`` objects are built on first use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .bundled import BUNDLED, EncoderLoad, StartedBundle, fingerprint, read_definition, start_encoder_load
from .encoder import FlatIds, WholeTextEncoder
from .nfc import nfc_could_change


_CONTROL_SHAPE = re.compile(r"<\|[^|]*\|>\Z")


class TokenizerError(ValueError):
    """A tokenizer could not be found or loaded."""


@dataclass(frozen=True)
class TokenizerBundle:
    """A tokenizer, its control-token-free twin, and what datakit needs to know about it."""

    name: str
    full_json: str = field(repr=False)  # the tokenizer.json, less the added tokens dropped
    control_tokens: dict[str, int] = field(repr=False)
    fingerprint: str
    bos_token: str | None = None
    eos_token: str | None = None
    # Bytes of text each token id stands for, when that is fixed (byte-level BPE): lets the
    # renderer place tokens without asking the tokenizer for offsets. None otherwise.
    token_bytes: np.ndarray | None = field(default=None, repr=False)
    normalizes_nfc: bool = False
    bundled: bool = False  # shipped in the package: fastokens is checked on these (`encoder`)
    started_encoder: WholeTextEncoder | None = field(default=None, repr=False, compare=False)

    @cached_property
    def full(self) -> Tokenizer:
        return Tokenizer.from_str(self.full_json)

    @cached_property
    def whole(self) -> WholeTextEncoder:
        if self.bundled and self.started_encoder is not None:
            return self.started_encoder
        return WholeTextEncoder(lambda: self.full, None)

    @property
    def encoder_name(self) -> str:
        return self.whole.name

    def encode_whole(self, texts: list[str]) -> FlatIds:
        """Ids of whole texts, control-token strings included: exactly what `full` gives."""
        return self.whole.encode(texts)

    def needs_normalizing(self, text: str) -> bool:
        """True when this tokenizer's normalizer could change `text`: its tokens then do not
        spell its bytes, so it cannot be weighed by byte position."""
        return self.normalizes_nfc and nfc_could_change(text)

    @cached_property
    def plain(self) -> Tokenizer:
        # Built on first use: only conversations with control-token text in them need it.
        spec = json.loads(self.full_json)
        # Dropping an added token would renumber the ones after it, so every added token's id
        # is pinned in the model vocabulary; BPE has no merges that build the control ones.
        plain = dict(spec, model=dict(spec["model"], vocab=dict(spec["model"]["vocab"])))
        plain["model"]["vocab"].update({t["content"]: t["id"] for t in spec["added_tokens"]})
        plain["added_tokens"] = [t for t in spec["added_tokens"] if not is_control_token(t)]
        return Tokenizer.from_str(json.dumps(plain, ensure_ascii=False))


def is_control_token(added_token: dict) -> bool:
    """Control tokens: every `special` added token and every `<|...|>`-shaped one.

    Markup tokens such as Qwen's `<think>` or `<tool_call>` stay ordinary added tokens, as
    in Hugging Face, because chat data writes them on purpose.
    """
    return bool(added_token.get("special")) or bool(_CONTROL_SHAPE.match(added_token["content"]))


def bundle_from_json(definition: str, name: str, bos_token: str | None = None,
                     eos_token: str | None = None) -> TokenizerBundle:
    """A bundle of a local or cached `tokenizer.json` string (encoded by `tokenizers`)."""
    return _bundle(definition, name, fingerprint(definition), bos_token, eos_token, json.loads(definition))


def _bundle(definition: str, name: str, digest: str, bos_token: str | None, eos_token: str | None,
            spec: dict, encoder_load: EncoderLoad | None = None, bundled: bool = False) -> TokenizerBundle:
    """The bundle of a definition, its fingerprint `digest` and its parsed `spec` (a bundled
    one's encoder: fastokens, from `encoder_load`, or else `tokenizers`)."""
    encoder = WholeTextEncoder(lambda: bundle.full, encoder_load) if bundled else None
    bundle = TokenizerBundle(
        name=name,
        token_bytes=_token_byte_lengths(spec),
        normalizes_nfc=(spec.get("normalizer") or {}).get("type") == "NFC",
        full_json=definition,
        bundled=bundled,
        control_tokens={t["content"]: t["id"] for t in spec["added_tokens"] if is_control_token(t)},
        fingerprint=digest,
        bos_token=bos_token,
        eos_token=eos_token,
        started_encoder=encoder,
    )
    return bundle


_LAST_MERGES = re.compile(r'"merges":\s*\[')
_MODEL_AND_FILE_END = re.compile(r"\]\s*\}\s*\}\s*\Z")


def _parse_without_merges(definition: str) -> dict:
    """A bundled tokenizer.json parsed, its BPE merges left unparsed (an empty list): they close
    the file, as in every bundled one (a file that does not end so is parsed whole). Half a
    million pairs for Qwen3.5, the longest part to parse, and nothing here reads them (the
    encoder parses the file itself)."""
    starts = [m.end() for m in _LAST_MERGES.finditer(definition)]
    end = _MODEL_AND_FILE_END.search(definition)
    if len(starts) == 1 and end is not None and starts[0] <= end.start():
        return json.loads(definition[:starts[0]] + definition[end.start():])
    return json.loads(definition)


def byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-ins for the 256 byte values, as ByteLevel uses them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    codes = printable + [256 + i for i in range(len(extra))]
    return {chr(code): byte for code, byte in zip(codes, printable + extra)}


def _token_byte_lengths(spec: dict) -> np.ndarray | None:
    """Length in UTF-8 bytes of the text behind each id, for plain byte-level BPE; else None."""
    model, pre, normalizer = spec.get("model") or {}, spec.get("pre_tokenizer") or {}, spec.get("normalizer")
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    byte_level = [s for s in steps if s.get("type") == "ByteLevel"]
    if (model.get("type") != "BPE" or model.get("byte_fallback") or len(byte_level) != 1
            or byte_level[0].get("add_prefix_space") or (normalizer and normalizer.get("type") != "NFC")):
        return None
    vocab = model["vocab"]
    if not set("".join(vocab)) <= byte_level_alphabet().keys():
        return None
    lengths = np.zeros(max([*vocab.values(), *(t["id"] for t in spec["added_tokens"])]) + 1, dtype=np.int64)
    lengths[np.fromiter(vocab.values(), np.int64, len(vocab))] = np.fromiter(map(len, vocab), np.int64, len(vocab))
    for added in spec["added_tokens"]:
        lengths[added["id"]] = len(added["content"].encode("utf-8"))
    return lengths


def load_bundled(name: str, started: StartedBundle | None = None, fast: bool = True) -> TokenizerBundle:
    """One of the tokenizers shipped in the package: `llama3`, `qwen2.5`, `qwen3` or `qwen3.5`.
    `started` is taken over if it is this tokenizer (`bundled.start_bundled`), else ignored.
    `fast`: encode with fastokens where it is installed. Its load takes about a second of a
    core, which a render earns back; a few conversations (`inspect`) encode sooner with
    `tokenizers`, whose ids are the same."""
    try:
        bundled = BUNDLED[name]
    except KeyError:
        raise TokenizerError(f"no bundled tokenizer {name!r}; choose from {sorted(BUNDLED)}") from None
    if started is not None and started.name == name:
        definition, load = started.definition, started.load
    else:
        # Started before the rest of the file is parsed here: the load is the longest step of a
        # render's start.
        definition = read_definition(name)
        load = start_encoder_load(definition.text) if fast else None
    return _bundle(definition.text, name, definition.fingerprint, bundled.bos_token, bundled.eos_token,
                   _parse_without_merges(definition.text), load, bundled=True)


def load_tokenizer(source: str, started: StartedBundle | None = None, fast: bool = True) -> TokenizerBundle:
    """A bundled name, a directory or file holding `tokenizer.json`, or a hub id already cached.

    Hub ids go through `transformers` (an optional extra) and never touch the network. A bundled
    tokenizer already `started` loading is taken over, and `fast` picks its encoder (`load_bundled`).
    """
    if source in BUNDLED:
        return load_bundled(source, started, fast)
    path = Path(source)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return _load_local(path, source)
    if Path(source).exists():
        raise TokenizerError(f"{source}: no tokenizer.json there")
    return _load_cached_hub_tokenizer(source)


def _load_local(path: Path, source: str) -> TokenizerBundle:
    """A local tokenizer.json, parsed now: a file that is not one is one TokenizerError here, not
    a crash in every worker."""
    try:
        bos, eos = _special_tokens_from_config(path.parent / "tokenizer_config.json")
        bundle = bundle_from_json(path.read_text(encoding="utf-8"), str(source), bos, eos)
        bundle.full  # noqa: B018 - builds the tokenizer, which checks the whole definition
    except OSError as exc:
        raise TokenizerError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except Exception as exc:  # json, KeyError, and whatever `tokenizers` raises for a bad definition
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise TokenizerError(f"{path}: not a tokenizer.json datakit can read ({reason})") from None
    return bundle


def check_tokenizer_source(source: str) -> None:
    """Raise TokenizerError now if `load_tokenizer(source)` cannot work (cheap for local ones)."""
    if source in BUNDLED:
        return
    path = Path(source)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return
    load_tokenizer(source)


def _special_tokens_from_config(config_path: Path) -> tuple[str | None, str | None]:
    if not config_path.is_file():
        return None, None
    config = json.loads(config_path.read_text(encoding="utf-8"))

    def token(key: str) -> str | None:
        value = config.get(key)
        return value.get("content") if isinstance(value, dict) else value

    return token("bos_token"), token("eos_token")


def _load_cached_hub_tokenizer(hub_id: str) -> TokenizerBundle:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise TokenizerError(
            f"{hub_id!r} is not a bundled name or a local path; loading a hub id needs "
            "`pip install 'datakit[hf]'`"
        ) from None
    try:
        hf = AutoTokenizer.from_pretrained(hub_id, local_files_only=True)
    except Exception as exc:  # transformers raises many types for "not cached"
        raise TokenizerError(f"{hub_id!r}: not found locally ({exc.__class__.__name__})") from None
    if not getattr(hf, "is_fast", False):
        raise TokenizerError(f"{hub_id!r}: datakit needs a fast (tokenizer.json) tokenizer")
    return bundle_from_json(hf.backend_tokenizer.to_str(), hub_id, hf.bos_token, hf.eos_token)
