"""Rows of a chat data file, rendered now the way `datakit render` would (without truncation)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ..convert import Limits, convert
from ..outcome import Reason, Reject, Side
from ..read import ReadCounts, RecordParser, read_records
from ..render import DEFAULT_DATE_STRING, Renderer, build_renderer
from .rows import DEFAULT_LIMIT, InspectedRow, InspectError, as_list


def make_renderer(template: str = "llama3", tokenizer: str | None = None, *,
                  parse_special_tokens: bool = False, train_on: str = "all_assistant",
                  date_string: str = DEFAULT_DATE_STRING, drop_reasoning: bool = False,
                  chat_template_kwargs: dict | None = None) -> Renderer:
    """A Renderer as `datakit render` builds it (raises TemplateError, TokenizerError), encoding
    with `tokenizers`: the same ids, and for a few rows it is ready sooner than fastokens."""
    return build_renderer(template, tokenizer, train_on=train_on, parse_special_tokens=parse_special_tokens,
                          date_string=date_string, drop_reasoning=drop_reasoning,
                          chat_template_kwargs=chat_template_kwargs, fast_encoder=False)


def load_jsonl_rows(
    path: str | Path,
    renderer: Renderer,
    rows: int | Iterable[int] | None = None,
    line: int | Iterable[int] | None = None,
    limit: int = DEFAULT_LIMIT,
    on_skip: Callable[[str], None] | None = None,
    parser: RecordParser | None = None,
) -> list[InspectedRow]:
    """Render selected conversations of a chat data file now (no truncation, no split).

    `rows` are 0-based indices among the file's non-blank lines (negative: from the end),
    `line` 1-based line numbers. Without either, the first `limit` lines that render are
    returned and the others are reported to `on_skip`. An explicitly chosen line that
    `datakit render` would reject raises InspectError with the reason. `parser` reads the
    records (default: any form, the renderer's roles).
    """
    path = Path(path)
    if not path.is_file():
        raise InspectError(f"{path}: no such file")
    parser = parser or RecordParser(renderer.template.roles)
    wanted_rows = as_list(rows)
    wanted_lines = as_list(line)
    if wanted_rows and any(r < 0 for r in wanted_rows):
        total = sum(1 for _ in read_records([path], ReadCounts()))
        wanted_rows = [r + total if r < 0 else r for r in wanted_rows]
    scanning = wanted_rows is None and wanted_lines is None
    found: dict[tuple[str, int], InspectedRow] = {}
    results: list[InspectedRow] = []
    counts = ReadCounts()
    index = -1
    try:
        for index, item in enumerate(read_records([path], counts)):
            picked = scanning or (wanted_rows is not None and index in wanted_rows) or (
                wanted_lines is not None and item.line in wanted_lines)
            if not picked:
                if (wanted_rows is None or index > max(wanted_rows)) and (
                        wanted_lines is None or item.line > max(wanted_lines)):
                    break
                continue
            try:
                row = _render_line(path, item, index, renderer, parser)
            except InspectError as exc:
                if scanning:
                    if on_skip is not None:
                        on_skip(str(exc))
                    continue
                raise
            if scanning:
                results.append(row)
                if len(results) >= limit:
                    break
            else:
                if wanted_rows is not None and index in wanted_rows:
                    found[("row", index)] = row
                if wanted_lines is not None and item.line in wanted_lines:
                    found[("line", item.line)] = row
    except OSError as exc:
        raise InspectError(f"{path}: cannot read ({exc})") from None
    if scanning:
        return results
    ordered: list[InspectedRow] = []
    for r in wanted_rows or []:
        if ("row", r) not in found:
            total = index + 1
            span = f"rows 0-{total - 1}" if total else "no rows"
            raise InspectError(f"row {r} is out of range: {path} has {span} (non-blank lines)")
        ordered.append(found[("row", r)])
    for n in wanted_lines or []:
        if ("line", n) not in found:
            raise InspectError(f"{path}: line {n} is blank or past the end of the file ({counts.lines} lines read)")
        ordered.append(found[("line", n)])
    unique: list[InspectedRow] = []
    for row in ordered:
        if not any(row is u for u in unique):
            unique.append(row)
    return unique


def _render_line(path: Path, item, index: int, renderer: Renderer, parser: RecordParser) -> InspectedRow:
    """The record as `datakit render` makes it (without truncation), or InspectError with the
    reason it rejects it; a row with nothing trainable is shown with a note."""
    outcome = convert([item], [Side.TRAIN], parser, renderer, Limits())[0]
    note = None
    if isinstance(outcome, Reject):
        reason = f"{outcome.reason} ({outcome.detail})"
        if outcome.reason is not Reason.NO_TRAINABLE_TOKENS:
            raise InspectError(f"{path}:{item.line}: datakit render rejects this line: {reason}")
        outcome = renderer.render(parser.parse(item))
        note = f"datakit render rejects this row: {reason}"
    row = InspectedRow.from_rendered(outcome.tokens.tolist(), outcome.weights.tolist(),
                                     source=str(path), line=item.line, row=index)
    row.note = note
    return row
