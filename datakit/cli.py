"""The `datakit` command line: render, split, stats, check, inspect, pack and export."""

from __future__ import annotations

import functools
import json
import signal
import sys
from pathlib import Path
from typing import Callable

import click

from . import __version__
from .clitypes import JSON_OBJECT, MODEL_HELP, template_for_model
from .cores import usable_cores
from .convert import Examples
from .export.commands import export_command, pack_command
from .export.pack import PackError, format_pack_stats, render_packed
from .gate import DEFAULT_MAX_REJECT_RATIO, EXIT_YIELD
from .inspect import inspect_command
from .layout import MANIFEST, STATS, OutputState, UnreadableFile, os_reason, output_state, read_json
from .output import OutputReadError
from .pipeline import Engine, LowYieldError, PipelineError, RenderOptions, render_files
from .render import BUILTIN, DEFAULT_DATE_STRING, TemplateError, TrainOn
from .render.formats import DEFAULT_TEMPLATE
from .outcome import Side
from .read import KNOWN_SUFFIXES, STDIN, Form, ReadError, RecordParser, check_inputs, stdin_spooled
from .split import check_outputs, check_split_options, output_paths, plan_split, write_split
from .stats import format_stats
from .tokenizer import TokenizerError
from .terminal import printable
from .truncate import Policy
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
    """INPUT without its known suffixes (x.jsonl.gz -> x), plus .datakit."""
    if str(first_input) == STDIN:
        raise click.UsageError("reading stdin (-): give the output directory with -o")
    name = first_input.name
    while any(name.endswith(suffix) for suffix in KNOWN_SUFFIXES):
        name = next(name.removesuffix(suffix) for suffix in KNOWN_SUFFIXES if name.endswith(suffix))
    return first_input.with_name(name + ".datakit")


def _input_options(command: Callable) -> Callable:
    """--format and --messages-key: how records are read (render, split, inspect)."""
    command = click.option("--messages-key", default="messages", show_default=True, metavar="KEY",
                           help="The record field holding the messages list (OpenAI form).")(command)
    return click.option("--format", "input_format", type=click.Choice([m.value for m in Form]),
                        default=Form.AUTO.value, show_default=True,
                        help="Record form: messages (OpenAI chat), sharegpt, alpaca, prompt_completion; "
                             "auto detects it per record.")(command)


EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a Ctrl-C
EXIT_CODES = f"""\b
Exit status: 0 done; 1 an error (nothing written, an old output left as it
was); 2 a usage error; {EXIT_YIELD} no row written, or more rejects than
--max-reject-ratio (nothing written); {EXIT_INTERRUPTED} interrupted (Ctrl-C; nothing written)."""


class YieldTooLow(click.ClickException):
    """The gate stopped the run: one line, exit status EXIT_YIELD."""

    exit_code = EXIT_YIELD


class _Commands(click.Group):
    """The commands; a Ctrl-C in any of them is one line and exit status 130, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("Interrupted: nothing was written (an old output was left as it was)", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datakit")
def main() -> None:
    """Turn chat data into exact, training-ready token Datums (Arrow shards + manifest)."""


@main.command(epilog=EXIT_CODES)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output directory [default: the first INPUT without .jsonl/.json/.gz/.parquet, plus .datakit].")
@_input_options
@click.option("-t", "--template",
              help=f"Chat format: {', '.join(BUILTIN)}, or a .jinja file with {{% generation %}} tags "
                   "[default: llama3, or --model's].")
@click.option("--model", metavar="ORG/NAME", help=MODEL_HELP)
@click.option("--tokenizer", help="Bundled name (llama3, qwen2.5, qwen3, qwen3.5), a directory with "
              "tokenizer.json, or a locally cached hub id [default: the template's].")
@click.option("--train-on", type=click.Choice([m.value for m in TrainOn]), default=TrainOn.ALL_ASSISTANT.value, show_default=True,
              help="Which assistant messages are trainable; a message's own \"trainable\" key wins.")
@click.option("--max-length", default="16384", show_default=True,
              help="Longest token sequence kept (before the shift); 0 or none = no limit.")
@click.option("--truncation", type=click.Choice([m.value for m in Policy]), default=Policy.RIGHT.value, show_default=True,
              help="right: keep the first tokens; turns: drop oldest exchanges; drop: reject the row; "
                   "error: stop the run.")
@click.option("--examples", type=click.Choice([m.value for m in Examples]), default=Examples.CONVERSATION.value,
              show_default=True, help="conversation: one row per conversation; per_turn: one row per trainable "
              "assistant message, the conversation up to it, only it trained (for templates that rewrite "
              "history, such as Qwen3's reasoning).")
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
@click.option("--chat-template-kwargs", "chat_template_kwargs", type=JSON_OBJECT,
              help='Template variables, as apply_chat_template(**kwargs) takes them, e.g. '
                   '\'{"enable_thinking": false}\'; a record\'s own "chat_template_kwargs" object wins.')
@click.option("--drop-reasoning", is_flag=True,
              help="Train without reasoning_content. Without it, reasoning on a template that never "
                   "writes any is a reasoning_dropped reject.")
@click.option("--max-reject-ratio", type=click.FloatRange(0, 1), default=DEFAULT_MAX_REJECT_RATIO, show_default=True,
              metavar="R", help="Write nothing (exit status 3) if more than this share of the records is "
              "rejected (--dedup's duplicates not counted); 1 writes whatever renders. No row written is "
              "always exit status 3.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes [default and at most: the usable cores (CPU affinity, cgroup quota)]; "
                   "with --engine ray: render actors [default: the cluster's cores].")
@click.option("--engine", type=click.Choice([m.value for m in Engine]), default=Engine.LOCAL.value, show_default=True,
              help="local: worker processes on this machine; ray: Ray Data tasks and actors (pip install "
                   "\"datakit[ray]\"), the same output.")
@click.option("--ray-address", metavar="ADDR",
              help="With --engine ray: the cluster to join (auto: the one `ray start` runs here) "
                   "[default: RAY_ADDRESS, else a new local Ray].")
@click.option("--shard-mb", type=click.IntRange(min=1), default=256, show_default=True,
              help="Target shard size in MiB.")
@click.option("--pack", "pack", type=click.IntRange(min=1), metavar="N",
              help="Write packed rows of at most N tokens instead (as `datakit pack` on this render).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the output directory.")
def render(inputs: tuple[Path, ...], output: Path | None, input_format: str, messages_key: str,
           template: str | None, model: str | None, tokenizer: str | None, train_on: str, max_length: str,
           truncation: str, examples: str, test_ratio: float | None,
           test_size: int | None, seed: int, group_key: str | None, dedup: bool,
           parse_special_tokens: bool, date_string: str, chat_template_kwargs: dict | None,
           drop_reasoning: bool, max_reject_ratio: float, workers: int | None, engine: str,
           ray_address: str | None,
           shard_mb: int, pack: int | None, overwrite: bool, quiet: bool) -> None:
    """Render chat data INPUTS into Datums: tokens, loss weights, Arrow shards.

    INPUTS are .jsonl, .json (an array, or JSON Lines), .jsonl.gz / .json.gz, .parquet files,
    or - for stdin; records are OpenAI chat messages, ShareGPT, Alpaca or prompt/completion.
    """
    try:
        check_inputs(list(inputs))
    except ReadError as exc:
        raise click.BadParameter(str(exc), param_hint="INPUTS") from None
    try:
        check_split_options(test_ratio, test_size, seed, group_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    template, tokenizer = template_for_model(model, template, tokenizer)
    options = RenderOptions(
        template=template or DEFAULT_TEMPLATE, tokenizer=tokenizer, train_on=TrainOn(train_on),
        parse_special_tokens=parse_special_tokens, date_string=date_string,
        max_length=_max_length(max_length), truncation=Policy(truncation), test_ratio=test_ratio,
        test_size=test_size, seed=seed, group_key=group_key, dedup=dedup, workers=workers,
        shard_bytes=shard_mb << 20, input_format=Form(input_format), messages_key=messages_key,
        drop_reasoning=drop_reasoning, chat_template_kwargs=chat_template_kwargs, examples=Examples(examples),
        max_reject_ratio=max_reject_ratio, engine=Engine(engine), ray_address=ray_address,
    )
    if ray_address is not None and engine != Engine.RAY:
        raise click.UsageError("--ray-address needs --engine ray")
    usable = usable_cores()
    if engine == Engine.LOCAL and workers is not None and workers > usable and not quiet:
        click.echo(f"note: --workers {workers} is more than the {usable} usable cores (CPU affinity and cgroup "
                   f"quota); using {usable}", err=True)
    out_dir = output or default_output_dir(inputs[0])
    total = sum(p.stat().st_size for p in inputs if str(p) != STDIN)
    show_progress = not quiet and sys.stderr.isatty() and total > (32 << 20)
    run = render_files if pack is None else functools.partial(render_packed, max_tokens=pack)
    # A bundled tokenizer `launch` started loading from these arguments, if any.
    run = functools.partial(run, started_tokenizer=click.get_current_context().find_root().obj)
    try:
        if show_progress:
            with click.progressbar(length=total, label="rendering", file=sys.stderr) as bar:
                done = [0]

                def progress(n: int) -> None:
                    bar.update(n - done[0])
                    done[0] = n

                result = run(inputs, out_dir, options, overwrite=overwrite, progress=progress)
        else:
            result = run(inputs, out_dir, options, overwrite=overwrite)
    except LowYieldError as exc:
        raise YieldTooLow(printable(str(exc))) from None
    except (PipelineError, OutputError, TemplateError, TokenizerError, PackError, OutputReadError) as exc:
        raise click.ClickException(printable(str(exc))) from None
    if quiet:
        click.echo(str(out_dir))
        return
    click.echo(format_stats(result.stats))
    if "pack" in result.stats:
        click.echo("\n" + format_pack_stats(result.stats["pack"]))
    click.echo(f"\nwrote {out_dir} in {result.seconds:.1f}s "
               f"({result.stats['rejected']} rejects in {out_dir / 'rejects.jsonl'})")


@main.command()
@click.argument("output", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print stats.json instead (re-indented, non-ASCII escaped).")
def stats(output: Path, as_json: bool) -> None:
    """Show the statistics of a rendered OUTPUT directory (the table render printed)."""
    from .check import stats_table

    try:
        if output_state(output) is not OutputState.COMPLETE:
            raise click.ClickException(f"{output} is not a complete datakit output (no {MANIFEST})")
        text = stats_table(output)  # also when printing JSON: only a well-formed stats file is shown
        data = read_json(output / STATS)
        if as_json:
            text = json.dumps(data, indent=2)
        elif "pack" in data:
            text += "\n\n" + format_pack_stats(data["pack"])
    except UnreadableFile as exc:
        raise click.ClickException(printable(str(exc))) from None
    except OSError as exc:
        raise click.ClickException(f"{output}: {os_reason(exc)}") from None
    click.echo(text)


@main.command()
@click.argument("output", type=click.Path(path_type=Path))
def check(output: Path) -> None:
    """Verify a rendered OUTPUT directory: exactly the files datasets loads, against the manifest.

    Exit 1 on any problem.
    """
    from .check import check_output

    report = check_output(output)  # a render's rows, or a packed output's packs and their rows
    for warning in report.warnings:
        click.echo(f"warning: {printable(warning)}", err=True)
    if not report.ok:
        for error in report.errors:
            click.echo(f"error: {printable(error)}", err=True)
        raise SystemExit(1)
    what = "packs (a packed output)" if report.unit == "packs" else "rows"
    click.echo(f"ok: {report.rows:,} {what} in {report.shards} shards match the manifest")


_SPLIT_HELP = """Split chat data files into DIR/train.jsonl and DIR/test.jsonl.

\b
DIR is the split's own directory: it holds the pair and a manifest.json
(rows, sizes, SHA-256 of both files) and is replaced as a whole, so after
a crash it holds the old pair or the new one, never one of each. A
directory holding anything else, or an input, is refused.

\b
Records are read as render reads them (.jsonl, .json arrays, .gz, .parquet,
- for stdin; any record form) and copied unchanged, one per line, in input
order (files in the order given): JSONL lines byte for byte, array elements
and Parquet rows as JSON. A conversation's side depends only on --seed and
its content, never on file or line order; the same inputs and seed give
byte-identical outputs.

\b
Leakage-free: duplicate conversations (equal after collapsing whitespace
in message content) always land on the same side, and --group-key FIELD
keeps rows sharing a value of that top-level field together. The test
side gets as close as clusters allow to --test-ratio (default 0.1) or
--test-size rows: exact when no rows are duplicated or grouped.

\b
Blank lines are skipped. Records datakit render would reject for their
form (bad JSON, no messages, an unknown role, ...) are counted as invalid
and written to neither side.
"""


@main.command("split", help=_SPLIT_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_input_options
@click.option("--test-ratio", type=float, default=None,
              help="Fraction of rows for the test side, in [0, 1). Default 0.1.")
@click.option("--test-size", type=int, default=None,
              help="Number of test rows instead of a ratio.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the hash that picks test rows.")
@click.option("--group-key", metavar="FIELD", default=None,
              help="Keep rows sharing this top-level field's value on one side.")
@click.option("--dedup", is_flag=True, help="Write only the first copy of duplicate rows.")
@click.option("-o", "--output", "output", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="The split's directory (train.jsonl, test.jsonl, manifest.json).")
@click.option("--overwrite", is_flag=True, help="Replace the pair DIR holds.")
def split(paths: tuple[Path, ...], input_format: str, messages_key: str, test_ratio: float | None,
          test_size: int | None, seed: int, group_key: str | None, dedup: bool, output: Path,
          overwrite: bool) -> None:
    try:
        check_split_options(test_ratio, test_size, seed, group_key)
        check_inputs(list(paths))
    except ReadError as e:
        raise click.BadParameter(str(e), param_hint="PATHS") from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    parser = RecordParser(form=Form(input_format), messages_key=messages_key)
    try:
        check_outputs(output, overwrite=overwrite, inputs=paths)  # before the (possibly long) read
    except OutputError as e:
        raise click.ClickException(str(e)) from None
    with stdin_spooled(list(paths), needed=True) as paths:
        try:
            plan = plan_split(paths, test_ratio=test_ratio, test_size=test_size, seed=seed,
                              group_key=group_key, dedup=dedup, parser=parser)
        except ReadError as e:
            raise click.ClickException(str(e)) from None
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        except OSError as e:
            raise click.ClickException(f"cannot read input: {e}") from None
        try:
            write_split(paths, output, plan, overwrite=overwrite)
        except (OutputError, OSError, ValueError) as e:
            raise click.ClickException(str(e)) from None
    click.echo(plan.summary.format())
    written = output_paths(output)
    click.echo(f"wrote {written[Side.TRAIN]} and {written[Side.TEST]}")


main.add_command(inspect_command)
main.add_command(pack_command)
main.add_command(export_command)
