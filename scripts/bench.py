"""Benchmark `datakit render` against the encoders' own batch speed, and its memory.

Compare mode (default), for each corpus (--corpus long,short) and template, on the same fully
rendered chat text:

  (a) tiktoken `Encoding.encode_batch(texts, num_threads=<cores>)`, the Encoding built from the
      bundled tokenizer.json (bench_encoders.py), control-token text encoded as ordinary text
      (--tiktoken-specials all: as control tokens); beside it `tokenizers` encode_batch_fast and
      fastokens encode_batch_flat;
  (b) transformers `apply_chat_template(..., tokenize=True, return_assistant_tokens_mask=True)`
      one conversation at a time, on a subset (--hf-limit);
  (c) `datakit render FILE -o DIR --template T --overwrite -q` as a subprocess started from a
      small launcher (wall time, render_files time, CPU, peak RSS of main, workers and tree).

`--scaling` renders growing corpora with datakit only (time and RSS ratios); `--huge-message
CHARS` renders one conversation with a message of CHARS characters (--max-length 16384, right);
`--engine ray` compares the local and Ray engines; `--profile N` runs cProfile over one
in-process worker. See scripts/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_compare import compare, print_compare, summarize
from bench_corpus import Corpus, write_corpus
from bench_encoders import Specials
from bench_modes import (
    huge_message,
    print_huge,
    print_ray,
    print_scaling,
    profile,
    ray_compare,
    scaling,
)

TEMPLATES = ("llama3", "qwen3", "qwen3.5")
DEFAULT_CONVERSATIONS = {Corpus.LONG: 8000, Corpus.SHORT: 60000}  # the reference sizes


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="long", help="comma-separated: long, short [long]")
    parser.add_argument("--conversations", type=int, help="generated corpus size [long 8000, short 60000]")
    parser.add_argument("--templates", default=",".join(TEMPLATES), help=f"comma-separated [{','.join(TEMPLATES)}]")
    parser.add_argument("--workers", type=int, default=None, help="datakit workers [all cores]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown [3]")
    parser.add_argument("--hf-limit", type=int, default=2000,
                        help="conversations measured with transformers (b); 0 skips (b) [2000]")
    parser.add_argument("--hf-check", type=int, default=20,
                        help="conversations whose HF output is compared with datakit's [20]")
    parser.add_argument("--a-chunk", type=int, default=2048,
                        help="texts per batch-encoder call, bounds memory [2048]")
    parser.add_argument("--tiktoken-specials", type=Specials, choices=list(Specials), default=Specials.NONE,
                        help="(a): none encodes control-token text as ordinary text; all as control tokens [none]")
    parser.add_argument("--input", type=Path, help="benchmark this JSONL file instead of a generated corpus")
    parser.add_argument("--corpus-dir", type=Path, help="where generated corpora are kept [a temp dir]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--scaling", action="store_true", help="datakit only: each size of --scaling-sizes")
    parser.add_argument("--scaling-sizes", type=_ints, help="comma-separated [long 10000,200000; short 10000,1000000]")
    parser.add_argument("--huge-message", type=_ints, metavar="CHARS",
                        help="datakit only: one message of CHARS characters (comma-separated sizes)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="ray: datakit only, --engine local vs --engine ray on one Ray runtime (needs datakit[ray])")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile an in-process render_files(workers=1) over the first N conversations")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--generate-only", action="store_true", help="write the corpus and stop")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the tables of a saved --json file")
    args = parser.parse_args()
    args.templates = [t for t in args.templates.split(",") if t]
    try:
        args.corpora = [Corpus(c) for c in args.corpus.split(",") if c]
    except ValueError:
        parser.error(f"--corpus takes long and/or short, not {args.corpus!r}")
    return args


def show(args: argparse.Namespace) -> None:
    saved = json.loads(args.show.read_text())
    args.workers, args.repeat = saved.get("workers"), saved.get("repeat", args.repeat)
    mode = saved["mode"]
    if mode == "ray":
        for desc, results in saved["ray"].items():
            args.corpus_desc = desc
            print_ray(results, args)
    elif mode == "scaling":
        print_scaling(saved["scaling"], args)
    elif mode == "huge":
        print_huge(saved["huge"], args)
    else:
        print_compare({c: {t: summarize(r) for t, r in rows.items()} for c, rows in saved["compare"].items()}, args)


def corpora(args: argparse.Namespace, corpus_dir: Path) -> dict[str, Path]:
    """Description -> JSONL file: --input, or each generated --corpus."""
    if args.input:
        return {str(args.input): args.input}
    out = {}
    for kind in args.corpora:
        n = args.conversations or DEFAULT_CONVERSATIONS[kind]
        out[f"{kind} corpus, {n:,} generated conversations (seed {args.seed})"] = write_corpus(corpus_dir, kind, n, args.seed)
    return out


def run(args: argparse.Namespace, corpus_dir: Path, work: Path) -> dict[str, Any] | None:
    """The mode the options ask for; its results (None: nothing to save)."""
    if args.scaling:
        results = {"mode": "scaling", "scaling": scaling(args, corpus_dir, work)}
        print_scaling(results["scaling"], args)
        return results
    if args.huge_message:
        results = {"mode": "huge", "huge": huge_message(args, corpus_dir, work)}
        print_huge(results["huge"], args)
        return results
    files = corpora(args, corpus_dir)
    if args.generate_only:
        print("\n".join(map(str, files.values())))
        return None
    if args.profile:
        for corpus in files.values():
            profile(args, corpus, work)
        return None
    if args.engine == "ray":
        results = {"mode": "ray", "ray": {}}
        for desc, corpus in files.items():
            args.corpus_desc = desc
            results["ray"][desc] = ray_compare(args, corpus, work)
            print_ray(results["ray"][desc], args)
        return results
    pools: dict[str, str] = {}
    results = {"mode": "compare", "corpora": {d: str(f) for d, f in files.items()},
               "compare": {desc: compare(args, corpus, work, pools) for desc, corpus in files.items()}}
    print_compare(results["compare"], args)
    return results


def main() -> None:
    args = parse_args()
    if args.show:
        show(args)
        return
    with tempfile.TemporaryDirectory(prefix="datakit-bench-") as tmp:
        work = Path(tmp)
        corpus_dir = args.corpus_dir or work
        corpus_dir.mkdir(parents=True, exist_ok=True)
        results = run(args, corpus_dir, work)
        if results is not None and args.json:
            results.update(cores=len(os.sched_getaffinity(0)), workers=args.workers, repeat=args.repeat,
                           hf_limit=args.hf_limit, tiktoken_specials=str(args.tiktoken_specials),
                           python=sys.version.split()[0])
            args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
