"""Statistics of a render: counts, length distributions and trainable tokens lost, as a table.

The pipeline feeds `StatsCollector` one batch of per-row arrays at a time; `summary()` turns
them into the plain dict written to `stats.json`, and `format_stats()` prints that dict, so
`datakit render` and `datakit stats OUT` show the same numbers from the same data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

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


@dataclass
class StatsCollector:
    """Gathers measurements and rejects batch by batch; `summary` is what stats.json holds."""

    files: list[str]
    splits: list[str]
    _rows: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in ROW_FIELDS})
    _rejects: Counter = field(default_factory=Counter)  # (file index, reason) -> count

    def add_rows(self, rows: dict[str, np.ndarray]) -> None:
        for key in ROW_FIELDS:
            self._rows[key].append(rows[key])

    def add_reject(self, reject: Reject) -> None:
        self._rejects[(reject.source, str(reject.reason))] += 1

    def summary(self, counts: ReadCounts) -> dict[str, Any]:
        rows = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in self._rows.items()}
        out = _summarize(rows, self._rejects, counts.lines, counts.blank)
        if len(self.splits) > 1:
            out["per_split"] = {
                name: _summarize(_subset(rows, rows["split"] == i), None, None, None)
                for i, name in enumerate(self.splits)
            }
        if len(self.files) > 1:
            out["per_file"] = {
                name: _summarize(
                    _subset(rows, rows["file"] == i),
                    Counter({k: v for k, v in self._rejects.items() if k[0] == i}),
                    counts.lines_per_file[i], counts.blank_per_file[i],
                )
                for i, name in enumerate(self.files)
            }
        return out


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


def _subset(rows: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in rows.items()}


def _distribution(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p90": 0.0, "p99": 0.0, "max": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"min": int(values.min()), "mean": round(float(values.mean()), 1), "median": float(p50),
            "p90": round(float(p90), 1), "p99": round(float(p99), 1), "max": int(values.max())}


def _histogram(values: np.ndarray) -> list[int]:
    edges = HISTOGRAM_EDGES + [max(HISTOGRAM_EDGES[-1] + 1, int(values.max()) + 1 if values.size else 0)]
    counts, _ = np.histogram(values, bins=edges)
    return [int(c) for c in counts]


def _summarize(rows: dict[str, np.ndarray], rejects: Counter | None, lines: int | None,
               blank: int | None) -> dict[str, Any]:
    written = rows["status"] == WRITTEN
    before = rows["original_length"]
    after = rows["length"][written]
    trainable_before = int(rows["trainable_before"].sum(dtype=np.int64))
    trainable_after = int(rows["trainable_after"][written].sum(dtype=np.int64))
    lost = trainable_before - trainable_after
    out: dict[str, Any] = {}
    if lines is not None:
        out["lines_read"] = lines
        out["blank_lines"] = blank
    out["rows_written"] = int(written.sum())
    out["conversations_written"] = int((written & rows["first_of_record"].astype(bool)).sum())
    if rejects is not None:
        by_reason = Counter()
        for (_, reason), n in rejects.items():
            by_reason[reason] += n
        out["rejected"] = sum(by_reason.values())
        out["rejected_by_reason"] = dict(sorted(by_reason.items()))
    out["truncated"] = int((rows["truncated"].astype(bool) & written).sum())
    out["dropped_too_long"] = int((rows["status"] == DROPPED).sum())
    out["emptied_by_truncation"] = int((rows["status"] == EMPTIED).sum())
    out["turns_fell_back_to_right"] = int((rows["fell_back_to_right"].astype(bool) & written).sum())
    out["lost_final_end_of_turn"] = int((rows["lost_final_end_of_turn"].astype(bool) & written).sum())
    reasoning_dropped = rows["reasoning_dropped"][written]
    if reasoning_dropped.any():  # only when it happened: older stats.json files have no such key
        out["reasoning_dropped"] = {"turns": int(reasoning_dropped.sum()),
                                    "rows": int(np.count_nonzero(reasoning_dropped))}
    out["tokens_written"] = int(after.sum(dtype=np.int64))
    out["trainable_tokens_before"] = trainable_before
    out["trainable_tokens_written"] = trainable_after
    out["trainable_tokens_lost"] = lost
    out["trainable_tokens_lost_pct"] = round(100.0 * lost / trainable_before, 2) if trainable_before else 0.0
    out["length_before"] = _distribution(before)
    out["length_after"] = _distribution(after)
    out["histogram"] = {"edges": HISTOGRAM_EDGES, "before": _histogram(before), "after": _histogram(after)}
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
