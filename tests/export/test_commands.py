"""The new commands are registered, and neither `import datakit` nor the command line imports
the optional trainer libraries."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from datakit.cli import main

HEAVY = ("torch", "tinker", "datasets", "transformers", "trl", "polars")


def test_import_datakit_and_the_cli_import_no_trainer_library():
    code = ("import sys, datakit, datakit.cli, datakit.export.pack, datakit.export.hf, datakit.export.parquet; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"


def test_pack_and_export_are_commands():
    listing = CliRunner().invoke(main, ["--help"]).output
    assert "pack " in listing and "export " in listing
    assert "--pack N" in CliRunner().invoke(main, ["render", "--help"]).output
    missing = CliRunner().invoke(main, ["export", "nowhere", "--to", "parquet", "-o", "x"])
    assert missing.exit_code == 1 and "no such directory" in missing.output and "Traceback" not in missing.output
