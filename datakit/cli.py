"""The `datakit` command line: render, split, stats, check and inspect."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .chat_template import BUILTIN, DEFAULT_DATE_STRING, TemplateError
from .inspect import inspect_command
from .pipeline import PipelineError, RenderOptions, render_files
from .render import TRAIN_ON
from .split import split_command
from .stats import format_stats
from .tokenizer import TokenizerError
from .truncate import POLICIES
from .write import OutputError


def _max_length(value: str) -> int | None:
    if value.strip().lower() in ("0", "none"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (or 0/none for no limit)") from None
    if n < 2:
        raise click.BadParameter("must be at least 2 (a Datum needs one input and one target)")
    return n


def default_output_dir(first_input: Path) -> Path:
    name = first_input.name
    for suffix in (".jsonl", ".json", ".gz"):
        name = name.removesuffix(suffix)
    return first_input.with_name(name + ".datakit")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datakit")
def main() -> None:
    """Turn chat JSONL into exact, training-ready token Datums (Arrow shards + manifest)."""


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output directory [default: INPUT without .jsonl, plus .datakit].")
@click.option("-t", "--template", default="llama3", show_default=True,
              help=f"Chat format: {', '.join(BUILTIN)}, or a .jinja file with {{% generation %}} tags.")
@click.option("--tokenizer", help="Bundled name (llama3, qwen2.5, qwen3, qwen3.5), a directory with "
              "tokenizer.json, or a locally cached hub id [default: the template's].")
@click.option("--train-on", type=click.Choice(TRAIN_ON), default="all_assistant", show_default=True,
              help="Which assistant messages are trainable; a message's own \"trainable\" key wins.")
@click.option("--max-length", default="16384", show_default=True,
              help="Longest token sequence kept (before the shift); 0 or none = no limit.")
@click.option("--truncation", type=click.Choice(POLICIES), default="right", show_default=True,
              help="right: keep the first tokens; turns: drop oldest exchanges; drop: reject the row; "
                   "error: stop the run.")
@click.option("--test-ratio", type=float, help="Also write a test split with this share of rows.")
@click.option("--test-size", type=int, help="Also write a test split with this many rows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/test split.")
@click.option("--group-key", help="Top-level field whose rows stay together in one split.")
@click.option("--dedup", is_flag=True, help="Keep one copy of duplicate conversations.")
@click.option("--parse-special-tokens", is_flag=True,
              help="UNSAFE: encode control-token text in messages (e.g. a typed <|eot_id|>) as control "
                   "tokens, as Hugging Face does. Default: such text is encoded as plain text.")
@click.option("--date-string", default=DEFAULT_DATE_STRING, show_default=True,
              help="Date the Llama 3 templates write into the system header.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes [default: all cores].")
@click.option("--shard-mb", type=click.IntRange(min=1), default=256, show_default=True,
              help="Target shard size in MiB.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the output directory.")
def render(inputs: tuple[Path, ...], output: Path | None, template: str, tokenizer: str | None,
           train_on: str, max_length: str, truncation: str, test_ratio: float | None,
           test_size: int | None, seed: int, group_key: str | None, dedup: bool,
           parse_special_tokens: bool, date_string: str, workers: int | None, shard_mb: int,
           overwrite: bool, quiet: bool) -> None:
    """Render chat JSONL INPUTS into Datums: tokens, loss weights, Arrow shards."""
    for path in inputs:
        if not path.is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint="INPUTS")
    if test_ratio is not None and test_size is not None:
        raise click.UsageError("give --test-ratio or --test-size, not both")
    if test_ratio is not None and not 0.0 <= test_ratio < 1.0:
        raise click.BadParameter("must be at least 0 and below 1", param_hint="--test-ratio")
    if test_size is not None and test_size < 0:
        raise click.BadParameter("must not be negative", param_hint="--test-size")
    options = RenderOptions(
        template=template, tokenizer=tokenizer, train_on=train_on,
        parse_special_tokens=parse_special_tokens, date_string=date_string,
        max_length=_max_length(max_length), truncation=truncation, test_ratio=test_ratio,
        test_size=test_size, seed=seed, group_key=group_key, dedup=dedup, workers=workers,
        shard_bytes=shard_mb << 20,
    )
    out_dir = output or default_output_dir(inputs[0])
    total = sum(p.stat().st_size for p in inputs)
    show_progress = not quiet and sys.stderr.isatty() and total > (32 << 20)
    try:
        if show_progress:
            with click.progressbar(length=total, label="rendering", file=sys.stderr) as bar:
                done = [0]

                def progress(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                result = render_files(inputs, out_dir, options, overwrite=overwrite, progress=progress)
        else:
            result = render_files(inputs, out_dir, options, overwrite=overwrite)
    except (PipelineError, OutputError, TemplateError, TokenizerError) as exc:
        raise click.ClickException(str(exc)) from None
    if quiet:
        click.echo(str(out_dir))
        return
    click.echo(format_stats(result.stats))
    click.echo(f"\nwrote {out_dir} in {result.seconds:.1f}s "
               f"({result.stats['rejected']} rejects in {out_dir / 'rejects.jsonl'})")


@main.command()
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print stats.json as it is.")
def stats(output: Path, as_json: bool) -> None:
    """Show the statistics of a rendered OUTPUT directory (the table render printed)."""
    path = output / "stats.json"
    if not (output / "manifest.json").is_file() or not path.is_file():
        raise click.ClickException(f"{output} is not a complete datakit output (no manifest.json)")
    data = json.loads(path.read_text(encoding="utf-8"))
    click.echo(json.dumps(data, indent=2) if as_json else format_stats(data))




@main.command()
@click.argument("output", type=click.Path(path_type=Path))
def check(output: Path) -> None:
    """Verify a rendered OUTPUT directory against its manifest (exit 1 on any problem)."""
    from .check import check_output

    report = check_output(output)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not report.ok:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        raise SystemExit(1)
    click.echo(f"ok: {report.rows:,} rows in {report.shards} shards match the manifest")


main.add_command(split_command)
main.add_command(inspect_command)
