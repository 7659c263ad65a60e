"""Read input records: cut files into numbered records (`sources`), then parse and validate
each into a conversation or a reject (`records`). Every command reads through here."""

from .forms import Form
from .records import Conversation, RecordParser
from .sources import (
    DEFAULT_MAX_LINE_BYTES, KNOWN_SUFFIXES, STDIN, ReadCounts, ReadError, Record, check_inputs, input_kind, read_file_records,
    read_records, stdin_spooled,
)

__all__ = ["DEFAULT_MAX_LINE_BYTES", "KNOWN_SUFFIXES", "STDIN", "Conversation", "Form", "ReadCounts", "ReadError",
           "Record", "RecordParser", "check_inputs", "input_kind", "read_file_records",
           "read_records", "stdin_spooled"]
