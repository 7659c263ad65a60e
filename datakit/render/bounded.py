"""Keep-first-N rendering of a huge last message: encode only the prefix that can survive.

With `--truncation right`, only a conversation's first `max_length` tokens are kept, yet the
whole text would be rendered and encoded (a 50-million-character answer: over a gigabyte).
When the last message of a plain chat on a built-in template (`native`) is longer than those
tokens can span, it is cut at a *safe boundary*: a space after a letter. The split regexes
of the bundled tokenizers (GPT-4 style: letter runs, digits, punctuation, whitespace) end a
pre-token at such a space, and none looks behind, so the pre-tokens, and hence the tokens,
before the boundary are those of the whole text, and the text after it encodes on its own to
the tokens the whole text has there. NFC (Qwen) composes nothing across a space either.

The rendered prefix gives the row; the rest is only counted, a chunk at a time (cut at safe
boundaries again), so the truncation statistics stay exact. The tokens of the prefix span at
most `token_bytes.max()` bytes each, so cutting at `keep_tokens * max_token_bytes` characters
or later keeps every token the row needs; but ordinary text has those tokens within a few
characters each, so a cut far nearer is tried first and taken when counting proves it enough
(under `--max-length 16384`: about 131k characters rendered instead of 2.1M).
tests/test_render_bounded.py checks rows and counts against the whole render.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

CHUNK_CHARS = 1 << 20  # the rest is counted in pieces about this long
CHUNKS_PER_CALL = 2  # as many as the encoder's threads: more only holds more memory at once
CHARS_PER_TOKEN_GUESS = 8  # where a cut is tried first; English prose has about 4.5, code 3-6


class Tail(NamedTuple):
    """What was cut off a message: content[start:end] (`end`: after the template's own
    stripping), and whether its tokens are trainable."""

    content: str
    start: int
    end: int
    trainable: bool


def safe_boundary(text: str, at: int, end: int) -> int | None:
    """The first position p in [at, end) with a space at p after a letter, or None."""
    p = text.find(" ", max(at, 1), end)
    while p >= 0:
        if text[p - 1].isalpha():
            return p
        p = text.find(" ", p + 1, end)
    return None


def cut_keeping(content: str, keep_tokens: int, at: int, encode_count: Callable[[list[str]], int]) -> int | None:
    """A safe boundary with `keep_tokens` tokens before it, or None. Past `at` (`keep_tokens` of
    the longest token) there always are; nearer boundaries are tried first, each taken when the
    tokens from the first boundary to it, encoded on their own (they are the whole text's),
    are enough."""
    first = safe_boundary(content, 1, len(content))
    guess = keep_tokens * CHARS_PER_TOKEN_GUESS
    while first is not None and guess < at:
        cut = safe_boundary(content, guess, at)
        if cut is None:
            break
        if encode_count([content[first:cut]]) >= keep_tokens:
            return cut
        guess *= 4
    return safe_boundary(content, at, len(content))


def count_tokens(tail: Tail, encode_count: Callable[[list[str]], int]) -> int:
    """Tokens of content[start:end] as the whole text has them, counted a batch of chunks at a time."""
    chunks, total, start = [], 0, tail.start
    while start < tail.end:
        cut = safe_boundary(tail.content, start + CHUNK_CHARS, tail.end) if tail.end - start > CHUNK_CHARS else None
        stop = tail.end if cut is None else cut
        chunks.append(tail.content[start:stop])
        start = stop
        if len(chunks) == CHUNKS_PER_CALL or start >= tail.end:
            total += encode_count(chunks)
            chunks = []
    return total
