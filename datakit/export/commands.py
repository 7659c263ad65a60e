"""The `datakit pack` and `datakit export` commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import click

from ..output import OutputReadError
from ..write import OutputError
from .pack import PackError, format_pack_stats, pack_output


class Target(StrEnum):
    HF = "hf"
    PARQUET = "parquet"


@click.command("pack", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--max-tokens", type=click.IntRange(min=1), required=True,
              help="Longest packed sequence, in positions the model reads (len(input_tokens)).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Packed output directory.")
@click.option("--shard-mb", type=click.IntRange(min=1), default=256, show_default=True, help="Target shard size in MiB.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def pack_command(source: Path, max_tokens: int, output: Path, shard_mb: int, overwrite: bool) -> None:
    """Pack the rows of the render SOURCE into sequences of at most --max-tokens tokens.

    Best-fit decreasing, deterministic, whole rows only (a row longer than --max-tokens is an
    error naming it). Packed rows carry position_ids (restarting per row) and seq_lens; load
    them with datakit.torch.DatumDataset. `datakit check` verifies the result.
    """
    try:
        result = pack_output(source, output, max_tokens, overwrite=overwrite, shard_bytes=shard_mb << 20)
    except (PackError, OutputReadError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_pack_stats(result.manifest["pack"]))
    click.echo(f"\nwrote {output}")


@click.command("export", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--to", "target", type=click.Choice([t.value for t in Target]), required=True,
              help="hf: a datasets directory with input_ids / labels / attention_mask (TRL, Trainer); "
                   "parquet: zstd Parquet shards for lazy scans (polars, pyarrow.dataset, Spark, Ray).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Export directory.")
@click.option("--overwrite", is_flag=True, help="Replace an existing export directory.")
def export_command(source: Path, target: str, output: Path, overwrite: bool) -> None:
    """Export the rendered (or, for parquet, packed) output SOURCE for another trainer or engine."""
    from .hf import export_hf
    from .parquet import export_parquet

    try:
        if Target(target) is Target.HF:
            manifest = export_hf(source, output, overwrite=overwrite)
        else:
            manifest = export_parquet(source, output, overwrite=overwrite)
    except (OutputReadError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    rows = ", ".join(f"{split} {entry['rows']:,} rows" for split, entry in manifest["splits"].items())
    click.echo(f"wrote {output} ({target}: {rows})")
