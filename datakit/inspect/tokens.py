"""Tokens as text: each token's share of the decoded row, its own text, and text made safe to
show (control characters and bidi overrides never reach a terminal or page as themselves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..tokenizer import TokenizerBundle, byte_level_alphabet

try:  # tokenizers >= 0.21
    from tokenizers.decoders import DecodeStream
except ImportError:  # pragma: no cover - older tokenizers: decode token by token
    DecodeStream = None  # type: ignore[assignment,misc]


@dataclass(frozen=True)
class TokenPiece:
    """How one token shows: its share of the decoded text, and what kind of token it is."""

    id: int
    text: str  # what this token adds to the decoded row ('' when a later token completes its character)
    own: str  # the token decoded alone (bytes repr for a fragment of a UTF-8 character)
    control: bool
    partial: bool  # a fragment of a character whose text shows on a later token
    unknown: bool = False  # not in the tokenizer's vocabulary


def token_pieces(tokens: Sequence[int], bundle: TokenizerBundle) -> list[TokenPiece]:
    """Each token's text, decoded incrementally so characters split across tokens come out whole."""
    full = bundle.full
    control_ids = set(bundle.control_tokens.values())
    vocab_size = full.get_vocab_size(with_added_tokens=True)
    texts: list[str | None] = [None] * len(tokens)
    unknown = [not 0 <= t < vocab_size or full.id_to_token(t) is None for t in tokens]
    stream = DecodeStream(skip_special_tokens=False) if DecodeStream is not None else None
    pending: list[int] = []
    for i, t in enumerate(tokens):
        if unknown[i]:
            texts[i] = f"<unknown id {t}>"
            continue
        out = stream.step(full, t) if stream is not None else full.decode([t], skip_special_tokens=False)
        if out is None:
            pending.append(i)
            continue
        for j in pending:
            texts[j] = ""
        pending = []
        texts[i] = out
    if pending:  # the row ends inside a character (e.g. truncated there)
        for j in pending[:-1]:
            texts[j] = ""
        texts[pending[-1]] = full.decode([tokens[j] for j in pending], skip_special_tokens=False)
    pieces = []
    for i, t in enumerate(tokens):
        own = texts[i] if unknown[i] else _own_text(bundle, t)
        pieces.append(TokenPiece(int(t), texts[i] or "", own, t in control_ids,
                                 partial=texts[i] == "", unknown=unknown[i]))
    return pieces


def _own_text(bundle: TokenizerBundle, token_id: int) -> str:
    text = bundle.full.decode([token_id], skip_special_tokens=False)
    if "\ufffd" not in text:
        return text
    raw = bundle.full.id_to_token(token_id) or ""
    if raw.startswith("<0x") and raw.endswith(">") and len(raw) == 6:  # byte fallback
        return repr(bytes([int(raw[3:5], 16)]))
    decoder = byte_level_alphabet()
    if raw and all(ch in decoder for ch in raw):
        return repr(bytes(decoder[ch] for ch in raw))
    return text


# Characters that must never reach a terminal or page as themselves.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SAFE = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}  # ␀ … ␟ (\r is ␍)
_SAFE[0x7F] = "␡"
_SAFE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})
_SAFE.update({ord(c): f"\\u{ord(c):04x}" for c in _BIDI + "\u2028\u2029"})
_SAFE_WS = {**_SAFE, 0x0A: "↵\n", 0x09: "→", 0x20: "·"}
_SAFE_NL = {**_SAFE, 0x0A: "↵\n", 0x09: "→"}


def visible(text: str, whitespace: str = "") -> str:
    """`text` with control characters made harmless; whitespace shown ("all", "newlines", "")."""
    table = _SAFE_WS if whitespace == "all" else _SAFE_NL if whitespace == "newlines" else _SAFE
    return text.translate(table)


def whitespace_modes(pieces: list[TokenPiece], weights: Sequence[float], boundaries: bool) -> list[str]:
    """Where whitespace is made visible: whitespace-only tokens where the weight changes
    (else nothing shows whether that newline is trained), and everywhere with boundaries."""
    modes = []
    for i, piece in enumerate(pieces):
        blank = piece.text != "" and piece.text.isspace() and not piece.control
        edge = (i > 0 and weights[i - 1] != weights[i]) or (i + 1 < len(weights) and weights[i + 1] != weights[i])
        if blank and (edge or boundaries):
            modes.append("all")
        elif boundaries:
            modes.append("newlines")
        else:
            modes.append("")
    return modes


def fmt_weight(w: float) -> str:
    return "1" if w == 1 else "0" if w == 0 else f"{w:g}"
