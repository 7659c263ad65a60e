"""Read input records: cut files into numbered records (`sources`), then parse and validate
each into a conversation or a reject (`records`). Every command reads through here."""

from .records import Conversation, RecordParser
from .sources import DEFAULT_MAX_LINE_BYTES, ReadCounts, Record, read_records

__all__ = ["DEFAULT_MAX_LINE_BYTES", "Conversation", "ReadCounts", "Record", "RecordParser", "read_records"]
