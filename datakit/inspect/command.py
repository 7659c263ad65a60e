"""The `datakit inspect` command: pick rows from an output directory or a JSONL file, show them.

Text from the data or a crafted output (a reject's detail, a shard or input name, a manifest's
names) reaches the terminal escaped: messages through `terminal.printable`, rows and pages
through `tokens.visible`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from ..clitypes import JSON_OBJECT, template_for_model
from ..read import Form, RecordParser
from ..render import DEFAULT_DATE_STRING, TemplateError, TrainOn
from ..terminal import printable
from ..tokenizer import TokenizerBundle, TokenizerError
from .from_jsonl import load_jsonl_rows, make_renderer
from .from_output import load_output_tokenizer, load_rows, read_manifest
from .html import render_html
from .rows import DEFAULT_LIMIT, InspectedRow, InspectError
from .terminal import render_header, render_terminal, render_tokens_table, terminal_legend


@dataclass
class Selection:
    """The rows to show, the tokenizer that decodes them, and how to describe where they came from."""

    rows: list[InspectedRow]
    bundle: TokenizerBundle
    described: str
    empty: str  # the message when no row was selected


def _stdout_isatty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def use_color(flag: bool | None) -> bool:
    """--color/--no-color if given; else no colour when NO_COLOR is set or stdout is no terminal."""
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    return _stdout_isatty()


def _from_output(target: Path, split: str | None, picks: dict, tokenizer: str | None,
                 jsonl_only: dict) -> Selection:
    given = [name for name, value in jsonl_only.items() if value is not None]
    if given:
        raise click.UsageError(f"{', '.join(given)}: only for JSONL input; an output directory "
                               "is shown as it was rendered")
    split = split or "train"
    rows = load_rows(target, split, **picks)
    bundle, warning = load_output_tokenizer(target, tokenizer)
    if warning:
        click.echo(f"warning: {printable(warning)}", err=True)
    manifest = read_manifest(target)
    described = (f"template {(manifest.get('template') or {}).get('name')} · "
                 f"tokenizer {(manifest.get('tokenizer') or {}).get('name')} · {split} split")
    empty = f"no {'truncated ' if picks['truncated'] else ''}rows in the {split} split of {target}"
    return Selection(rows, bundle, described, empty)


def _from_jsonl(target: Path, split: str | None, picks: dict, tokenizer: str | None,
                jsonl_only: dict) -> Selection:
    for name, value in (("--split", split), ("--source", picks["source"])):
        if value is not None:
            raise click.UsageError(f"{name}: only for an output directory")
    if picks["truncated"]:
        raise click.UsageError("--truncated: only for an output directory (JSONL is shown without truncation)")
    template, tokenizer = template_for_model(jsonl_only["--model"], jsonl_only["--template"], tokenizer)
    renderer = make_renderer(template or "llama3", tokenizer,
                             parse_special_tokens=bool(jsonl_only["--parse-special-tokens"]),
                             train_on=jsonl_only["--train-on"] or TrainOn.ALL_ASSISTANT,
                             date_string=jsonl_only["--date-string"] or DEFAULT_DATE_STRING,
                             drop_reasoning=bool(jsonl_only["--drop-reasoning"]),
                             chat_template_kwargs=jsonl_only["--chat-template-kwargs"])
    parser = RecordParser(renderer.template.roles, Form(jsonl_only["--format"] or Form.AUTO),
                          jsonl_only["--messages-key"] or "messages")
    rows = load_jsonl_rows(target, renderer, rows=picks["rows"], line=picks["line"], limit=picks["limit"],
                           on_skip=lambda msg: click.echo(f"skipped: {printable(msg)}", err=True), parser=parser)
    described = f"template {renderer.template.name} · tokenizer {renderer.tokenizer.name} · rendered now"
    return Selection(rows, renderer.tokenizer, described, f"no line of {target} renders")


def _write_html(selection: Selection, target: Path, html_file: Path, boundaries: bool) -> None:
    page = render_html(selection.rows, selection.bundle, f"datakit inspect — {target.name}",
                       subtitle=f"{target} · {selection.described}", boundaries=boundaries)
    if str(html_file) == "-":
        click.echo(page, nl=False)
        return
    try:
        html_file.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(printable(f"{html_file}: cannot write ({exc.strerror or exc})")) from None
    n = len(selection.rows)
    click.echo(f"wrote {printable(str(html_file))} ({n} row{'s' if n != 1 else ''})")


def _print(selection: Selection, colored: bool, tokens_table: bool, boundaries: bool) -> None:
    if not tokens_table:
        click.echo(terminal_legend(colored), color=colored)
    for i, row in enumerate(selection.rows):
        if i or not tokens_table:
            click.echo("")
        if tokens_table:
            click.echo(render_header(row, colored), color=colored)
            click.echo(render_tokens_table(row, selection.bundle), color=colored)
        else:
            click.echo(render_terminal(row, selection.bundle, colored, boundaries), color=colored)


@click.command("inspect", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", metavar="TARGET", type=click.Path(path_type=Path))
@click.option("--split", metavar="NAME", help="Split of an output directory to read.  [default: train]")
@click.option("--row", "rows", type=int, multiple=True, metavar="N",
              help="Row N (0-based) of the split, or of the JSONL's non-blank lines; negative counts "
                   "from the end. Repeatable.")
@click.option("--line", "lines", type=click.IntRange(min=1), multiple=True, metavar="L",
              help="The row made from input line L (1-based). Repeatable.")
@click.option("--source", metavar="FILE",
              help="With --line, when the output was rendered from several files: which one "
                   "(path or file name).")
@click.option("--truncated", is_flag=True, help="Only rows that --max-length truncated.")
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True, metavar="K",
              help="How many rows to show when no --row/--line picks them.")
@click.option("--tokens", "tokens_table", is_flag=True,
              help="Print a table (position, id, weight, token text) instead of the text.")
@click.option("--boundaries", is_flag=True,
              help="Show where each token starts and ends (| between tokens; whitespace made visible).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              metavar="FILE", help="Write one self-contained HTML page instead (- for stdout).")
@click.option("--color/--no-color", default=None,
              help="Force colour on or off [default: on for a terminal, off if NO_COLOR is set].")
@click.option("-t", "--template", help="JSONL only: chat format, as for render.  [default: llama3]")
@click.option("--model", metavar="ORG/NAME", help="JSONL only: as for render.")
@click.option("--tokenizer", help="Tokenizer to decode with [default: the manifest's / the template's].")
@click.option("--train-on", type=click.Choice([m.value for m in TrainOn]),
              help="JSONL only: as for render.  [default: all_assistant]")
@click.option("--parse-special-tokens", is_flag=True, default=None,
              help="JSONL only: encode control-token text in messages as control tokens (as for render).")
@click.option("--date-string", help=f"JSONL only: as for render.  [default: {DEFAULT_DATE_STRING}]")
@click.option("--format", "input_format", type=click.Choice([m.value for m in Form]),
              help="JSONL only: record form, as for render.  [default: auto]")
@click.option("--messages-key", metavar="KEY", help="JSONL only: as for render.  [default: messages]")
@click.option("--drop-reasoning", is_flag=True, default=None, help="JSONL only: as for render.")
@click.option("--chat-template-kwargs", type=JSON_OBJECT, help="JSONL only: as for render.")
def inspect_command(target: Path, split: str | None, rows: tuple[int, ...], lines: tuple[int, ...],
                    source: str | None, truncated: bool, limit: int, tokens_table: bool, boundaries: bool,
                    html_file: Path | None, color: bool | None, template: str | None, model: str | None,
                    tokenizer: str | None,
                    train_on: str | None, parse_special_tokens: bool | None, date_string: str | None,
                    input_format: str | None, messages_key: str | None, drop_reasoning: bool | None,
                    chat_template_kwargs: dict | None) -> None:
    """Show what the model will learn from rows: decoded text, trained tokens highlighted.

    TARGET is a rendered output directory (rows are decoded from its shards with the tokenizer
    its manifest records) or a chat data file, read as render reads it (rows are rendered now
    with --template, without truncation). Trained tokens (loss weight 1) are green and bold, the rest dim, control tokens
    in inverse video; without colour, trained text is in ⟦…⟧ and control tokens in ⟨…⟩.

    \b
    Examples:
      datakit inspect out/ --row 0 --row 5
      datakit inspect out/ --split test --line 812 --boundaries
      datakit inspect out/ --truncated --limit 10 --html rows.html
      datakit inspect chat.jsonl -t qwen3 --line 3 --tokens
    """
    if tokens_table and html_file is not None:
        raise click.UsageError("--tokens and --html do not combine (the page shows each token on hover)")
    picks = {"rows": rows or None, "line": lines or None, "truncated": truncated, "limit": limit, "source": source}
    jsonl_only = {"--template": template, "--model": model, "--train-on": train_on,
                  "--parse-special-tokens": parse_special_tokens, "--date-string": date_string,
                  "--format": input_format, "--messages-key": messages_key, "--drop-reasoning": drop_reasoning,
                  "--chat-template-kwargs": chat_template_kwargs}
    try:
        if target.is_dir():
            selection = _from_output(target, split, picks, tokenizer, jsonl_only)
        elif target.exists():
            selection = _from_jsonl(target, split, picks, tokenizer, jsonl_only)
        else:
            raise InspectError(f"{target}: no such file or directory")
    except (InspectError, TemplateError, TokenizerError) as exc:
        raise click.ClickException(printable(str(exc))) from None
    if not selection.rows:
        raise click.ClickException(printable(selection.empty))
    if html_file is not None:
        _write_html(selection, target, html_file, boundaries)
    else:
        _print(selection, use_color(color), tokens_table, boundaries)
