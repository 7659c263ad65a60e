"""Worker processes (`workers`): one object made here, forked workers that share it, the first
tasks prepared here while the object loads, order kept."""

from __future__ import annotations

import os
import sys

import pytest

from datakit import workers

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


class Probe:
    """Made once; says where it was made, whether it was ready, and where each half ran.
    It is `loading` for its first `loads` questions."""

    def __init__(self, loads: int = 0, fail: bool = False):
        if fail:
            raise ValueError("no such template")
        self.made_in = os.getpid()
        self.was_ready = False
        self.loads = loads

    def loaded(self) -> bool:
        self.loads -= 1
        return self.loads < 0

    def ready(self) -> None:
        self.was_ready = True

    def prepare(self, value: int) -> tuple[int, int]:
        return value, os.getpid()

    def finish(self, prepared: tuple[int, int]) -> dict:
        value, prepared_in = prepared
        return {"value": value, "made": self.made_in, "ready": self.was_ready, "prepared": prepared_in,
                "finished": os.getpid()}

    def process(self, value: int) -> dict:
        return self.finish(self.prepare(value))


def run(count: int, tasks: int, loads: int = 0) -> list[dict]:
    pool = workers.Workers(Probe, (loads,), count, (ValueError,))
    try:
        return list(pool.ordered([(i,) for i in range(tasks)], 2 * count, weigh=lambda task: 1 << 20))
    finally:
        pool.shutdown()


def test_a_job_of_one_task_runs_here_without_processes():
    here = os.getpid()
    assert run(2, 1) == [{"value": 0, "made": here, "ready": False, "prepared": here, "finished": here}]


def test_one_worker_runs_every_task_here():
    assert {r["finished"] for r in run(1, 5, loads=3)} == {os.getpid()}


@linux_only
def test_forked_workers_share_the_object_made_here_once_it_is_ready():
    results = run(2, 40)
    assert [r["value"] for r in results] == list(range(40))  # in submission order
    assert {r["made"] for r in results} == {os.getpid()}  # made once, here, before the fork
    assert all(r["ready"] for r in results)
    assert os.getpid() not in {r["finished"] for r in results}


@linux_only
def test_tasks_prepared_while_loading_are_finished_here_the_rest_by_the_workers():
    results = run(2, 40, loads=5)
    assert [r["value"] for r in results] == list(range(40))
    here = [r["value"] for r in results if r["prepared"] == r["finished"] == os.getpid()]
    assert here == [0, 1, 2, 3, 4]  # one prepared each time it was still loading
    assert os.getpid() not in {r["finished"] for r in results[5:]}


@linux_only
def test_no_more_than_eight_tasks_a_worker_are_prepared_here():
    results = run(2, 40, loads=1000)
    assert [r["value"] for r in results if r["finished"] == os.getpid()] == list(range(16))


@linux_only
def test_no_more_input_than_early_bytes_is_prepared_here(monkeypatch):
    monkeypatch.setattr(workers, "EARLY_BYTES", 3 << 20)  # three tasks' worth
    results = run(2, 40, loads=1000)
    assert [r["value"] for r in results if r["finished"] == os.getpid()] == [0, 1, 2]


def test_a_job_prepared_whole_while_loading_never_starts_processes():
    results = run(2, 3, loads=1000)
    assert [r["value"] for r in results] == [0, 1, 2]
    assert {r["finished"] for r in results} == {os.getpid()}


def test_an_object_that_cannot_be_made_is_a_worker_error():
    with pytest.raises(workers.WorkerError, match="no such template"):
        workers.Workers(Probe, (0, True), 2, (ValueError,))
    with pytest.raises(workers.WorkerError, match="a worker could not start: ValueError"):
        workers.Workers(Probe, (0, True), 2, ())
