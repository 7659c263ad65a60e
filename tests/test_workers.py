"""Worker processes (`workers`): one object made here, forked workers that share it, order kept."""

from __future__ import annotations

import os
import sys

import pytest

from datakit import workers


class Probe:
    """Made once; answers with where it was made, whether it was ready, and where it ran."""

    def __init__(self, fail: bool = False):
        if fail:
            raise ValueError("no such template")
        self.made_in = os.getpid()
        self.was_ready = False

    def ready(self) -> None:
        self.was_ready = True

    def where(self, value: int) -> tuple[int, int, bool, int]:
        return value, self.made_in, self.was_ready, os.getpid()


def run(count: int, tasks: int) -> list[tuple[int, int, bool, int]]:
    pool = workers.Workers(Probe, (), count, (ValueError,))
    try:
        return list(pool.ordered("where", [(i,) for i in range(tasks)], window=2 * count))
    finally:
        pool.shutdown()


def test_a_job_of_one_task_runs_here_without_processes():
    assert run(2, 1) == [(0, os.getpid(), False, os.getpid())]


def test_one_worker_runs_every_task_here():
    assert {pid for *_, pid in run(1, 5)} == {os.getpid()}


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_forked_workers_share_the_object_made_here_once_it_is_ready():
    results = run(2, 40)
    assert [value for value, *_ in results] == list(range(40))  # in submission order
    assert {made for _, made, _, _ in results} == {os.getpid()}  # made once, here, before the fork
    assert all(ready for _, _, ready, _ in results)
    assert os.getpid() not in {pid for *_, pid in results}


def test_an_object_that_cannot_be_made_is_a_worker_error():
    with pytest.raises(workers.WorkerError, match="no such template"):
        workers.Workers(Probe, (True,), 2, (ValueError,))
    with pytest.raises(workers.WorkerError, match="a worker could not start: ValueError"):
        workers.Workers(Probe, (True,), 2, ())
