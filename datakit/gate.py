"""Whether a run's yield is worth writing: at least one row, and no more rejected records than
`--max-reject-ratio` allows.

A run that writes no row, or rejects most of its input, almost always read the data with the
wrong options (`--format`, `--messages-key`, a template whose roles the data does not use):
`datakit render data.jsonl && train` must not train on nothing. Such a run writes nothing (an
old output stays as it was) and the command exits with EXIT_YIELD. Duplicates `--dedup`
dropped were asked for and do not count; blank lines are not records.
"""

from __future__ import annotations

from typing import Mapping

DEFAULT_MAX_REJECT_RATIO = 0.5
EXIT_YIELD = 3  # the exit status of a run the gate stopped (1: an error, 2: a usage error)
_NOT_COUNTED = "duplicate"


class LowYield(ValueError):
    """A run whose rows are too few to write; the message says what was rejected and how to write it anyway."""


def check_yield(rows: int, records: int, rejected_by_reason: Mapping[str, int], max_reject_ratio: float,
                hint: str = "--max-reject-ratio 1") -> None:
    """Raise LowYield if no row was written or rejects exceed `max_reject_ratio` of the records."""
    counted = {reason: n for reason, n in rejected_by_reason.items() if reason != _NOT_COUNTED}
    considered = records - rejected_by_reason.get(_NOT_COUNTED, 0)
    rejected = sum(counted.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(counted.items(), key=lambda kv: -kv[1])[:3])
    if rows == 0:
        what = f"all {records} records were rejected ({reasons})" if records else "the input holds no record"
        raise LowYield(f"no row was written: {what}")
    if considered and rejected / considered > max_reject_ratio:
        raise LowYield(f"{rejected} of {considered} records were rejected ({rejected / considered:.0%}: {reasons}), "
                       f"more than --max-reject-ratio {max_reject_ratio:g}; nothing was written (pass {hint} to "
                       "write the rest)")
