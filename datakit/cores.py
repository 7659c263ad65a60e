"""How many CPU cores this process may really use: its CPU affinity, and its cgroup's CPU quota.

`os.cpu_count()` counts the machine's cores; a container or a `taskset` gives a process fewer.
More worker processes than usable cores only add memory (each holds a tokenizer) and switching,
so `datakit render` starts at most this many.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """min(CPU affinity, cgroup CPU quota), at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_quota(_read(Path("/proc/self/cgroup")), _read)
    return max(1, min(affinity, quota) if quota is not None else affinity)


def cgroup_quota(proc_cgroup: str | None, read) -> int | None:
    """Cores the cgroup quota allows (rounded up), or None when there is none.

    `proc_cgroup` is /proc/self/cgroup; `read(path)` gives a file's text or None. cgroup v2:
    `cpu.max` ("max 100000" or "QUOTA PERIOD"); v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us`
    (-1: none). Inside a container the cgroup's own directory is usually mounted at the root.
    """
    for line in (proc_cgroup or "").splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        relative = path.lstrip("/")
        if controllers == "":  # v2
            for directory in _candidates(CGROUP_ROOT, relative):
                limit = _v2_quota(read(directory / "cpu.max"))
                if limit is not None:
                    return limit
        elif "cpu" in controllers.split(","):
            for mount in (CGROUP_ROOT / controllers, CGROUP_ROOT / "cpu", CGROUP_ROOT / "cpu,cpuacct"):
                for directory in _candidates(mount, relative):
                    limit = _v1_quota(read(directory / "cpu.cfs_quota_us"), read(directory / "cpu.cfs_period_us"))
                    if limit is not None:
                        return limit
    return None


def _candidates(mount: Path, relative: str) -> list[Path]:
    return [mount / relative, mount] if relative else [mount]


def _v2_quota(text: str | None) -> int | None:
    parts = (text or "").split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return max(1, math.ceil(int(parts[0]) / int(parts[1])))
    except (ValueError, ZeroDivisionError):
        return None


def _v1_quota(quota: str | None, period: str | None) -> int | None:
    try:
        q, p = int((quota or "").strip()), int((period or "").strip())
    except ValueError:
        return None
    return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None
