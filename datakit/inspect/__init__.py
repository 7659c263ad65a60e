"""`datakit inspect`: show what the model will learn from a row, token by token.

Two sources of rows, displayed identically:

* a rendered output directory (`datakit render ... -o OUT`): rows are read back from the Arrow
  shards, which hold the shifted Datum layout, and the full sequence is rebuilt as
  ``input_tokens + [target_tokens[-1]]`` with per-token weights ``[0] + weights`` (the weight
  of token i is the weight of predicting it; nothing predicts the first token). The text is
  decoded with the tokenizer the manifest records, so the original JSONL is not needed.
* a chat JSONL file: each selected line is rendered now with a template (and tokenizer), the
  way `datakit render` would, without truncation. The first token's weight is shown as 0 for
  the same reason as above.

Outputs: coloured text in the terminal (trained tokens green and bold, the rest dim, control
tokens in inverse video), a per-token table (`--tokens`), or one self-contained HTML page
(`--html`) with a tooltip per token.

Modules: `rows` (the row type), `from_output` and `from_jsonl` (where rows come from), `tokens`
(tokens as text), `terminal` and `html` (the views), `command` (the CLI).
"""

from .command import inspect_command, use_color
from .from_jsonl import load_jsonl_rows, make_renderer
from .from_output import load_output_tokenizer, load_rows, read_manifest
from .html import render_html
from .rows import InspectedRow, InspectError
from .terminal import (
    CONTROL_STYLE, TRAINED_STYLE, UNTRAINED_STYLE, render_header, render_terminal, render_tokens_table,
    terminal_legend,
)
from .tokens import TokenPiece, token_pieces

__all__ = [
    "CONTROL_STYLE", "TRAINED_STYLE", "UNTRAINED_STYLE", "InspectError", "InspectedRow", "TokenPiece",
    "inspect_command", "load_jsonl_rows", "load_output_tokenizer", "load_rows", "make_renderer", "read_manifest",
    "render_header", "render_html", "render_terminal", "render_tokens_table", "terminal_legend", "token_pieces",
    "use_color",
]
