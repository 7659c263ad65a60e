"""Split input records into train and test sides, deterministically and without leakage.

Planning (`plan_split`) reads every line once and keeps only a 64-bit digest per line; the
lines themselves are never held in memory. Writing (`write_split`) reads the files a second
time, copies each line, byte for byte, to the side the plan gives it, and commits the pair
(and its manifest) as one directory.

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

from .identity import conversation_digest
from .plan import DEFAULT_TEST_RATIO, SplitPlan, check_split_options, plan_split
from .summary import SplitSummary
from .write import check_outputs, output_paths, write_split

__all__ = ["DEFAULT_TEST_RATIO", "SplitPlan", "SplitSummary", "check_outputs", "check_split_options",
           "conversation_digest", "output_paths", "plan_split", "write_split"]
