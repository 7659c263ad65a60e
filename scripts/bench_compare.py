"""Compare mode of scripts/bench.py: datakit end to end against the encoders on the same text.

For each corpus and template: the conversations rendered once to their full chat text (not
timed); then, interleaved over the repeats, (a) tiktoken, `tokenizers` and fastokens batch
encoding of that text, (b) transformers `apply_chat_template` on a subset, and (c) `datakit render`
as a subprocess. Every rate is in tokens of the text as datakit writes them (control tokens
counted once: `tokenizers`' count), so each rate is "this text per second".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import bench_encoders as enc
from bench_measure import run_datakit


def median(values: list[float]) -> float:
    return statistics.median(values)


def mtoks(tokens: float, seconds: float) -> float:
    return tokens / seconds / 1e6 if seconds else float("nan")


def rendered(corpus: Path, renderer: Any) -> tuple[list[dict], list[str]]:
    """The records the template renders, and the exact text of each (markers removed)."""
    from datakit.outcome import Invalid
    from datakit.render import TemplateError

    records, texts = [], []
    with open(corpus, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            record = json.loads(raw)
            try:
                texts.append(renderer.render_text(record))
            except (Invalid, TemplateError):  # a conversation datakit rejects too
                continue
            records.append(record)
    return records, texts


def compare(args: argparse.Namespace, corpus: Path, work: Path, pools: dict[str, str]) -> dict[str, Any]:
    """One row per template for this corpus file; `pools` records the encoders' thread pools
    (a library starts its pool once per process)."""
    from datakit.render import build_renderer

    results: dict[str, Any] = {}
    for name in args.templates:
        renderer = build_renderer(name)
        records, texts = rendered(corpus, renderer)
        print(f"# {corpus.name} {name}: {len(texts)} conversations rendered to text "
              f"({sum(map(len, texts)) / 2**20:.0f} MiB)", file=sys.stderr)
        encoders = enc.batch_encoders(renderer.tokenizer, len(os.sched_getaffinity(0)), args.tiktoken_specials,
                                      texts[:64], pools)
        row: dict[str, Any] = {"rendered": len(texts)}
        hf = subset = None
        if args.hf_limit:
            hf = enc.hf_tokenizer(renderer.tokenizer, renderer.template)
            subset = records[:args.hf_limit]
            row["b_check"] = enc.check_hf(hf, renderer, subset, args.hf_check)
            row["b_conversations"] = len(subset)
            print(f"#   (b) check vs datakit: {row['b_check']}", file=sys.stderr)
        del records

        # The repeats interleave everything, so a slow spell of the machine hits all of them.
        runs: dict[str, list] = {e.name: [] for e in encoders}
        b_runs, c_runs = [], []
        for rep in range(args.repeat):
            for e in encoders:
                runs[e.name].append(enc.timed(e, texts, args.a_chunk))
            if hf is not None:
                b_runs.append(enc.bench_hf(hf, subset))
            c_runs.append(run_datakit(corpus, name, args.workers, work / f"out-{name}"))
            print(f"#   run {rep + 1}: " + "  ".join(f"{n.split()[0]} {r[-1][0]:.2f}s" for n, r in runs.items())
                  + (f"  (b) {b_runs[-1][0]:.2f}s" if b_runs else "") + f"  (c) {c_runs[-1]['wall_s']:.2f}s",
                  file=sys.stderr)
        counts = {n: r[0][2] for n, r in runs.items()}
        reference = next(c for n, c in counts.items() if n.startswith("tokenizers"))
        row["count_check"] = count_check(encoders, counts, reference, texts, args)
        print(f"#   {row['count_check']}", file=sys.stderr)
        del texts
        row["tokens"] = int(reference.sum())
        row["encoders"] = {n: {"threads": e.threads, "busy_threads": runs[n][0][3], "tokens": int(counts[n].sum()),
                               "runs_s": [r[0] for r in runs[n]], "cpu_runs_s": [r[1] for r in runs[n]]}
                           for n, e in zip(runs, encoders)}
        if b_runs:
            row.update(b_tokens=b_runs[0][1], b_runs_s=[r[0] for r in b_runs], b_cpu_s=median([r[2] for r in b_runs]))
        row["c_runs"] = c_runs
        row["workers"] = args.workers or len(os.sched_getaffinity(0))
        results[name] = summarize(row)
    return results


def count_check(encoders: list, counts: dict, reference: Any, texts: list[str], args: argparse.Namespace) -> str:
    """One line: do tiktoken's Encoding and fastokens give `tokenizers`' token counts?"""
    tiktoken = encoders[0]
    if args.tiktoken_specials is enc.Specials.ALL:
        line = enc.check_tiktoken_counts(counts[tiktoken.name], reference)
    else:
        line = enc.check_tiktoken(tiktoken, texts, reference, args.a_chunk)
        line += (f"; (a) encodes the control tokens as text: {int(counts[tiktoken.name].sum()):,} tokens, "
                 "rates use tokenizers' count")
    for name, c in counts.items():
        if name.startswith("fastokens"):
            differ = int((c != reference).sum())
            line += "; fastokens: " + ("same count" if differ == 0 else f"a different count on {differ} texts")
    return line


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    """Medians, rates and ratios of one template's runs (also run again by --show)."""
    tokens, c_runs = row["tokens"], row["c_runs"]
    for e in row["encoders"].values():
        e.update(s=median(e["runs_s"]), cpu_s=median(e["cpu_runs_s"]))
        e["mtok_s"] = mtoks(tokens, e["s"])
    a = next(iter(row["encoders"].values()))  # (a): tiktoken
    row["a_s"], row["a_cpu_s"], row["a_mtok_s"] = a["s"], a["cpu_s"], a["mtok_s"]
    row["tokens_per_conversation"] = tokens / max(1, row["rendered"])
    if "b_runs_s" in row:
        row["b_s"] = median(row["b_runs_s"])
        row["b_mtok_s"] = mtoks(row["b_tokens"], row["b_s"])
    row["c_s"] = median([r["wall_s"] for r in c_runs])
    row["c_render_files_s"] = median([r["render_files_s"] for r in c_runs])
    row["c_mtok_s"] = mtoks(tokens, row["c_s"])
    row["c_render_files_mtok_s"] = mtoks(tokens, row["c_render_files_s"])
    row["c_tokens_written"] = c_runs[0]["stats"]["tokens_written"]
    row["c_encoder"] = c_runs[0].get("encoder") or "?"
    row["c_cpu_main_s"] = median([r["cpu_main_s"] for r in c_runs])
    row["c_cpu_others_s"] = median([r["cpu_others_s"] for r in c_runs])
    row["c_cpu_s"] = median([r["cpu_main_s"] + r["cpu_others_s"] for r in c_runs])
    row["max_loadavg"] = max(r["loadavg_1min_after"] for r in c_runs)
    for key in ("peak_rss_main_mib", "peak_rss_max_worker_mib", "peak_rss_tree_sum_sampled_mib",
                "peak_pss_tree_sum_sampled_mib"):
        row[key] = max(r[key] for r in c_runs)
    row["c_over_a"] = row["c_mtok_s"] / row["a_mtok_s"]
    row["cpu_c_over_a"] = row["a_cpu_s"] / row["c_cpu_s"]  # tokens per CPU-second, same tokens
    c_walls = [r["wall_s"] for r in c_runs]
    # Within each repeat (everything of one repeat ran back to back), then the median: steadier
    # than the ratio of medians when the machine's speed drifts between repeats.
    row["paired_c_over_a"] = median([a / c for a, c in zip(a["runs_s"], c_walls)])
    if "b_mtok_s" in row:
        row["c_over_b"] = row["c_mtok_s"] / row["b_mtok_s"]
        row["cpu_c_over_b"] = (tokens / row["c_cpu_s"]) / (row["b_tokens"] / row["b_cpu_s"])
        row["paired_c_over_b"] = median([(tokens / c) / (row["b_tokens"] / b) for b, c in zip(row["b_runs_s"], c_walls)])
    return row


def print_head(head: str) -> None:
    print(head)
    print("-" * len(head))


def print_compare(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """One table per corpus, then the detail lines."""
    cores = len(os.sched_getaffinity(0))
    for corpus, rows in results.items():
        print(f"\n{corpus}: {cores} cores, datakit workers={args.workers or cores}; median of {args.repeat} "
              "run(s); M tok/s (wall clock) of the same rendered text")
        head = (f"{'template':<9}{'tokens':>12}{'tok/conv':>9}{'(a) tiktoken':>13}{'tokenizers':>11}{'fastokens':>10}"
                f"{'(b) HF':>8}{'(c) e2e':>9}{'(c) r_f':>9}{'c/a':>7}{'c/b':>7}{'c/a cpu':>9}{'c/b cpu':>9}"
                f"{'RSS main':>10}{'RSS wrk':>9}{'RSS tree':>10}{'PSS tree':>10}")
        print_head(head)
        for name, r in rows.items():
            rates = {n.split()[0]: e["mtok_s"] for n, e in r["encoders"].items()}
            other = [f"{rates[n]:.2f}" if n in rates else "-" for n in ("tokenizers", "fastokens")]
            b = f"{r['b_mtok_s']:.3f}" if "b_mtok_s" in r else "-"
            cb, cpu_cb = (f"{r[k]:.2f}x" if k in r else "-" for k in ("c_over_b", "cpu_c_over_b"))
            print(f"{name:<9}{r['tokens']:>12,}{r['tokens_per_conversation']:>9.0f}{r['a_mtok_s']:>13.2f}"
                  f"{other[0]:>11}{other[1]:>10}{b:>8}{r['c_mtok_s']:>9.2f}{r['c_render_files_mtok_s']:>9.2f}"
                  f"{r['c_over_a']:>6.2f}x{cb:>7}{r['cpu_c_over_a']:>8.2f}x{cpu_cb:>9}{r['peak_rss_main_mib']:>7.0f}MiB"
                  f"{r['peak_rss_max_worker_mib']:>6.0f}MiB{r['peak_rss_tree_sum_sampled_mib']:>7.0f}MiB"
                  f"{r['peak_pss_tree_sum_sampled_mib']:>7.0f}MiB")
        print()
        for name, r in rows.items():
            print_details(name, r)
        print("paired (median over repeats of the ratio within one repeat): " + "; ".join(
            f"{name} c/a {r['paired_c_over_a']:.2f}x" + (f", c/b {r['paired_c_over_b']:.2f}x" if "paired_c_over_b" in r else "")
            for name, r in rows.items()))
    print("c/a, c/b: wall-clock throughput ratios, a = tiktoken; 'cpu' columns: tokens per CPU-second ratios "
          "(less sensitive to other load)")
    print("targets: c/a >= 0.90 (issue 17), peak RSS < 1 GiB")


def print_details(name: str, r: dict[str, Any]) -> None:
    encoders = "; ".join(f"{n}: {e['s']:.2f}s/{e['cpu_s']:.1f} CPU-s, {e['threads']}, CPU by thread in run 1: "
                         f"{e.get('busy_threads') or '-'}" for n, e in r["encoders"].items())
    b = (f"(b) {r['b_s']:.1f}s/{r['b_cpu_s']:.1f} CPU-s for {r['b_conversations']} conv, {r['b_tokens']:,} tok, "
         f"HF check {r['b_check']}; " if "b_s" in r else "")
    print(f"{name}: {encoders}; {b}(c) {r['c_s']:.2f}s wall, {r['c_render_files_s']:.2f}s render_files, "
          f"{r['workers']} worker processes ({max(x['processes'] for x in r['c_runs'])} processes in the tree), "
          f"CPU main {r['c_cpu_main_s']:.1f}s + workers {r['c_cpu_others_s']:.1f}s, "
          f"tokens_written={r['c_tokens_written']:,}, encoder {r['c_encoder']}; max load {r['max_loadavg']:.1f}")
    print(f"{'':<{len(name)}}  {r['count_check']}")
