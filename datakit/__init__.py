"""datakit: chat JSONL to exact, training-ready token Datums."""

__version__ = "0.1.0"
