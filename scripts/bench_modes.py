"""The datakit-only modes of scripts/bench.py: --scaling, --huge-message, --engine ray, --profile.

Each runs `datakit render` through `bench_measure.run_datakit` (from a small parent, see
bench_launch.py) and reports its wall time and peak RSS; `--profile` runs `render_files` in
this process under cProfile instead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_compare import median, mtoks, print_head
from bench_corpus import Corpus, write_corpus, write_huge_message
from bench_measure import run_datakit

DEFAULT_SCALING_SIZES = {Corpus.LONG: (10000, 200000), Corpus.SHORT: (10000, 1000000)}
RSS_KEYS = ("peak_rss_main_mib", "peak_rss_max_worker_mib", "peak_rss_tree_sum_sampled_mib",
            "peak_pss_tree_sum_sampled_mib", "peak_rss_tree_max_wait4_mib")
WIDTHS = (9, 8, 9, 9, 9)


def measured(args: argparse.Namespace, corpus: Path, name: str, out: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """--repeat runs of one datakit render: median times, the largest RSS figures, every run."""
    runs = [run_datakit(corpus, name, args.workers, out, extra) for _ in range(args.repeat)]
    row = {"bytes": corpus.stat().st_size,
           "wall_s": median([r["wall_s"] for r in runs]),
           "render_files_s": median([r["render_files_s"] for r in runs]),
           **{k: runs[0]["stats"][k] for k in ("tokens_written", "rows_written", "truncated")},
           **{k: max(r[k] for r in runs) for k in RSS_KEYS},
           "runs": runs}
    row["mtok_s"] = mtoks(row["tokens_written"], row["wall_s"])
    return row


def scaling(args: argparse.Namespace, corpus_dir: Path, work: Path) -> dict[str, Any]:
    """Per corpus and template: each size's run, and its ratios to the first size."""
    results: dict[str, Any] = {}
    for kind in args.corpora:
        sizes = args.scaling_sizes or DEFAULT_SCALING_SIZES[kind]
        files = [write_corpus(corpus_dir, kind, n, args.seed) for n in sizes]
        results[kind] = {}
        for name in args.templates:
            rows = []
            for n, corpus in zip(sizes, files):
                row = {"conversations": n, **measured(args, corpus, name, work / f"scale-{name}")}
                first = rows[0] if rows else row
                row["time_ratio"] = row["wall_s"] / first["wall_s"]
                row["render_files_ratio"] = row["render_files_s"] / first["render_files_s"]
                row["rss_ratios"] = {k: row[k] / first[k] for k in RSS_KEYS}
                rows.append(row)
                print(f"# scaling {kind} {name} {n:,}: {row['wall_s']:.1f}s", file=sys.stderr)
            results[kind][name] = rows
    return results


def print_scaling(results: dict[str, Any], args: argparse.Namespace) -> None:
    for kind, templates in results.items():
        print(f"\ndatakit scaling, {kind} corpus: workers={args.workers or len(os.sched_getaffinity(0))}; "
              f"median time (largest RSS) of {args.repeat} run(s); ratios to the first size")
        head = (f"{'template':<9}{'conv':>10}{'MiB':>6}{'tokens':>13}{'wall':>8}{'r_f':>8}{'M tok/s':>8}"
                f"{'RSS main':>9}{'RSS wrk':>8}{'RSS tree':>9}{'PSS tree':>9}{'tree max':>9}"
                f"{'time x':>7}{'main x':>7}{'wrk x':>6}{'tree x':>7}{'PSS x':>6}")
        print_head(head)
        for name, rows in templates.items():
            for r in rows:
                ratio = r["rss_ratios"]
                print(f"{name:<9}{r['conversations']:>10,}{r['bytes'] / 2**20:>6.0f}{r['tokens_written']:>13,}"
                      f"{r['wall_s']:>7.1f}s{r['render_files_s']:>7.1f}s{r['mtok_s']:>8.2f}"
                      + "".join(f"{r[k]:>{w}.0f}" for k, w in zip(RSS_KEYS, WIDTHS))
                      + f"{r['time_ratio']:>7.1f}{ratio['peak_rss_main_mib']:>7.2f}"
                      f"{ratio['peak_rss_max_worker_mib']:>6.2f}{ratio['peak_rss_tree_sum_sampled_mib']:>7.2f}"
                      f"{ratio['peak_pss_tree_sum_sampled_mib']:>6.2f}")
    print("RSS in MiB: main = datakit's VmHWM; wrk = the largest worker's; tree = peak of the summed RSS of the tree "
          "(sampled every 0.1 s); PSS tree = the same of PSS (a page forked workers share counts once); "
          "tree max = the largest single-process peak (wait4 in the small launcher)")
    print("targets (issue 17): tree memory flat within 20% from 10k to 1M conversations, < 1 GiB")


def huge_message(args: argparse.Namespace, corpus_dir: Path, work: Path) -> dict[str, Any]:
    """Per size and template: one conversation whose assistant message has that many characters."""
    extra = ("--max-length", "16384", "--truncation", "right")
    results: dict[str, Any] = {}
    for chars in args.huge_message:
        corpus = write_huge_message(corpus_dir, chars, args.seed)
        results[str(chars)] = {name: measured(args, corpus, name, work / f"huge-{name}", extra)
                               for name in args.templates}
        for name, row in results[str(chars)].items():
            print(f"# huge {chars:,} {name}: {row['wall_s']:.1f}s", file=sys.stderr)
    return results


def print_huge(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\ndatakit render, one user message and one assistant message of N characters, --max-length 16384 "
          f"--truncation right; workers={args.workers or len(os.sched_getaffinity(0))}; median time "
          f"(largest RSS) of {args.repeat} run(s)")
    head = (f"{'characters':>12}  {'template':<9}{'MiB':>5}{'tokens':>8}{'wall':>8}{'r_f':>8}"
            f"{'RSS main':>9}{'RSS wrk':>8}{'RSS tree':>9}{'PSS tree':>9}{'tree max':>9}")
    print_head(head)
    for chars, templates in results.items():
        for name, r in templates.items():
            print(f"{int(chars):>12,}  {name:<9}{r['bytes'] / 2**20:>5.0f}{r['tokens_written']:>8,}"
                  f"{r['wall_s']:>7.2f}s{r['render_files_s']:>7.2f}s"
                  + "".join(f"{r[k]:>{w}.0f}" for k, w in zip(RSS_KEYS, WIDTHS)))
    print("RSS in MiB, as in --scaling; targets (issue 17): 50M characters in < 2 s and < 400 MB")


def read_rate(corpus: Path) -> tuple[float, int]:
    """Seconds and records of one Ray read task's work (datakit's reader into Arrow blocks), in process."""
    from datakit.ray.read import read_file_blocks

    started, records = time.perf_counter(), 0
    for block in read_file_blocks(str(corpus), 0, 64 << 20, 1024):
        records += block.num_rows
    return time.perf_counter() - started, records - 1


def ray_compare(args: argparse.Namespace, corpus: Path, work: Path) -> dict[str, Any]:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cores = len(os.sched_getaffinity(0))
    subprocess.run([ray_cli, "start", "--head", f"--num-cpus={cores}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    results: dict[str, Any] = {}
    try:
        for name in args.templates:
            runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
            for rep in range(args.repeat):  # interleaved, as in compare mode
                runs["local"].append(run_datakit(corpus, name, args.workers, work / f"out-{name}"))
                runs["ray"].append(run_datakit(corpus, name, args.workers, work / f"out-{name}",
                                               ("--engine", "ray", "--ray-address", "auto")))
                print(f"#   {name} run {rep + 1}: local {runs['local'][-1]['wall_s']:.2f}s  "
                      f"ray {runs['ray'][-1]['wall_s']:.2f}s", file=sys.stderr)
            tokens = runs["local"][0]["stats"]["tokens_written"]
            row: dict[str, Any] = {"tokens": tokens, "runs": runs}
            for engine, engine_runs in runs.items():
                row[f"{engine}_s"] = median([r["wall_s"] for r in engine_runs])
                row[f"{engine}_render_files_s"] = median([r["render_files_s"] for r in engine_runs])
                row[f"{engine}_mtok_s"] = mtoks(tokens, row[f"{engine}_s"])
                row[f"{engine}_driver_cpu_s"] = median([r["cpu_main_s"] for r in engine_runs])
            row["ray_over_local"] = row["ray_mtok_s"] / row["local_mtok_s"]
            row["ray_mtok_s_per_core"] = row["ray_mtok_s"] / cores
            row["ray_driver_mtok_per_cpu_s"] = mtoks(tokens, row["ray_driver_cpu_s"])
            results[name] = row
    finally:
        subprocess.run([ray_cli, "stop"], check=False, capture_output=True)
    seconds, records = read_rate(corpus)
    results["read"] = {"seconds": seconds, "records": records, "mib_s": corpus.stat().st_size / 2**20 / seconds,
                       "records_s": records / seconds}
    return results


def print_ray(results: dict[str, Any], args: argparse.Namespace) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"\ndatakit --engine ray vs local: {args.corpus_desc}; {cores} cores; a Ray runtime started once "
          f"(`ray start --head`, joined with --ray-address auto); median of {args.repeat}; M tok/s, wall clock")
    head = (f"{'template':<9}{'tokens':>12}{'local':>8}{'ray':>8}{'ray/local':>10}{'ray/core':>9}"
            f"{'r_f local':>10}{'r_f ray':>9}{'driver CPU':>11}{'driver tok/CPU-s':>17}")
    print_head(head)
    for name, r in results.items():
        if name == "read":
            continue
        print(f"{name:<9}{r['tokens']:>12,}{r['local_mtok_s']:>8.2f}{r['ray_mtok_s']:>8.2f}{r['ray_over_local']:>9.2f}x"
              f"{r['ray_mtok_s_per_core']:>9.2f}{r['local_render_files_s']:>9.1f}s{r['ray_render_files_s']:>8.1f}s"
              f"{r['ray_driver_cpu_s']:>10.1f}s{r['ray_driver_mtok_per_cpu_s']:>16.1f}M")
    read = results["read"]
    print(f"one read task (datakit's reader into Arrow blocks, one core): {read['mib_s']:.0f} MiB/s, "
          f"{read['records_s']:,.0f} records/s")


def profile(args: argparse.Namespace, corpus: Path, work: Path) -> None:
    from datakit.pipeline import RenderOptions, render_files

    sub = work / f"profile-{args.profile}.jsonl"
    with open(corpus, "rb") as src, open(sub, "wb") as dst:
        for i, line in enumerate(src):
            if i >= args.profile:
                break
            dst.write(line)
    for name in args.templates:
        options = RenderOptions(template=name, workers=1)
        render_files([sub], work / "profile-out", options, overwrite=True)  # warm up (imports, caches)
        profiler = cProfile.Profile()
        profiler.enable()
        result = render_files([sub], work / "profile-out", options, overwrite=True)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        print(f"\n### profile {name}: {args.profile} conversations, {result.stats['tokens_written']:,} "
              f"tokens, {result.seconds:.2f}s (under cProfile)")
        stats.sort_stats("tottime").print_stats(args.profile_top)
        stats.sort_stats("cumulative").print_stats(args.profile_top)
        print(out.getvalue())
        shutil.rmtree(work / "profile-out", ignore_errors=True)
