"""Write a split plan's sides: every line copied, byte for byte, to DIR/train.jsonl or
DIR/test.jsonl, the pair committed as one unit.

Two files cannot be replaced together in place, so DIR is the split's own directory and is
replaced as a whole, the way a render's output is (`write.StagedOutput`: staged beside DIR,
swapped in by one rename or exchange, under a lock; what a killed run left is removed by the
next run). DIR holds `train.jsonl`, `test.jsonl` and `manifest.json` (their rows, bytes and
SHA-256, the inputs and the summary), plain files with the mode the umask gives; after a kill
at any moment it holds the old pair or the new one, never one of each. A directory holding
anything else is never replaced (nor one an input lies in), and a pair without a manifest
(datakit 0.1.0's) only with --overwrite.
"""

from __future__ import annotations

import json
import os
import stat
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..commit import resolve_output
from ..layout import MANIFEST, OutputState, foreign_entries, output_state
from ..outcome import Side
from ..read import STDIN, ReadCounts, Record, read_records
from ..terminal import printable
from ..write import OutputError, StagedOutput, os_errors, sha256_file, write_json
from .plan import SIDES, SplitPlan, fingerprint

FORMAT = "datakit-split/1"
NAMES = frozenset({f"{side}.jsonl" for side in Side} | {MANIFEST})


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where `write_split` writes each side."""
    return {str(side): Path(out_dir) / f"{side}.jsonl" for side in Side}


def check_outputs(out_dir: str | Path, *, overwrite: bool = False, inputs: Sequence[str | Path] = ()) -> None:
    """Raise OutputError unless a split may be written to `out_dir` (`write_split` checks again,
    under the lock): a directory of its own, absent, empty or holding a pair (with `overwrite`),
    and no input inside it."""
    out_dir = Path(out_dir)
    with os_errors(out_dir):
        _check_split_directory(out_dir, resolve_output(out_dir), overwrite, inputs)


def _check_split_directory(out_dir: Path, real: Path, overwrite: bool, inputs: Sequence[str | Path]) -> None:
    for path in inputs:
        if str(path) != STDIN and Path(path).resolve().is_relative_to(real):
            raise OutputError(f"input {path} is inside {out_dir}, which the split replaces as a whole; "
                              "write the split to another -o directory")
    state = output_state(real)
    if state in (OutputState.ABSENT, OutputState.EMPTY):
        return
    if state is OutputState.NOT_A_DIRECTORY:
        raise OutputError(f"{out_dir} exists and is not a directory")
    foreign = foreign_entries(real, NAMES) + [
        f"{name} (not a regular file)" for name in sorted(NAMES)
        if os.path.lexists(real / name) and not stat.S_ISREG(os.lstat(real / name).st_mode)]
    if foreign:
        raise OutputError(f"{out_dir} holds more than a split ({', '.join(map(printable, foreign[:3]))}); "
                          "the pair is replaced as one directory, so choose a directory of its own for -o")
    if not overwrite:
        existing = [str(p) for p in output_paths(out_dir).values() if os.path.lexists(p)]
        raise OutputError(f"refusing to overwrite {', '.join(existing) or out_dir} (pass --overwrite)")


class StagedSplit(StagedOutput):
    """A split's directory, staged and committed as a whole (see `write.StagedOutput`)."""

    names = NAMES

    def __init__(self, out_dir: Path, overwrite: bool, inputs: Sequence[Path]):
        self.inputs = inputs
        super().__init__(out_dir, overwrite)

    def check_replaceable(self) -> None:
        _check_split_directory(self.out_dir, self.path, self.overwrite, self.inputs)


def write_split(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    plan: SplitPlan,
    *,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Copy every line to ``out_dir/train.jsonl`` or ``out_dir/test.jsonl`` as the plan says, and
    commit the pair as one unit; returns its manifest.

    Lines are written byte for byte in input order (CRLF endings kept), except that a file's
    leading UTF-8 BOM is dropped and a last line without a newline gets one, so lines from
    several files never run together. Raises OutputError when `out_dir` may not be replaced or
    the pair cannot be written (the old pair stays), ValueError for inputs that changed since
    planning.
    """
    paths = [Path(p) for p in paths]
    if [str(p) for p in paths] != list(plan.files):
        raise ValueError(f"paths {[str(p) for p in paths]} are not the planned files {list(plan.files)}")
    for path, planned in zip(paths, plan.fingerprints):
        if fingerprint(path) != planned:
            raise ValueError(f"{path} changed since the split was planned")
    out_dir = Path(out_dir)
    output = StagedSplit(out_dir, overwrite, paths)
    try:
        with os_errors(out_dir):
            staged = output_paths(output.staging)
            with ExitStack() as stack:
                handles = tuple(None if side is None else stack.enter_context(open(staged[side], "wb", buffering=1 << 20))
                                for side in SIDES)
                rows = _copy_lines(paths, plan, handles)
                for handle in filter(None, handles):
                    handle.flush()
                    os.fsync(handle.fileno())
            files = {str(side): {"file": staged[side].name, "rows": rows[SIDES.index(side)],
                            "bytes": staged[side].stat().st_size, "sha256": sha256_file(staged[side])}
                     for side in Side}
            manifest = {"format": FORMAT, "datakit_version": __version__, "inputs": [str(p) for p in paths],
                        "files": files, "summary": plan.summary.to_dict()}
            write_json(output.staging / MANIFEST, manifest)
        output.commit()
    except BaseException:
        output.abort()
        raise
    return manifest


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


def _copy_lines(paths: list[Path], plan: SplitPlan, outputs: tuple) -> list[int]:
    """Write each line to the output of its side code (None: neither side); lines per code."""
    counts = ReadCounts()
    written = [0] * len(outputs)
    for record in read_records(paths, counts, plan.max_line_bytes):
        sides = plan.sides[record.source]
        if record.line > len(sides):
            raise ValueError(f"{paths[record.source]} changed since the split was planned")
        code = sides[record.line - 1]
        if outputs[code] is not None:
            outputs[code].write(as_jsonl_line(record))
            written[code] += 1
    if counts.lines_per_file != [len(sides) for sides in plan.sides]:
        raise ValueError("an input changed since the split was planned")
    return written
