"""Split chat JSONL files into train and test sides, deterministically and without leakage.

Planning (`plan_split`) reads every line once and keeps only a 64-bit digest per line; the
lines themselves are never held in memory. Writing (`write_split`) reads the files a second
time and copies each line, byte for byte, to the side the plan gives it.

How a side is chosen:

* A conversation's identity is a digest of its parsed ``messages`` with every string in each
  message's ``content`` whitespace-normalized (runs collapsed, ends stripped); roles and other
  message fields are kept as they are, and top-level fields other than ``messages`` are
  ignored. Rows with the same identity are duplicates and always land on the same side.
* With ``group_key``, rows sharing a value of that top-level field are kept together too.
  Groups and duplicates are joined transitively into clusters (connected components).
* Each cluster is ranked by a keyed hash (the seed is the key) of an order-independent
  cluster id, and clusters are taken into the test side in rank order until the test row
  count is closest to the target. So the side of a row depends only on the seed and the
  data, never on line positions or file order, and the test size is exact when clusters are
  single rows (a hash threshold would instead give binomial noise).

Outputs list lines in input order: files in the order given, lines in file order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from .outcome import Invalid, Side
from .read import ReadCounts, Record, RecordParser, read_records

# A plan's per-line side codes.
_NONE, _TRAIN, _TEST = 0, 1, 2
_SIDES: tuple[Side | None, ...] = (None, Side.TRAIN, Side.TEST)

_MAX_INVALID_EXAMPLES = 10
DEFAULT_TEST_RATIO = 0.1

# Distinct personalisations keep conversation digests, group digests and rank hashes in
# separate domains, so a group value can never collide with a conversation by construction.
_CONVERSATION_PERSON = b"datakit-conv"
_GROUP_PERSON = b"datakit-group"
_RANK_PERSON = b"datakit-rank"


@dataclass(frozen=True)
class SplitSummary:
    """What a split plan found and decided.

    ``rows`` counts valid conversation lines read; ``train_rows + test_rows`` is ``rows``
    minus ``dropped_duplicates``, and ``target_test_rows`` and ``achieved_test_ratio`` are
    relative to that written total. ``groups`` is the number of clusters kept together
    (distinct conversations, joined by ``group_key`` when one is given).
    """

    files: list[str]
    rows: int
    train_rows: int
    test_rows: int
    duplicates: int
    dropped_duplicates: int
    groups: int
    invalid: int
    blank: int
    target_test_rows: int
    achieved_test_ratio: float
    invalid_examples: list[dict] = field(default_factory=list)
    seed: int = 0
    test_ratio: float | None = None
    test_size: int | None = None
    group_key: str | None = None
    missing_group_key: int = 0
    dedup: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A human-readable multi-line summary table."""
        lines_read = self.rows + self.invalid + self.blank
        if self.test_size is not None:
            asked = f"test size {self.test_size}"
        else:
            asked = f"test ratio {self.test_ratio:g}"
        out = [
            f"split of {len(self.files)} file(s), {lines_read} line(s); {asked}, seed {self.seed}"
            + (f", group key {self.group_key!r}" if self.group_key else "")
            + (", dedup" if self.dedup else ""),
        ]
        rows = [
            ("rows", f"{self.rows}", "valid conversations"),
            ("blank lines", f"{self.blank}", "skipped"),
            ("invalid lines", f"{self.invalid}", "not written"),
            ("duplicates", f"{self.duplicates}", "rows repeating an earlier conversation"),
            ("dropped duplicates", f"{self.dropped_duplicates}", ""),
        ]
        if self.group_key:
            rows.append(("rows without group key", f"{self.missing_group_key}", "grouped alone"))
        rows += [
            ("groups", f"{self.groups}", "clusters kept on one side"),
            ("train rows", f"{self.train_rows}", ""),
            (
                "test rows",
                f"{self.test_rows}",
                f"target {self.target_test_rows}, achieved ratio {self.achieved_test_ratio:.4f}",
            ),
        ]
        width = max(len(name) for name, _, _ in rows)
        num_width = max(len(num) for _, num, _ in rows)
        for name, num, note in rows:
            line = f"  {name:<{width}}  {num:>{num_width}}"
            out.append(f"{line}  ({note})" if note else line)
        if self.invalid_examples:
            shown = len(self.invalid_examples)
            more = f" (first {shown} of {self.invalid})" if shown < self.invalid else ""
            out.append(f"invalid lines{more}:")
            for ex in self.invalid_examples:
                out.append(f"  {ex['file']}:{ex['line']}: {ex['reason']}")
        return "\n".join(out)


@dataclass(frozen=True, eq=False)
class SplitPlan:
    """Which side each input line goes to."""

    files: tuple[str, ...]
    summary: SplitSummary
    # One read-only uint8 array per file, indexed by line number - 1 (0 none, 1 train, 2 test).
    sides: tuple[np.ndarray, ...] = field(repr=False)
    # (size, mtime_ns) per file at planning time, to catch files changed before writing.
    fingerprints: tuple[tuple[int, int], ...] = field(repr=False)

    def side(self, file_index: int, line_number: int) -> Side | None:
        """The side of a line (None: blank, invalid or a dropped duplicate); line_number is 1-based."""
        sides = self.sides[file_index]
        if not 1 <= line_number <= len(sides):
            raise IndexError(
                f"line {line_number} out of range for {self.files[file_index]} "
                f"({len(sides)} lines)"
            )
        return _SIDES[sides[line_number - 1]]


def _normalize_text(value: Any) -> Any:
    # Whitespace variants of one conversation must count as the same conversation.
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return [_normalize_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize_text(v) for k, v in value.items()}
    return value


def _digest(data: bytes, person: bytes, key: bytes = b"") -> int:
    return int.from_bytes(
        hashlib.blake2b(data, digest_size=8, key=key, person=person).digest(), "little"
    )


def _canonical(value: Any) -> bytes:
    # surrogatepass: JSON escapes may decode to lone surrogates, which strict UTF-8 rejects.
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def conversation_digest(messages: list[dict]) -> int:
    """64-bit identity of a conversation: its messages with content whitespace-normalized."""
    normalized = []
    for message in messages:
        if "content" in message:
            message = {**message, "content": _normalize_text(message["content"])}
        normalized.append(message)
    return _digest(_canonical(normalized), _CONVERSATION_PERSON)


def _fingerprint(path: Path) -> tuple[int, int]:
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


def _scan(paths: list[Path], parser: RecordParser, group_key: str | None) -> _Scan:
    scan = _Scan()
    for record in read_records(paths, scan.counts, parser.max_line_bytes):
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
            scan.group.append(0 if value is None else _digest(_canonical(value), _GROUP_PERSON))
            scan.has_group.append(value is not None)
    return scan


def _clusters(
    content: np.ndarray, group: np.ndarray | None, has_group: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cluster valid rows: (content id per row, cluster per content id, cluster keys, first row
    of each content id).

    Cluster keys are the smallest member digest (conversation or group), which depends only on
    the set of members, never on their order.
    """
    digests, first_row, content_id = np.unique(content, return_index=True, return_inverse=True)
    n_content = len(digests)
    if group is None or has_group is None or not has_group.any():
        return content_id, np.arange(n_content), digests, first_row

    group_digests, group_id = np.unique(group[has_group], return_inverse=True)
    n_group = len(group_digests)
    # Every distinct (conversation, group) pair is an edge of a bipartite graph; its connected
    # components are the clusters. Union-find over unique edges, nodes = contents then groups.
    pair = content_id[has_group].astype(np.int64) * n_group + group_id
    pairs = np.unique(pair)
    parent = list(range(n_content + n_group))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for c, g in zip((pairs // n_group).tolist(), (pairs % n_group).tolist()):
        a, b = find(c), find(n_content + g)
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = np.fromiter((find(x) for x in range(n_content + n_group)), dtype=np.int64,
                        count=n_content + n_group)
    _, label = np.unique(roots, return_inverse=True)
    keys = np.full(label.max() + 1, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(keys, label, np.concatenate([digests, group_digests]))
    return content_id, label[:n_content], keys, first_row


def plan_split(
    paths: Sequence[str | Path],
    *,
    test_ratio: float | None = None,
    test_size: int | None = None,
    seed: int = 0,
    group_key: str | None = None,
    dedup: bool = False,
    parser: RecordParser = RecordParser(),
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
    if not paths:
        raise ValueError("no input files given")
    fingerprints = tuple(_fingerprint(p) for p in paths)
    scan = _scan(paths, parser, group_key)
    content = np.frombuffer(scan.content, dtype=np.uint64)
    group = has_group = None
    if group_key is not None:
        group = np.frombuffer(scan.group, dtype=np.uint64)
        has_group = np.frombuffer(scan.has_group, dtype=np.uint8).astype(bool)

    content_id, cluster_of_content, keys, first_row = _clusters(content, group, has_group)
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
                     fingerprints=fingerprints)


def _test_clusters(keys: np.ndarray, sizes: np.ndarray, target: int, seed: int) -> np.ndarray:
    """Which clusters go to the test side: taken in seeded-hash order until the row count is
    closest to `target`."""
    # Ties (a 64-bit collision) fall back to the key itself, so the order is total and never
    # depends on input order.
    seed_key = str(seed).encode()
    rank = np.fromiter(
        (_digest(k.to_bytes(8, "little"), _RANK_PERSON, seed_key) for k in keys.tolist()),
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
    for path, fingerprint in zip(paths, plan.fingerprints):
        if _fingerprint(path) != fingerprint:
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


def _copy_lines(paths: list[Path], plan: SplitPlan, outputs: tuple) -> None:
    counts = ReadCounts()
    for record in read_records(paths, counts):
        sides = plan.sides[record.source]
        if record.line > len(sides):
            raise ValueError(f"{paths[record.source]} changed since the split was planned")
        out = outputs[sides[record.line - 1]]
        if out is not None:
            out.write(record.raw if record.raw.endswith(b"\n") else record.raw + b"\n")
    if counts.lines_per_file != [len(sides) for sides in plan.sides]:
        raise ValueError("an input changed since the split was planned")


_HELP = """Split chat JSONL files into DIR/train.jsonl and DIR/test.jsonl.

\b
Lines are copied unchanged, in input order (files in the order given).
A conversation's side depends only on --seed and its content, never on
file or line order; the same inputs and seed give byte-identical outputs.

\b
Leakage-free: duplicate conversations (equal after collapsing whitespace
in message content) always land on the same side, and --group-key FIELD
keeps rows sharing a value of that top-level field together. The test
side gets as close as clusters allow to --test-ratio (default 0.1) or
--test-size rows: exact when no rows are duplicated or grouped.

\b
Blank lines are skipped. Lines that are not a JSON object with a
"messages" list are counted as invalid and written to neither side.
"""


@click.command("split", help=_HELP)
@click.argument(
    "paths", nargs=-1, required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
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
              help="Directory for train.jsonl and test.jsonl.")
@click.option("--overwrite", is_flag=True, help="Replace existing train.jsonl / test.jsonl.")
def split_command(
    paths: tuple[Path, ...],
    test_ratio: float | None,
    test_size: int | None,
    seed: int,
    group_key: str | None,
    dedup: bool,
    output: Path,
    overwrite: bool,
) -> None:
    try:
        check_split_options(test_ratio, test_size, seed, group_key)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    try:
        # Fail before the (possibly long) read rather than after it.
        check_outputs(output, overwrite=overwrite)
        plan = plan_split(paths, test_ratio=test_ratio, test_size=test_size, seed=seed,
                          group_key=group_key, dedup=dedup)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot read input: {e}") from None
    try:
        write_split(paths, output, plan, overwrite=overwrite)
    except (OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(plan.summary.format())
    written = output_paths(output)
    click.echo(f"wrote {written[Side.TRAIN]} and {written[Side.TEST]}")
