"""The vendored references (`tests/data`, `tests/golden`) are complete, unedited, and the same
as `../shared`, the folder new references arrive in, whenever it is beside the repository."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from conftest import DATA, GOLDEN, SHARED, TESTS

CHECKSUMS = TESTS / "references.sha256"


def content_sha256(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha256(gzip.decompress(data) if path.suffix == ".gz" else data).hexdigest()


def vendored() -> dict[str, Path]:
    files = [*DATA.glob("*.jsonl.gz"), *GOLDEN.glob("*/*/*.jsonl.gz")]
    return {p.relative_to(TESTS).as_posix(): p for p in files}


def test_every_vendored_reference_matches_its_recorded_checksum():
    recorded = dict(reversed(line.split("  ", 1)) for line in CHECKSUMS.read_text().splitlines())
    files = vendored()
    assert sorted(files) == sorted(recorded), "tests/references.sha256 and the vendored files differ"
    for name, path in files.items():
        assert content_sha256(path) == recorded[name], f"{name} was changed"


def test_the_vendored_copies_equal_shared_when_it_is_beside_the_repo():
    """On a plain clone there is no ../shared and nothing to compare; the checksums above still
    hold. Beside ../shared, every data file and golden there must be here with the same content
    (`tests/data` keeps `<name>.jsonl` gzipped as `<name>.jsonl.gz`)."""
    if not SHARED.is_dir():
        assert not (SHARED / "data").exists()
        return
    files = vendored()
    shared = [*(SHARED / "data").glob("*.jsonl"), *(SHARED / "golden").glob("*/*/*.jsonl.gz")]
    assert shared, f"{SHARED} holds no references"
    for path in shared:
        relative = path.relative_to(SHARED).as_posix()
        name = relative if relative.endswith(".gz") else relative + ".gz"
        assert name in files, f"{relative} is in ../shared but not vendored in tests/"
        assert content_sha256(files[name]) == content_sha256(path), (
            f"tests/{name} differs from ../shared/{relative}: copy the new reference in "
            "(gzip -n -9 for data files) and update tests/references.sha256")

