"""Outputs made from a committed render: packed rows (`pack.py`), a Hugging Face / TRL dataset
(`hf.py`) and Parquet shards (`parquet.py`); `commands.py` holds their command lines and
`derive.py` what they share (the derived manifest, the copied rejects and stats)."""
