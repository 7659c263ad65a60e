"""What every output made from another one shares: a manifest that names its source and keeps
the source's provenance, and the source's rejects and statistics carried over unchanged."""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..output import Format, Output
from ..write import MANIFEST, OutputWriter, sha256_file

# Keys of the source manifest a derived output keeps: how its rows were made.
CARRIED = ("template", "tokenizer", "options", "inputs", "summary", "pack")


def derived_manifest(source: Output, fmt: Format, source_path: Path | None) -> dict[str, Any]:
    """The start of a derived output's manifest (`splits` and `rejects` are added at commit).

    `source_path` None: the source was a temporary render that no longer exists
    (`render --pack`); its manifest's checksum is still recorded.
    """
    return {
        "format": fmt.value,
        "datakit_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **{key: source.manifest[key] for key in CARRIED if key in source.manifest},
        "source": {
            "path": str(source_path.resolve()) if source_path is not None else None,
            "format": source.manifest["format"],
            "manifest_sha256": sha256_file(source.path / MANIFEST),
        },
        "python": platform.python_version(),
    }


def source_stats(source: Output) -> dict[str, Any]:
    path = source.path / "stats.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def carry_rejects(source: Output, writer: OutputWriter) -> None:
    """Give `writer` the source's rejects, record for record."""
    path = source.path / "rejects.jsonl"
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                writer.reject(json.loads(line))


def copy_rejects(source: Output, staging: Path) -> dict[str, str]:
    """Copy the source's rejects file into `staging`; its manifest entry."""
    target = staging / "rejects.jsonl"
    if (source.path / "rejects.jsonl").is_file():
        shutil.copyfile(source.path / "rejects.jsonl", target)
    else:
        target.write_bytes(b"")
    return {"file": "rejects.jsonl", "sha256": sha256_file(target)}
