"""Plan a split: read the records once, keeping a 64-bit digest per valid record, and decide the
side of every line (see the package docstring for how)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..outcome import Invalid, Side
from ..read import DEFAULT_MAX_LINE_BYTES, ReadCounts, RecordParser, check_inputs, read_records
from .identity import GROUP_PERSON, RANK_PERSON, canonical, clusters, conversation_digest, digest
from .summary import SplitSummary

# A plan's per-line side codes.
_NONE, _TRAIN, _TEST = 0, 1, 2
SIDES: tuple[Side | None, ...] = (None, Side.TRAIN, Side.TEST)

_MAX_INVALID_EXAMPLES = 10
DEFAULT_TEST_RATIO = 0.1


@dataclass(frozen=True, eq=False)
class SplitPlan:
    """Which side each input line goes to."""

    files: tuple[str, ...]
    summary: SplitSummary
    # One read-only uint8 array per file, indexed by line number - 1 (0 none, 1 train, 2 test).
    sides: tuple[np.ndarray, ...] = field(repr=False)
    # (size, mtime_ns) per file at planning time, to catch files changed before writing.
    fingerprints: tuple[tuple[int, int], ...] = field(repr=False)
    # The reader's line cap the plan was made with: writing must cut the files the same way.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    def side(self, file_index: int, line_number: int) -> Side | None:
        """The side of a line (None: blank, invalid or a dropped duplicate); line_number is 1-based."""
        sides = self.sides[file_index]
        if not 1 <= line_number <= len(sides):
            raise IndexError(
                f"line {line_number} out of range for {self.files[file_index]} "
                f"({len(sides)} lines)"
            )
        return SIDES[sides[line_number - 1]]


def fingerprint(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def check_split_options(test_ratio: float | None, test_size: int | None, seed: int,
                        group_key: str | None) -> None:
    """Raise ValueError for split options that make no sense (the one place they are checked)."""
    if test_ratio is not None and test_size is not None:
        raise ValueError("give test_ratio or test_size, not both")
    if test_ratio is not None:
        if isinstance(test_ratio, bool) or not isinstance(test_ratio, (int, float)):
            raise ValueError(f"test_ratio must be a number, not {test_ratio!r}")
        if not 0.0 <= test_ratio < 1.0:  # also rejects NaN
            raise ValueError(f"test_ratio must be in [0, 1), not {test_ratio!r}")
    if test_size is not None:
        if isinstance(test_size, bool) or not isinstance(test_size, int):
            raise ValueError(f"test_size must be an integer, not {test_size!r}")
        if test_size < 0:
            raise ValueError(f"test_size must be >= 0, not {test_size}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, not {seed!r}")
    if group_key is not None and (not isinstance(group_key, str) or not group_key):
        raise ValueError(f"group_key must be a non-empty field name, not {group_key!r}")


@dataclass
class _Scan:
    """What planning keeps of the input: one digest (and group digest) per valid record."""

    counts: ReadCounts = field(default_factory=ReadCounts)
    source: array = field(default_factory=lambda: array("I"))
    line: array = field(default_factory=lambda: array("Q"))
    content: array = field(default_factory=lambda: array("Q"))
    group: array = field(default_factory=lambda: array("Q"))
    has_group: array = field(default_factory=lambda: array("B"))
    invalid: int = 0
    invalid_examples: list[dict] = field(default_factory=list)


def _scan(paths: list[Path], parser: RecordParser, group_key: str | None, max_line_bytes: int) -> _Scan:
    scan = _Scan()
    for record in read_records(paths, scan.counts, max_line_bytes):
        try:
            conversation = parser.parse(record)
        except Invalid as exc:
            scan.invalid += 1
            if len(scan.invalid_examples) < _MAX_INVALID_EXAMPLES:
                scan.invalid_examples.append({"file": str(paths[record.source]), "line": record.line,
                                              "reason": f"{exc.reason}: {exc.detail}"})
            continue
        scan.source.append(record.source)
        scan.line.append(record.line)
        scan.content.append(conversation_digest(conversation.messages))
        if group_key is not None:
            # A missing or null group value joins no group: the row is grouped alone (still
            # kept together with its own duplicates).
            value = conversation.record.get(group_key)
            scan.group.append(0 if value is None else digest(canonical(value), GROUP_PERSON))
            scan.has_group.append(value is not None)
    return scan


def plan_split(
    paths: Sequence[str | Path],
    *,
    test_ratio: float | None = None,
    test_size: int | None = None,
    seed: int = 0,
    group_key: str | None = None,
    dedup: bool = False,
    parser: RecordParser = RecordParser(),
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> SplitPlan:
    """Read the files once and decide the side of every line (see the module docstring).

    ``test_ratio`` (default 0.1) or ``test_size`` sets the target number of test rows, counted
    among the rows that will be written (after ``dedup``). ``dedup`` keeps the first copy of
    each conversation in input order. ``parser`` decides which records are valid, as for
    rendering. Raises ValueError for bad arguments or a ``test_size`` larger than the number
    of rows.
    """
    check_split_options(test_ratio, test_size, seed, group_key)
    if test_ratio is None and test_size is None:
        test_ratio = DEFAULT_TEST_RATIO
    if isinstance(paths, (str, Path)):
        raise ValueError("paths must be a sequence of files, not a single path")
    paths = [Path(p) for p in paths]
    check_inputs(paths)
    fingerprints = tuple(fingerprint(p) for p in paths)
    scan = _scan(paths, parser, group_key, max_line_bytes)
    content = np.frombuffer(scan.content, dtype=np.uint64)
    group = has_group = None
    if group_key is not None:
        group = np.frombuffer(scan.group, dtype=np.uint64)
        has_group = np.frombuffer(scan.has_group, dtype=np.uint8).astype(bool)

    content_id, cluster_of_content, keys, first_row = clusters(content, group, has_group)
    cluster = cluster_of_content[content_id] if len(content) else np.zeros(0, dtype=np.int64)
    kept = np.zeros(len(content), dtype=bool)
    kept[first_row if dedup else slice(None)] = True
    # With dedup one row per conversation survives, so a cluster's size is its conversation count.
    sizes = np.bincount(cluster_of_content if dedup else cluster, minlength=len(keys))
    total = int(sizes.sum())
    if test_size is not None and test_size > total:
        raise ValueError(f"test_size {test_size} is larger than the {total} rows to split")
    target = test_size if test_size is not None else round(test_ratio * total)
    in_test = _test_clusters(keys, sizes, target, seed)

    row_side = np.where(in_test[cluster], _TEST, _TRAIN).astype(np.uint8)
    row_side[~kept] = _NONE
    sides = _sides_per_file(scan, row_side)
    test_rows = int(np.count_nonzero(row_side == _TEST))
    summary = SplitSummary(
        files=[str(p) for p in paths],
        rows=len(content),
        train_rows=int(np.count_nonzero(row_side == _TRAIN)),
        test_rows=test_rows,
        duplicates=len(content) - len(cluster_of_content),
        dropped_duplicates=int(len(content) - np.count_nonzero(kept)),
        groups=len(keys),
        invalid=scan.invalid,
        blank=scan.counts.blank,
        target_test_rows=target,
        achieved_test_ratio=test_rows / total if total else 0.0,
        invalid_examples=scan.invalid_examples,
        seed=seed,
        test_ratio=test_ratio,
        test_size=test_size,
        group_key=group_key,
        missing_group_key=int(len(content) - np.count_nonzero(has_group)) if has_group is not None else 0,
        dedup=dedup,
    )
    return SplitPlan(files=tuple(str(p) for p in paths), summary=summary, sides=sides,
                     fingerprints=fingerprints, max_line_bytes=max_line_bytes)


def _test_clusters(keys: np.ndarray, sizes: np.ndarray, target: int, seed: int) -> np.ndarray:
    """Which clusters go to the test side: taken in seeded-hash order until the row count is
    closest to `target`."""
    # Ties (a 64-bit collision) fall back to the key itself, so the order is total and never
    # depends on input order.
    seed_key = str(seed).encode()
    rank = np.fromiter(
        (digest(k.to_bytes(8, "little"), RANK_PERSON, seed_key) for k in keys.tolist()),
        dtype=np.uint64, count=len(keys),
    )
    order = np.lexsort((keys, rank))
    cumulative = np.cumsum(sizes[order])
    take = 0
    if target > 0:
        k = int(np.searchsorted(cumulative, target, side="left"))
        before = int(cumulative[k - 1]) if k else 0
        # Stop at whichever cut lands closer to the target; a tie takes the cluster, so a
        # non-zero target never yields an empty test side.
        take = k + 1 if int(cumulative[k]) - target <= target - before else k
    in_test = np.zeros(len(keys), dtype=bool)
    in_test[order[:take]] = True
    return in_test


def _sides_per_file(scan: _Scan, row_side: np.ndarray) -> tuple[np.ndarray, ...]:
    """One read-only array of side codes per file, indexed by line number - 1."""
    source = np.frombuffer(scan.source, dtype=np.uint32)
    line = np.frombuffer(scan.line, dtype=np.uint64)
    sides = []
    for index, count in enumerate(scan.counts.lines_per_file):
        codes = np.zeros(count, dtype=np.uint8)
        mine = source == index
        codes[line[mine].astype(np.int64) - 1] = row_side[mine]
        codes.flags.writeable = False
        sides.append(codes)
    return tuple(sides)
