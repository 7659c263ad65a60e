"""Statistics (`stats`): kept as counts of lengths, they give what numpy gives on every length."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from datakit import stats


def numpy_distribution(values: np.ndarray) -> dict[str, float]:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"min": int(values.min()), "mean": round(float(values.mean()), 1), "median": float(p50),
            "p90": round(float(p90), 1), "p99": round(float(p99), 1), "max": int(values.max())}


def numpy_histogram(values: np.ndarray) -> list[int]:
    edges = stats.HISTOGRAM_EDGES + [max(stats.HISTOGRAM_EDGES[-1] + 1, int(values.max()) + 1)]
    return [int(c) for c in np.histogram(values, bins=edges)[0]]


@pytest.mark.parametrize("high", [3, 100, 20_000, 5_000_000])
def test_distribution_and_histogram_from_counts_are_numpys(high):
    rng = np.random.default_rng(high)
    for size in [1, 2, 3, 7, 10, 99, 100, 101, *rng.integers(1, 3000, 300).tolist()]:
        values = rng.integers(0, high, size).astype(np.int32)
        counts: Counter = Counter()
        stats._count_values(counts, values)
        assert stats._distribution(counts) == numpy_distribution(values), values
        assert stats._histogram(counts) == numpy_histogram(values), values


def test_memory_grows_with_distinct_lengths_not_records():
    collector = stats.StatsCollector(["a.jsonl"], ["train"])
    rows = {k: np.zeros(1000, np.int32) for k in stats.ROW_FIELDS}
    rows["length"][:] = rows["original_length"][:] = np.arange(1000) % 7
    for _ in range(50):
        collector.add_rows(rows)
    (tally,) = collector._tallies.values()
    assert len(tally.before) == len(tally.after) == 7
    assert collector.summary(stats.ReadCounts(lines=50_000))["rows_written"] == 50_000
