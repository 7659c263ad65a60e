"""What a split plan found and decided, and its printed table."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


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
