"""A small parent for a measured command: runs it, samples its process tree's memory, reports.

    python bench_launch.py REPORT.json COMMAND...

Linux carries a process's RSS high-water mark into `ru_maxrss` across fork+exec, so a command
started by the (large) benchmark process would report the benchmark's memory as its own. This
launcher imports only the standard library, so the command starts from a process of a few MiB.
It writes REPORT.json: wall seconds, exit status, the child's rusage from `wait4` (the largest
single-process peak RSS in the tree, and CPU seconds of the tree), and from `/proc` every 0.1 s
the summed RSS of the tree, its summed PSS and each process's VmHWM (`hwm_kib`, the root first).
Forked workers share the pages of the tokenizer their parent loaded, and RSS counts a shared
page in every process that maps it; PSS divides it among them, so the summed PSS is the memory
the tree takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time


def _children(pid: int) -> list[int]:
    try:
        out = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        return out
    except OSError:
        return []


def _rss_hwm_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of a process, in KiB (0, 0 when it is gone)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


def _pss_kib(pid: int) -> int:
    """Proportional set size of a process, in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples every `interval` s the summed RSS and PSS of a process tree and each process's VmHWM."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_sum_kib = 0
        self.peak_pss_kib = 0
        self.hwm_kib: dict[int, int] = {pid: 0}
        self.max_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                pids.append(p)
                todo += _children(p)
            total = pss = 0
            for p in pids:
                rss, hwm = _rss_hwm_kib(p)
                total += rss
                pss += _pss_kib(p)
                self.hwm_kib[p] = max(self.hwm_kib.get(p, 0), hwm)
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self.max_procs = max(self.max_procs, len(pids))
            self.stop.wait(self.interval)


def main() -> None:
    report_path, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    report = {
        "wall_s": wall,
        "returncode": os.waitstatus_to_exitcode(status),
        "maxrss_tree_max_kib": usage.ru_maxrss,
        "cpu_tree_s": usage.ru_utime + usage.ru_stime,
        "peak_sum_kib": sampler.peak_sum_kib,
        "peak_pss_kib": sampler.peak_pss_kib,
        "hwm_kib": list(sampler.hwm_kib.values()),
        "max_procs": sampler.max_procs,
    }
    proc.returncode = report["returncode"]  # reaped by wait4 above
    with open(report_path, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
