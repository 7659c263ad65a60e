"""The terminal views: a row's decoded text with trained tokens highlighted, and a token table."""

from __future__ import annotations

import click

from ..tokenizer import TokenizerBundle
from .rows import InspectedRow
from .tokens import fmt_weight, token_pieces, visible, whitespace_modes

# Terminal styles (keyword arguments of click.style).
TRAINED_STYLE: dict = {"fg": "green", "bold": True}
UNTRAINED_STYLE: dict = {"dim": True}
CONTROL_STYLE: dict = {"reverse": True}
BOUNDARY_STYLE: dict = {"fg": "blue"}
HEADER_STYLE: dict = {"fg": "cyan", "bold": True}
NOTE_STYLE: dict = {"fg": "yellow"}

# Markers used instead of colour (NO_COLOR, pipes): trained runs and control tokens.
TRAINED_OPEN, TRAINED_CLOSE = "⟦", "⟧"
CONTROL_OPEN, CONTROL_CLOSE = "⟨", "⟩"
BOUNDARY = "|"


def terminal_legend(color: bool) -> str:
    if color:
        return ("legend: " + click.style("trained", **TRAINED_STYLE) + "  "
                + click.style("not trained", **UNTRAINED_STYLE) + "  "
                + click.style("<|control|>", **CONTROL_STYLE, **UNTRAINED_STYLE) + "  "
                + click.style("<|trained control|>", **CONTROL_STYLE, **TRAINED_STYLE))
    return (f"legend: {TRAINED_OPEN}trained{TRAINED_CLOSE}  not trained  "
            f"{CONTROL_OPEN}<|control token|>{CONTROL_CLOSE}  ↵ ␍ → · = newline, CR, tab, space")


def render_header(row: InspectedRow, color: bool) -> str:
    text = visible(f"── {row.label} · {row.counts} ──")
    lines = [click.style(text, **HEADER_STYLE) if color else text]
    if row.note:
        note = visible(f"note: {row.note}")
        lines.append(click.style(note, **NOTE_STYLE) if color else note)
    return "\n".join(lines)


def _style_lines(text: str, style: dict) -> str:
    # Style each line on its own, so a pager or a wrapped line never carries a style over.
    return "\n".join(click.style(part, **style) if part else "" for part in text.split("\n"))


def render_terminal(row: InspectedRow, bundle: TokenizerBundle, color: bool, boundaries: bool = False,
                    header: bool = True) -> str:
    """The row's decoded text: trained tokens green and bold, the rest dim, control tokens in
    inverse video (without colour: trained runs in ⟦…⟧, control tokens in ⟨…⟩), optionally
    with `|` between tokens. Control characters in the text never reach the terminal raw."""
    pieces = token_pieces(row.tokens, bundle)
    modes = whitespace_modes(pieces, row.weights, boundaries)
    out: list[str] = []
    if color:
        runs: list[tuple[dict, str]] = []
        for i, piece in enumerate(pieces):
            style = dict(TRAINED_STYLE if row.weights[i] > 0 else UNTRAINED_STYLE)
            if piece.control or piece.unknown:
                style.update(CONTROL_STYLE)
            text = visible(piece.text, modes[i])
            if boundaries and i > 0:
                runs.append((BOUNDARY_STYLE, BOUNDARY))
            if runs and runs[-1][0] == style and not boundaries:
                runs[-1] = (style, runs[-1][1] + text)
            else:
                runs.append((style, text))
        out = [_style_lines(text, style) for style, text in runs]
    else:
        trained = False
        for i, piece in enumerate(pieces):
            now = row.weights[i] > 0
            if trained and not now:
                out.append(TRAINED_CLOSE)
            if boundaries and i > 0:
                out.append(BOUNDARY)
            if now and not trained:
                out.append(TRAINED_OPEN)
            trained = now
            text = visible(piece.text, modes[i])
            out.append(f"{CONTROL_OPEN}{text}{CONTROL_CLOSE}" if piece.control or piece.unknown else text)
        if trained:
            out.append(TRAINED_CLOSE)
    body = "".join(out)
    return f"{render_header(row, color)}\n{body}" if header else body


def render_tokens_table(row: InspectedRow, bundle: TokenizerBundle) -> str:
    """One line per token: position, id, weight, the token's text (repr-escaped), its kind."""
    pieces = token_pieces(row.tokens, bundle)
    width = max(3, len(str(len(pieces) - 1)))
    lines = [f"{'pos':>{width}}  {'id':>7}  {'weight':>6}  text"]
    for i, piece in enumerate(pieces):
        kind = "  control" if piece.control else "  unknown" if piece.unknown else (
            "  part of a character" if piece.partial else "")
        text = piece.own if piece.own.startswith("b'") or piece.own.startswith('b"') else repr(piece.own)
        lines.append(f"{i:>{width}}  {piece.id:>7}  {fmt_weight(row.weights[i]):>6}  {visible(text)}{kind}")
    return "\n".join(lines)
