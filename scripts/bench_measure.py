"""Run `datakit render` as scripts/bench.py measures it: from a small parent, timed, its memory sampled.

`run_datakit` starts `bench_launch.py` (a few MiB, standard library only), which starts
`datakit render ...` through `_WRAPPER`: the console script's `datakit.launch:main`, with
`render_files` timed and the process's own VmHWM, CPU and stats written to a report file.
See scripts/README.md for what each figure means.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

LAUNCHER = Path(__file__).resolve().with_name("bench_launch.py")
ENV_AT_START = dict(os.environ)  # the children get the environment the user gave us

# Runs `datakit render ...` exactly as the console script does (datakit.launch:main), and also
# records the time spent in render_files, this process's peak RSS and CPU, and the stats
# into $DATAKIT_BENCH_REPORT.
_WRAPPER = r"""
import atexit, json, os, resource, sys, time
_report = {"start": time.time()}
def _write():
    # VmHWM, not RUSAGE_SELF: Linux carries the parent's high-water mark across fork+exec
    # into ru_maxrss (bench_launch keeps that parent small, but VmHWM needs no such care).
    with open("/proc/self/status") as f:
        _report["hwm_self_kib"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    _report["maxrss_children_kib"] = kids.ru_maxrss
    _report["cpu_self_s"] = me.ru_utime + me.ru_stime
    _report["cpu_children_s"] = kids.ru_utime + kids.ru_stime
    with open(os.environ["DATAKIT_BENCH_REPORT"], "w") as f:
        json.dump(_report, f)
atexit.register(_write)
from datakit.launch import start_render_tokenizer
_started = start_render_tokenizer(sys.argv[1:])
import datakit.cli as _cli
_inner = _cli.render_files
def _timed(*args, **kwargs):
    t = time.perf_counter()
    result = _inner(*args, **kwargs)
    _report["render_files_s"] = time.perf_counter() - t
    s = result.stats
    _report["stats"] = {k: s.get(k) for k in ("lines_read", "rows_written", "rejected",
                                              "tokens_written", "truncated")}
    _report["encoder"] = result.manifest.get("tokenizer", {}).get("encoder")
    return result
_cli.render_files = _timed
sys.argv[0] = "datakit"
_cli.main(obj=_started)
"""


def _mib(kib: float) -> float:
    return kib / 1024


def run_datakit(corpus: Path, template: str, workers: int | None, out_dir: Path,
                extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `datakit render` subprocess: wall time, render_files time, CPU and peak RSS figures."""
    wrapper_file = out_dir.with_name(out_dir.name + ".report.json")
    launch_file = out_dir.with_name(out_dir.name + ".launch.json")
    for f in (wrapper_file, launch_file):
        f.unlink(missing_ok=True)
    env = dict(ENV_AT_START, DATAKIT_BENCH_REPORT=str(wrapper_file))
    cmd = [sys.executable, "-c", _WRAPPER, "render", str(corpus), "-o", str(out_dir),
           "--template", template, "--overwrite", "-q", *extra]
    if workers:
        cmd += ["--workers", str(workers)]
    with tempfile.TemporaryFile() as stderr:
        subprocess.run([sys.executable, str(LAUNCHER), str(launch_file), *cmd], env=env,
                       stdout=subprocess.DEVNULL, stderr=stderr, check=False)
        launch = json.loads(launch_file.read_text()) if launch_file.is_file() else {"returncode": "?"}
        if launch["returncode"] != 0:
            stderr.seek(0)
            raise RuntimeError(f"datakit render failed ({launch['returncode']}): "
                               f"{stderr.read().decode(errors='replace')[-3000:]}")
    report = json.loads(wrapper_file.read_text())
    for f in (wrapper_file, launch_file):
        f.unlink()
    shutil.rmtree(out_dir, ignore_errors=True)
    main_hwm, *others = launch["hwm_kib"]
    return {
        "wall_s": launch["wall_s"],
        "render_files_s": report.get("render_files_s"),
        "stats": report.get("stats"),
        "encoder": report.get("encoder"),
        "peak_rss_main_mib": _mib(max(main_hwm, report["hwm_self_kib"])),
        "peak_rss_max_worker_mib": _mib(max([0, *others])),  # sampled VmHWM of main's descendants
        "peak_rss_tree_sum_sampled_mib": _mib(launch["peak_sum_kib"]),
        "peak_pss_tree_sum_sampled_mib": _mib(launch["peak_pss_kib"]),
        "peak_rss_tree_max_wait4_mib": _mib(launch["maxrss_tree_max_kib"]),
        "peak_hwm_sampled_mib": sorted((_mib(v) for v in launch["hwm_kib"]), reverse=True),
        "processes": launch["max_procs"],
        # CPU seconds (user + system): main process, and its children (workers, resource tracker).
        "cpu_main_s": report["cpu_self_s"],
        "cpu_others_s": report["cpu_children_s"],
        "loadavg_1min_after": os.getloadavg()[0],
    }
