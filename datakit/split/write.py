"""Write a split plan's sides: every line copied, byte for byte, to DIR/train.jsonl or DIR/test.jsonl."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from ..outcome import Side
from ..read import ReadCounts, Record, read_records
from .plan import SplitPlan, fingerprint


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where `write_split` writes each side."""
    return {str(side): Path(out_dir) / f"{side}.jsonl" for side in Side}


def check_outputs(out_dir: str | Path, *, overwrite: bool = False) -> None:
    """Raise FileExistsError if a split output exists and may not be overwritten."""
    if overwrite:
        return
    existing = [str(p) for p in output_paths(out_dir).values() if p.exists()]
    if existing:
        raise FileExistsError(
            f"refusing to overwrite {', '.join(existing)} (pass overwrite=True / --overwrite)"
        )


def write_split(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    plan: SplitPlan,
    *,
    overwrite: bool = False,
) -> None:
    """Copy every line to ``out_dir/train.jsonl`` or ``out_dir/test.jsonl`` as the plan says.

    Lines are written byte for byte in input order (CRLF endings kept), except that a file's
    leading UTF-8 BOM is dropped and a last line without a newline gets one, so lines from
    several files never run together. Each output is written to a temporary file in
    ``out_dir`` and moved into place with `os.replace`.
    """
    paths = [Path(p) for p in paths]
    if [str(p) for p in paths] != list(plan.files):
        raise ValueError(f"paths {[str(p) for p in paths]} are not the planned files {list(plan.files)}")
    for path, planned in zip(paths, plan.fingerprints):
        if fingerprint(path) != planned:
            raise ValueError(f"{path} changed since the split was planned")
    out_dir = Path(out_dir)
    check_outputs(out_dir, overwrite=overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)

    targets = output_paths(out_dir)
    temps: dict[str, Path] = {}
    try:
        handles = {}
        for name, target in targets.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
            temps[name] = Path(tmp)
            handles[name] = os.fdopen(fd, "wb", buffering=1 << 20)
        try:
            _copy_lines(paths, plan, (None, handles[Side.TRAIN], handles[Side.TEST]))
            for handle in handles.values():
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            for handle in handles.values():
                handle.close()
        for name, target in targets.items():
            os.replace(temps[name], target)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise


def as_jsonl_line(record: Record) -> bytes:
    """A valid record as one JSONL line: its own bytes where it has them (a JSON array element's
    line breaks lie between tokens, so they become spaces), else its value as JSON."""
    if record.raw is None:
        return json.dumps(record.value, ensure_ascii=False).encode("utf-8") + b"\n"
    raw = record.raw
    body = raw[:-1] if raw.endswith(b"\n") else raw
    if b"\n" in body:  # a JSON array element written over several lines
        return body.replace(b"\r\n", b" ").replace(b"\n", b" ").replace(b"\r", b" ") + b"\n"
    return raw if raw.endswith(b"\n") else raw + b"\n"


def _copy_lines(paths: list[Path], plan: SplitPlan, outputs: tuple) -> None:
    counts = ReadCounts()
    for record in read_records(paths, counts):
        sides = plan.sides[record.source]
        if record.line > len(sides):
            raise ValueError(f"{paths[record.source]} changed since the split was planned")
        out = outputs[sides[record.line - 1]]
        if out is not None:
            out.write(as_jsonl_line(record))
    if counts.lines_per_file != [len(sides) for sides in plan.sides]:
        raise ValueError("an input changed since the split was planned")
