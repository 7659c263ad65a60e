"""Worker processes (`workers`): one object made here, forked workers that share it, order kept."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from datakit import workers

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


class Probe:
    """Made once; says where it was made, whether it was ready, and where each task ran."""

    def __init__(self, fail: bool = False):
        if fail:
            raise ValueError("no such template")
        self.made_in = os.getpid()
        self.was_ready = False

    def ready(self) -> None:
        self.was_ready = True

    def process(self, value: int) -> dict:
        return {"value": value, "made": self.made_in, "ready": self.was_ready, "ran": os.getpid(),
                "frozen": gc.get_freeze_count()}


def run(count: int, tasks: int) -> list[dict]:
    pool = workers.Workers(Probe, (), count, (ValueError,))
    try:
        return list(pool.ordered([(i,) for i in range(tasks)], 2 * count))
    finally:
        pool.shutdown()


def test_a_job_of_one_task_runs_here_without_processes():
    here = os.getpid()
    assert run(2, 1) == [{"value": 0, "made": here, "ready": False, "ran": here, "frozen": 0}]


def test_one_worker_runs_every_task_here():
    assert {r["ran"] for r in run(1, 5)} == {os.getpid()}


@linux_only
def test_forked_workers_share_the_object_made_here_once_it_is_ready():
    results = run(2, 40)
    assert [r["value"] for r in results] == list(range(40))  # in submission order
    assert {r["made"] for r in results} == {os.getpid()}  # made once, here, before the fork
    assert all(r["ready"] for r in results)
    assert os.getpid() not in {r["ran"] for r in results}


@linux_only
def test_forked_workers_inherit_the_objects_alive_at_the_fork_frozen_and_this_process_does_not():
    results = run(2, 4)
    assert all(r["frozen"] > 0 for r in results)  # their collections leave inherited pages alone
    assert gc.get_freeze_count() == 0


def test_an_object_that_cannot_be_made_is_a_worker_error():
    with pytest.raises(workers.WorkerError, match="no such template"):
        workers.Workers(Probe, (True,), 2, (ValueError,))
    with pytest.raises(workers.WorkerError, match="a worker could not start: ValueError"):
        workers.Workers(Probe, (True,), 2, ())


_STOP_WHILE_SENDING = """
import threading, time
from datakit import workers

class Big:
    def ready(self):
        pass

    def process(self, mib):
        return b"y" * (mib << 20)

pool = workers.Workers(Big, (), 2, (ValueError,))
results = pool.ordered([(64,) for _ in range(200)], 4)
next(results)  # the processes are sending results now, one after another
started = time.perf_counter()
stopped = threading.Thread(target=pool.stop, daemon=True)
stopped.start()
stopped.join(20)
print("stopped" if not stopped.is_alive() else "hung", round(time.perf_counter() - started, 2))
"""


@linux_only
@pytest.mark.parametrize("attempt", range(3))
def test_stop_returns_though_a_process_was_killed_while_sending_a_result(attempt):
    # The pool's reader would wait for good for the rest of the result (Ctrl-C hung the render).
    done = subprocess.run([sys.executable, "-c", _STOP_WHILE_SENDING], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "stopped", done.stdout
