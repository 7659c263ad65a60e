"""The HTML view: one self-contained page (inline CSS, no scripts, no network), a tooltip per token."""

from __future__ import annotations

import html
from typing import Sequence

from ..tokenizer import TokenizerBundle
from .rows import InspectedRow
from .tokens import fmt_weight, token_pieces, visible

_CSS = """
:root{--w1-bg:#c8f0d2;--w1-fg:#0b4a1a;--w0-fg:#8b9099;--ctl-bg:#e4e6ea;--ctl-fg:#4b5058;--ctl1-bg:#1f883d}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f7f9}
header.page{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid #d8dce1;padding:10px 20px}
header.page h1{font-size:17px;margin:0 0 4px}
header.page .sub{color:#59636e;font-size:12.5px}
.legend{margin-top:6px;font-size:12.5px;color:#59636e}
.legend .tok{margin:0 6px 0 2px}
.legend label{margin-left:14px;cursor:pointer;user-select:none}
#bnd{position:absolute;left:-9999px}
main{padding:6px 20px 30px}
section.row{background:#fff;border:1px solid #d8dce1;border-radius:8px;margin:14px 0;overflow:hidden}
section.row>h2{margin:0;padding:8px 12px;font-size:14px;background:#f0f2f5;border-bottom:1px solid #e3e6ea;font-weight:600}
section.row>h2 .where{font-weight:400;color:#59636e;margin-left:8px;word-break:break-all}
.meta{padding:6px 12px;font-size:12.5px;color:#59636e;border-bottom:1px solid #eef0f2}
.meta b{color:#1f2328;font-weight:600}
.meta .trunc{color:#9a3412;background:#ffedd5;border-radius:4px;padding:0 5px;font-weight:600}
.meta .note{color:#854d0e;background:#fef9c3;border-radius:4px;padding:0 5px}
pre.seq{margin:0;padding:10px 12px;font:13px/1.65 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere;tab-size:4}
.tok{border-radius:0}
.tok.w0{color:var(--w0-fg)}
.tok.w1{color:var(--w1-fg);background:var(--w1-bg)}
.tok.special{font-size:11px;padding:0 3px;margin:0 1px;border-radius:3px;background:var(--ctl-bg);color:var(--ctl-fg);vertical-align:1px}
.tok.special.w1{background:var(--ctl1-bg);color:#fff}
.tok.part{display:inline-block;min-width:2px;height:1em}
.tok .nl{opacity:.45;font-size:11px}
.tok .ws{opacity:.55}
.tok:hover{outline:1px solid #1f2328;outline-offset:0}
#bnd:checked~main pre.seq>.tok:nth-child(even){box-shadow:inset 0 -2px 0 rgba(9,105,218,.55)}
#bnd:checked~main pre.seq>.tok:nth-child(odd){box-shadow:inset 0 -2px 0 rgba(207,34,46,.45)}
#bnd:checked~header label .box::before{content:"☑ "}
label .box::before{content:"☐ "}
"""


def _text(text: str, quote: bool = True) -> str:
    """Text from the data or a manifest as HTML: markup escaped, control characters made visible
    (the page may be printed to a terminal: --html -)."""
    return html.escape(visible(text), quote=quote)


def _html_token_text(text: str) -> str:
    return _text(text, quote=False).replace("\n", '<span class="nl">↵</span>\n')


def _html_row(row: InspectedRow, bundle: TokenizerBundle) -> str:
    pieces = token_pieces(row.tokens, bundle)
    spans = []
    for i, piece in enumerate(pieces):
        w = row.weights[i]
        classes = "tok " + ("w1" if w > 0 else "w0")
        if piece.control or piece.unknown:
            classes += " special"
        if piece.partial:
            classes += " part"
        text = piece.own if piece.own.startswith(("b'", 'b"')) else repr(piece.own)
        title = f"pos {i} · id {piece.id} · weight {fmt_weight(w)} · {visible(text)}"
        if piece.partial:
            title += " (part of a character)"
        elif piece.control:
            title += " (control token)"
        spans.append(
            f'<span class="{classes}" data-id="{piece.id}" data-pos="{i}" data-w="{fmt_weight(w)}" '
            f'title="{_text(title)}">{_html_token_text(piece.text)}</span>'
        )
    attrs = {
        "split": row.split, "row": row.row, "source": row.source, "line": row.line,
        "num-tokens": row.num_tokens, "num-trainable": row.num_trainable,
        "original-length": row.original_length, "truncated": str(row.truncated).lower(),
    }
    data = " ".join(f'data-{k}="{_text(str(v))}"' for k, v in attrs.items() if v is not None)
    heading = f"{row.split} · row {row.row}" if row.split is not None else f"row {row.row}"
    where = f"{row.source or ''} line {row.line}" if row.line is not None else ""
    meta = [f"<b>{row.num_tokens}</b> tokens", f"<b>{row.num_trainable}</b> trainable",
            f"original length <b>{row.original_length}</b>"]
    meta.append('<span class="trunc">truncated</span>' if row.truncated else "not truncated")
    if row.split is None:
        meta.append("rendered now from JSONL")
    if row.note:
        meta.append(f'<span class="note">{_text(row.note)}</span>')
    return (
        f'<section class="row" {data}>\n'
        f'<h2>{_text(heading)}<span class="where">{_text(where)}</span></h2>\n'
        f'<div class="meta">{" · ".join(meta)}</div>\n'
        f'<pre class="seq">{"".join(spans)}</pre>\n'
        f"</section>"
    )


def render_html(rows: Sequence[InspectedRow], bundle: TokenizerBundle, title: str, *,
                subtitle: str | None = None, boundaries: bool = False) -> str:
    """One self-contained page (inline CSS, no scripts, no network): a section per row with its
    provenance and counts, every token a `<span class="tok w1|w0 [special]">` with
    data-id/data-pos/data-w and a tooltip."""
    sub = f'<div class="sub">{_text(subtitle)}</div>' if subtitle else ""
    legend = (
        '<div class="legend">'
        '<span class="tok w1">trained</span> <span class="tok w0">not trained</span> '
        '<span class="tok special w0">&lt;|control|&gt;</span> '
        '<span class="tok special w1">&lt;|trained control|&gt;</span> '
        "hover a token for its position, id and weight"
        '<label for="bnd"><span class="box"></span>show token boundaries</label></div>'
    )
    body = "\n".join(_html_row(row, bundle) for row in rows)
    checked = " checked" if boundaries else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<input type="checkbox" id="bnd"{checked}>\n'
        f'<header class="page"><h1>{_text(title)}</h1>{sub}{legend}</header>\n'
        f"<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
