"""Statistics of a render: counts, length distributions and trainable tokens lost, as a table.

The pipeline feeds `StatsCollector` one batch of per-row arrays at a time; `summary()` turns
them into the plain dict written to `stats.json`, and `format_stats()` prints that dict, so
`datakit render` and `datakit stats OUT` show the same numbers from the same data.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from .outcome import Outcome, Reason, Reject, Row, Side
from .read import ReadCounts

# What became of a rendered record (the `status` of its measurement).
WRITTEN, DROPPED, EMPTIED = 0, 1, 2
_STATUS = {Reason.TOO_LONG: DROPPED, Reason.NO_TRAINABLE_TOKENS_AFTER_TRUNCATION: EMPTIED}
_TRUNCATION_FIELDS = ("original_length", "trainable_before", "truncated", "lost_final_end_of_turn",
                      "fell_back_to_right")
ROW_FIELDS = ("file", "split", "status", "length", "trainable_after", "reasoning_dropped", "first_of_record",
              *_TRUNCATION_FIELDS)
SPLITS = tuple(Side)
HISTOGRAM_EDGES = [0, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]


# Per (file, split) group, what `summary` adds up: these counts and sums, and the value counts
# of the lengths before (every measured record) and after (rows written).
_SUMS = ("rows_written", "conversations_written", "truncated", "dropped_too_long", "emptied_by_truncation",
         "turns_fell_back_to_right", "lost_final_end_of_turn", "reasoning_turns", "reasoning_rows",
         "tokens_written", "trainable_before", "trainable_after")


@dataclass
class _Tally:
    """The measurements of a group of records, in memory that does not grow with their number:
    sums, and how many records had each length (exact medians and percentiles from those)."""

    sums: np.ndarray = field(default_factory=lambda: np.zeros(len(_SUMS), np.int64))
    before: Counter = field(default_factory=Counter)
    after: Counter = field(default_factory=Counter)

    def add(self, rows: dict[str, np.ndarray]) -> None:
        written = rows["status"] == WRITTEN
        reasoning = rows["reasoning_dropped"][written]
        self.sums += [
            np.count_nonzero(written),
            np.count_nonzero(written & rows["first_of_record"].astype(bool)),
            np.count_nonzero(rows["truncated"].astype(bool) & written),
            np.count_nonzero(rows["status"] == DROPPED),
            np.count_nonzero(rows["status"] == EMPTIED),
            np.count_nonzero(rows["fell_back_to_right"].astype(bool) & written),
            np.count_nonzero(rows["lost_final_end_of_turn"].astype(bool) & written),
            reasoning.sum(dtype=np.int64),
            np.count_nonzero(reasoning),
            rows["length"][written].sum(dtype=np.int64),
            rows["trainable_before"].sum(dtype=np.int64),
            rows["trainable_after"][written].sum(dtype=np.int64),
        ]
        _count_values(self.before, rows["original_length"])
        _count_values(self.after, rows["length"][written])

    def merged(self, other: _Tally) -> _Tally:
        return _Tally(self.sums + other.sums, self.before + other.before, self.after + other.after)


@dataclass
class StatsCollector:
    """Gathers measurements and rejects batch by batch; `summary` is what stats.json holds.
    Its memory grows with the number of distinct lengths, not of records."""

    files: list[str]
    splits: list[str]
    _tallies: dict[tuple[int, int], _Tally] = field(default_factory=dict)  # (file, split) -> tally
    _rejects: Counter = field(default_factory=Counter)  # (file index, reason) -> count

    def add_rows(self, rows: dict[str, np.ndarray]) -> None:
        group = rows["file"].astype(np.int64) * len(SPLITS) + rows["split"]
        for key in np.unique(group).tolist():
            mask = group == key
            tally = self._tallies.setdefault(divmod(key, len(SPLITS)), _Tally())
            tally.add({k: v[mask] for k, v in rows.items()})

    def add_reject(self, reject: Reject) -> None:
        self._rejects[(reject.source, str(reject.reason))] += 1

    def summary(self, counts: ReadCounts) -> dict[str, Any]:
        out = _summarize(self._merged(lambda file, split: True), self._rejects, counts.lines, counts.blank)
        if len(self.splits) > 1:
            out["per_split"] = {
                name: _summarize(self._merged(lambda file, split, i=i: split == i), None, None, None)
                for i, name in enumerate(self.splits)
            }
        if len(self.files) > 1:
            out["per_file"] = {
                name: _summarize(
                    self._merged(lambda file, split, i=i: file == i),
                    Counter({k: v for k, v in self._rejects.items() if k[0] == i}),
                    counts.lines_per_file[i], counts.blank_per_file[i],
                )
                for i, name in enumerate(self.files)
            }
        return out

    def _merged(self, wanted: Callable[[int, int], bool]) -> _Tally:
        total = _Tally()
        for (file, split), tally in self._tallies.items():
            if wanted(file, split):
                total = total.merged(tally)
        return total


def measure(outcomes: Iterable[Outcome]) -> dict[str, np.ndarray]:
    """One measurement per rendered record (rows, and records truncation dropped or emptied),
    as arrays keyed by ROW_FIELDS, for `StatsCollector.add_rows`."""
    values: dict[str, list[int]] = {k: [] for k in ROW_FIELDS}
    previous = None  # the record of the last row written
    for outcome in outcomes:
        truncation = outcome.truncation
        if truncation is None:
            continue
        written = isinstance(outcome, Row)
        record = (outcome.source, outcome.line)  # per turn, a record has several rows: count it once
        values["first_of_record"].append(written and record != previous)
        previous = record if written else previous
        values["file"].append(outcome.source)
        values["split"].append(SPLITS.index(outcome.side))
        values["status"].append(WRITTEN if written else _STATUS[outcome.reason])
        values["length"].append(len(outcome.tokens) if written else 0)
        values["trainable_after"].append(outcome.trainable if written else 0)
        values["reasoning_dropped"].append(outcome.reasoning_dropped if written else 0)
        for name in _TRUNCATION_FIELDS:
            values[name].append(getattr(truncation, name))
    return {k: np.asarray(v, dtype=np.int32) for k, v in values.items()}


def _count_values(counter: Counter, values: np.ndarray) -> None:
    distinct, times = np.unique(values, return_counts=True)
    counter.update(dict(zip(distinct.tolist(), times.tolist())))


def _sorted_counts(counter: Counter) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values in order and the index after each one's last copy in sorted order."""
    values = np.array(sorted(counter), dtype=np.int64)
    return values, np.cumsum([counter[v] for v in values.tolist()], dtype=np.int64)


def _order_statistic(values: np.ndarray, ends: np.ndarray, index: int) -> int:
    """The `index`-th smallest (from 0) of the values counted."""
    return int(values[np.searchsorted(ends, index, "right")])


def _percentile(values: np.ndarray, ends: np.ndarray, q: float) -> float:
    """`np.percentile(sorted_values, 100 * q)` (its default, linear method), computed the way
    numpy computes it (`_quantile`, `_lerp`), from the counts alone."""
    n = int(ends[-1])
    virtual = (n - 1) * q
    below = math.floor(virtual)
    gamma = virtual - below
    if virtual >= n - 1:
        below = n - 1
    a = _order_statistic(values, ends, below)
    b = _order_statistic(values, ends, min(below + 1, n - 1))
    difference = b - a
    return b - difference * (1 - gamma) if gamma >= 0.5 else a + difference * gamma


def _distribution(counter: Counter) -> dict[str, float]:
    if not counter:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    values, ends = _sorted_counts(counter)
    total = sum(v * c for v, c in counter.items())
    p50, p90, p99 = (_percentile(values, ends, q) for q in (0.5, 0.9, 0.99))
    return {"min": int(values[0]), "mean": round(total / int(ends[-1]), 1), "median": float(p50),
            "p90": round(float(p90), 1), "p99": round(float(p99), 1), "max": int(values[-1])}


def _histogram(counter: Counter) -> list[int]:
    top = max(counter) if counter else -1
    edges = HISTOGRAM_EDGES + [max(HISTOGRAM_EDGES[-1] + 1, top + 1 if counter else 0)]
    counts = [0] * (len(edges) - 1)
    for value, times in counter.items():  # every value is below the last edge
        counts[int(np.searchsorted(edges, value, "right")) - 1] += times
    return counts


def _summarize(tally: _Tally, rejects: Counter | None, lines: int | None, blank: int | None) -> dict[str, Any]:
    sums = dict(zip(_SUMS, map(int, tally.sums)))
    trainable_before, trainable_after = sums["trainable_before"], sums["trainable_after"]
    lost = trainable_before - trainable_after
    out: dict[str, Any] = {}
    if lines is not None:
        out["lines_read"] = lines
        out["blank_lines"] = blank
    out["rows_written"] = sums["rows_written"]
    out["conversations_written"] = sums["conversations_written"]
    if rejects is not None:
        by_reason = Counter()
        for (_, reason), n in rejects.items():
            by_reason[reason] += n
        out["rejected"] = sum(by_reason.values())
        out["rejected_by_reason"] = dict(sorted(by_reason.items()))
    for key in ("truncated", "dropped_too_long", "emptied_by_truncation", "turns_fell_back_to_right",
                "lost_final_end_of_turn"):
        out[key] = sums[key]
    if sums["reasoning_turns"]:  # only when it happened: older stats.json files have no such key
        out["reasoning_dropped"] = {"turns": sums["reasoning_turns"], "rows": sums["reasoning_rows"]}
    out["tokens_written"] = sums["tokens_written"]
    out["trainable_tokens_before"] = trainable_before
    out["trainable_tokens_written"] = trainable_after
    out["trainable_tokens_lost"] = lost
    out["trainable_tokens_lost_pct"] = round(100.0 * lost / trainable_before, 2) if trainable_before else 0.0
    out["length_before"] = _distribution(tally.before)
    out["length_after"] = _distribution(tally.after)
    out["histogram"] = {"edges": HISTOGRAM_EDGES, "before": _histogram(tally.before), "after": _histogram(tally.after)}
    return out


def _block(stats: dict[str, Any], title: str) -> list[str]:
    lines = [title]

    def row(label: str, value: Any) -> None:
        lines.append(f"  {label:<38}{value:>12}" if not isinstance(value, str) else f"  {label:<38}{value:>12}")

    if "lines_read" in stats:
        row("lines read", f"{stats['lines_read']:,}")
        row("blank lines (skipped)", f"{stats['blank_lines']:,}")
    row("rows written", f"{stats['rows_written']:,}")
    if stats.get("conversations_written", stats["rows_written"]) != stats["rows_written"]:
        row("  conversations they come from", f"{stats['conversations_written']:,}")
    if "rejected" in stats:
        row("rejected", f"{stats['rejected']:,}")
        for reason, n in stats["rejected_by_reason"].items():
            row(f"  {reason}", f"{n:,}")
    row("truncated (kept)", f"{stats['truncated']:,}")
    row("dropped as too long", f"{stats['dropped_too_long']:,}")
    row("no trainable token after truncation", f"{stats['emptied_by_truncation']:,}")
    row("turns policy fell back to right", f"{stats['turns_fell_back_to_right']:,}")
    row("final end-of-turn token cut off", f"{stats['lost_final_end_of_turn']:,}")
    row("tokens written", f"{stats['tokens_written']:,}")
    row("trainable tokens before truncation", f"{stats['trainable_tokens_before']:,}")
    row("trainable tokens written", f"{stats['trainable_tokens_written']:,}")
    row("trainable tokens lost", f"{stats['trainable_tokens_lost']:,} ({stats['trainable_tokens_lost_pct']}%)")
    columns = ("min", "mean", "median", "p90", "p99", "max")
    lengths = [("before", stats["length_before"]), ("after", stats["length_after"])]
    width = max(10, *(len(str(d[c])) + 2 for _, d in lengths for c in columns))  # a huge record widens them
    lines.append(f"  {'length':<12}" + "".join(f"{c:>{width}}" for c in columns))
    for label, d in lengths:
        lines.append(f"  {label:<12}" + "".join(f"{d[c]:>{width}}" for c in columns))
    hist = stats["histogram"]
    edges = hist["edges"]
    labels = [f"{edges[i]}-{edges[i + 1] - 1}" for i in range(len(edges) - 1)] + [f">={edges[-1]}"]
    peak = max([1, *hist["before"], *hist["after"]])
    lines.append(f"  {'tokens':<14}{'before':>8}{'after':>8}")
    for label, b, a in zip(labels, hist["before"], hist["after"]):
        if b or a:
            lines.append(f"  {label:<14}{b:>8}{a:>8}  {'#' * max(1 if a else 0, round(24 * a / peak))}")
    return lines


def format_stats(stats: dict[str, Any]) -> str:
    """The statistics as a plain-text table (what `render` prints and `datakit stats` shows)."""
    lines = _block(stats, "all inputs")
    if "reasoning_dropped" in stats:
        dropped = stats["reasoning_dropped"]
        lines += ["", f"warning: the template left out the reasoning of {dropped['turns']:,} earlier assistant "
                      f"turns in {dropped['rows']:,} rows (it rewrites history), so those turns train without "
                      "the reasoning the model sees when it writes them; --examples per_turn trains each "
                      "turn as it was generated"]
    for name, sub in stats.get("per_split", {}).items():
        lines += [""] + _block(sub, f"split {name}")
    for name, sub in stats.get("per_file", {}).items():
        lines += [""] + _block(sub, f"file {name}")
    return "\n".join(lines)
