"""Crash safety: SIGKILL or Ctrl-C at any moment, one writer at a time, overwrite, determinism.

A render stages its output beside OUT and commits it with one rename, so after a kill at any
moment OUT is the old output or the new one, complete and byte-exact (or, when there was none,
absent), `datakit check` and `datasets.load_from_disk` agree on it, and the next run cleans
what the killed one left. A second run into the same OUT is refused while the first writes. An
existing output is only replaced with --overwrite, and a failed replacement leaves it intact.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

import datakit.split.write as split_write
import datakit.write as write
from datakit.check import check_output
from datakit.pipeline import PipelineError, RenderOptions, render_files
from datakit.split import plan_split
from datakit.write import OutputError

CLI = [sys.executable, "-c", "from datakit.launch import main; main()"]  # the console script
SHARD_MB = 1
KILL_OPTIONS = RenderOptions(workers=1, shard_bytes=SHARD_MB << 20)
COMMIT_OPTIONS = RenderOptions(workers=1)


def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=120, **kwargs)


def make_corpus(path: Path, n: int, seed: int = 1) -> Path:
    rnd = random.Random(seed)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            messages = [{"role": "system", "content": "You are helpful."}]
            for _ in range(3):
                messages.append({"role": "user", "content": " ".join(rnd.choices(words, k=40)) + f" {i}"})
                messages.append({"role": "assistant", "content": " ".join(rnd.choices(words, k=60))})
            f.write(json.dumps({"messages": messages}) + "\n")
            if i % 97 == 5:
                f.write('{"messages": [}\n\n')  # a reject and a blank line, so those files are not empty
    return path


def tree(directory: Path) -> dict[str, str]:
    """Relative path -> sha256 (or 'dir') of everything under `directory`, hidden files included."""
    out = {}
    for p in sorted(directory.rglob("*")):
        rel = str(p.relative_to(directory))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def beside(out: Path) -> list[str]:
    """What datakit keeps beside OUT while it writes: the lock file, staging and backup directories."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.datakit-*"))


def stray_files(out: Path) -> list[str]:
    inside = [str(p.relative_to(out)) for p in out.rglob("*") if p.name.endswith(".tmp") or "datakit" in p.name]
    return sorted(inside) + beside(out)


def hf_rows(out: Path) -> int | None:
    """How many rows `datasets.load_from_disk` serves from `out`, or None if it does not open it."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(out))
    except Exception:
        return None
    return sum(len(split) for split in loaded.values()) if isinstance(loaded, datasets.DatasetDict) else len(loaded)


def assert_check_and_datasets_agree(out: Path) -> None:
    report = check_output(out)
    rows = hf_rows(out) if out.exists() else None
    assert report.ok == (rows is not None), (report.errors, rows)
    assert not report.ok or rows == report.rows


def data_files(out: Path) -> dict[str, str]:
    """Everything a render produces that must be reproducible: all files but the manifest's time."""
    files = {k: v for k, v in tree(out).items() if k != "manifest.json"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("created", None)
    files["manifest.json (without created)"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    # 3.8 MB: four batches (`batches`), so several shards and work for two workers.
    return make_corpus(tmp_path_factory.mktemp("corpus") / "chats.jsonl", 2000)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus) -> Path:
    """An uninterrupted in-process render of the corpus (several 1 MiB shards)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    render_files([corpus], out, KILL_OPTIONS)
    assert len(list((out / "train").glob("data-*.arrow"))) >= 3
    return out


# -- SIGKILL while a render stages its output ---------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def _staging(out: Path) -> Path | None:
    found = list(out.parent.glob(f".{out.name}.datakit-staging-*"))
    return found[0] if found else None


def _staged_shards(out: Path) -> int:
    staging = _staging(out)
    return len(list((staging / "train").glob("data-*.arrow"))) if staging else 0


# (label, the state to wait for before the kill, given the reference's shard count): observable
# moments, so the test means the same on a fast or a slow machine.
KILL_POINTS = [
    ("staging created", lambda out, n: _staging(out) is not None),
    ("first shard open", lambda out, n: any(out.parent.glob(f".{out.name}.datakit-staging-*/train/*.tmp"))),
    ("first shard staged", lambda out, n: _staged_shards(out) >= 1),
    ("half the shards staged", lambda out, n: _staged_shards(out) >= n // 2),
    ("all but the last shard staged", lambda out, n: _staged_shards(out) >= n - 1),
    ("moment the output lands", lambda out, n: (out / "manifest.json").exists()),
]


@pytest.mark.slow
def test_sigkill_while_staging_leaves_no_output_and_the_next_run_cleans_up(tmp_path, corpus, reference):
    results = []
    shards = len(list((reference / "train").glob("data-*.arrow")))
    for i, (label, when) in enumerate(KILL_POINTS):
        out = tmp_path / f"run{i}" / "out"
        out.parent.mkdir()
        proc = subprocess.Popen([*CLI, "render", str(corpus), "-o", str(out), "--workers", "1",
                                 "--shard-mb", str(SHARD_MB), "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: when(out, shards) or proc.poll() is not None, 120)
            finished_first = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stderr.close()
        state = "complete" if out.exists() else "absent"
        assert_check_and_datasets_agree(out)
        if state == "absent":
            assert _staging(out) is not None or label == "moment the output lands"
            check = run_cli("check", out)
            assert check.returncode == 1 and "no such directory" in check.stderr and "Traceback" not in check.stderr
            render_files([corpus], out, KILL_OPTIONS)  # the killed run's staging is removed
        else:
            assert data_files(out) == data_files(reference)
            with pytest.raises(OutputError, match="--overwrite"):
                render_files([corpus], out, KILL_OPTIONS)  # a complete output is never silently replaced
            render_files([corpus], out, KILL_OPTIONS, overwrite=True)
        report = check_output(out)
        assert report.ok and not report.warnings, (report.errors, report.warnings)
        assert stray_files(out) == [] and sorted(os.listdir(out.parent)) == ["out"]
        assert data_files(out) == data_files(reference)
        results.append((label, "exited before the kill" if finished_first else state))
    print("\nkill results:", results)
    # Every kill before the output landed found a render still running, and left no OUT.
    assert [state for _, state in results[:-1]] == ["absent"] * (len(KILL_POINTS) - 1)


# -- SIGKILL or Ctrl-C at every step of the commit ----------------------------------------------


RENDER_COMMIT_CALLS = ("rename", "replace", "unlink", "rmdir")


def _arm(step: int, action: str, no_exchange: bool, log: list[str], during: tuple[object, str],
         calls: tuple[str, ...]) -> None:
    """In a forked child: count the filesystem changes (the `os` functions `calls`, and the
    exchange) the function `during` (owner, name) makes, and just before the `step`-th one die
    (SIGKILL) or raise KeyboardInterrupt (Ctrl-C); with `no_exchange`, the kernel is made to
    lack RENAME_EXCHANGE, so the backup fallback runs."""
    active = [False]

    def at_step(what: str) -> None:
        if active[0]:
            log.append(what)
            if len(log) == step:
                if action == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise KeyboardInterrupt

    def counted(name):
        real = getattr(os, name)

        def call(*args, **kwargs):
            at_step(f"{name} {' -> '.join(Path(str(a)).name for a in args)}")
            return real(*args, **kwargs)
        return call

    for name in calls:
        setattr(os, name, counted(name))
    try:
        import datakit.commit as commit
    except ImportError:  # the code before the one-rename commit had no exchange
        commit = None
    if commit is not None:
        real_exchange = commit.rename_exchange

        def exchange(a, b):
            at_step(f"exchange {Path(a).name} <-> {Path(b).name}")
            if no_exchange:
                raise OSError(errno.ENOSYS, "Function not implemented")
            return real_exchange(a, b)
        commit.rename_exchange = exchange
    owner, attribute = during
    real_function = getattr(owner, attribute)

    def counting(*args, **kwargs):
        active[0] = True
        try:
            return real_function(*args, **kwargs)
        finally:
            active[0] = False
    setattr(owner, attribute, counting)


def stopped_at(step: int, action: str, no_exchange: bool, run, during: tuple[object, str],
               calls: tuple[str, ...] = RENDER_COMMIT_CALLS) -> tuple[str, list[str]]:
    """`run()` in a forked child stopped at step `step` (0: never) of `during` (see `_arm`); how
    it ended, and the steps seen."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        log: list[str] = []
        try:
            os.close(read)
            _arm(step, action, no_exchange, log, during, calls)
            run()
        except KeyboardInterrupt:
            code = 3
        except BaseException:
            traceback.print_exc()
            code = 4
        finally:
            os.write(write_end, json.dumps(log).encode())
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read, "rb") as pipe:
        steps = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return "killed", []
    code = os.WEXITSTATUS(status)
    assert code in (0, 3), f"the run failed (exit {code})"
    return ("interrupted" if code == 3 else "finished"), json.loads(steps)


def render_stopped_at(step: int, action: str, no_exchange: bool, corpus: Path, out: Path,
                      overwrite: bool) -> tuple[str, list[str]]:
    """A render stopped at step `step` of its commit (`OutputWriter.commit`)."""
    return stopped_at(step, action, no_exchange,
                      lambda: render_files([corpus], out, COMMIT_OPTIONS, overwrite=overwrite),
                      (write.OutputWriter, "commit"))


@pytest.fixture(scope="module")
def commit_inputs(tmp_path_factory) -> dict[str, Path]:
    """An old output and the new input that replaces it, and an uninterrupted render of that input."""
    root = tmp_path_factory.mktemp("commit")
    inputs = {"old": make_corpus(root / "old.jsonl", 6, seed=2), "new": make_corpus(root / "new.jsonl", 9, seed=3)}
    render_files([inputs["old"]], root / "old-out", COMMIT_OPTIONS)
    render_files([inputs["new"]], root / "new-out", COMMIT_OPTIONS)
    return {**inputs, "old-out": root / "old-out", "new-out": root / "new-out"}


def _outcome(out: Path, old_tree: dict[str, str] | None, new_files: dict[str, str]) -> str:
    if not os.path.lexists(out):
        return "absent"
    if (out / "manifest.json").is_file():
        if old_tree is not None and tree(out) == old_tree:
            return "old"
        if data_files(out) == new_files:
            return "new"
    return f"neither old nor new: {sorted(tree(out))}"


@pytest.mark.slow
@pytest.mark.parametrize("action", ["kill", "interrupt"])
@pytest.mark.parametrize("scenario", ["new output", "--overwrite", "--overwrite, no RENAME_EXCHANGE"])
def test_a_stop_at_every_step_of_the_commit_leaves_the_old_or_the_new_output(tmp_path, commit_inputs,
                                                                              scenario, action):
    overwrite = scenario != "new output"
    no_exchange = "no RENAME_EXCHANGE" in scenario
    old_tree = tree(commit_inputs["old-out"]) if overwrite else None
    new_files = data_files(commit_inputs["new-out"])

    def fresh_out(name: str) -> Path:
        out = tmp_path / name / "out"
        out.parent.mkdir()
        if overwrite:
            shutil.copytree(commit_inputs["old-out"], out)
        return out

    _, steps = render_stopped_at(0, action, no_exchange, commit_inputs["new"], fresh_out("count"), overwrite)
    assert steps, "the commit changed nothing on disk"
    outcomes = []
    for step in range(1, len(steps) + 1):
        out = fresh_out(f"step{step}")
        ended, _ = render_stopped_at(step, action, no_exchange, commit_inputs["new"], out, overwrite)
        assert ended == ("killed" if action == "kill" else "interrupted")
        outcome = _outcome(out, old_tree, new_files)
        outcomes.append(outcome)
        where = f"stopped before step {step} ({steps[step - 1]}) of {steps}"
        allowed = {"old", "new"} if overwrite else {"absent", "new"}
        restorable = outcome == "absent" and no_exchange and action == "kill" \
            and any("-old-" in name for name in beside(out))
        assert outcome in allowed or restorable, f"{where}: {outcome}"
        assert_check_and_datasets_agree(out)

        # The next run: a complete output is refused without --overwrite, then replaced; a
        # backup the killed run moved aside is put back first.
        if out.exists() or restorable:
            with pytest.raises(OutputError, match="--overwrite"):
                render_files([commit_inputs["new"]], out, COMMIT_OPTIONS)
            if restorable:
                assert tree(out) == old_tree, f"{where}: the backup was not put back as it was"
        render_files([commit_inputs["new"]], out, COMMIT_OPTIONS, overwrite=out.exists())
        report = check_output(out)
        assert report.ok and not report.warnings, (where, report.errors, report.warnings)
        assert data_files(out) == new_files and stray_files(out) == [], where
        assert sorted(os.listdir(out.parent)) == ["out"], where
    print(f"\n{scenario}, {action}: " + ", ".join(f"{s}: {o}" for s, o in zip(steps, outcomes)))
    # One commit point: the old output (or none) up to it, the new one from it on.
    first_new = outcomes.index("new") if "new" in outcomes else len(outcomes)
    assert set(outcomes[first_new:]) == {"new"}, outcomes
    assert "new" in outcomes and first_new > 0, outcomes


# -- SIGKILL or Ctrl-C at every step of a split's write and commit ------------------------------

SPLIT_CALLS = ("mkdir", "fsync", "rename", "replace", "unlink", "rmdir")


def _split_to(source: Path, out: Path, overwrite: bool) -> None:
    split_write.write_split([source], out, plan_split([source], test_size=3), overwrite=overwrite)


def _split_outcome(out: Path, old_tree: dict[str, str] | None, new_tree: dict[str, str]) -> str:
    if not os.path.lexists(out):
        return "absent"
    found = tree(out)
    return "old" if found == old_tree else "new" if found == new_tree else f"neither old nor new: {sorted(found)}"


@pytest.mark.slow
@pytest.mark.parametrize("action", ["kill", "interrupt"])
@pytest.mark.parametrize("scenario", ["new split", "--overwrite", "--overwrite, no RENAME_EXCHANGE",
                                      "--overwrite of a pair without a manifest"])
def test_a_stop_at_every_step_of_a_split_leaves_the_old_or_the_new_pair(tmp_path, scenario, action):
    """DIR/train.jsonl and DIR/test.jsonl change together: after a stop anywhere in the split's
    write and commit, DIR holds the old pair (or none) or the new one, never one of each."""
    overwrite = scenario != "new split"
    no_exchange = "no RENAME_EXCHANGE" in scenario
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    old_source, source = make_corpus(inputs / "old.jsonl", 12, seed=2), make_corpus(inputs / "new.jsonl", 15, seed=3)
    old_out, new_out = tmp_path / "old" / "out", tmp_path / "new" / "out"
    _split_to(old_source, old_out, False)
    if "without a manifest" in scenario:  # what datakit 0.1.0 wrote
        (old_out / "manifest.json").unlink()
    _split_to(source, new_out, False)
    old_tree = tree(old_out) if overwrite else None
    new_tree = tree(new_out)

    def fresh_out(name: str) -> Path:
        out = tmp_path / name / "out"
        out.parent.mkdir()
        if overwrite:
            shutil.copytree(old_out, out)
        return out

    during = (split_write, "write_split")
    _, steps = stopped_at(0, action, no_exchange, lambda: _split_to(source, fresh_out("count"), overwrite), during,
                          SPLIT_CALLS)
    assert any(step.startswith("exchange" if overwrite and not no_exchange else "rename") for step in steps), steps
    outcomes = []
    for step in range(1, len(steps) + 1):
        out = fresh_out(f"step{step}")
        ended, _ = stopped_at(step, action, no_exchange, lambda: _split_to(source, out, overwrite), during,
                              SPLIT_CALLS)
        assert ended == ("killed" if action == "kill" else "interrupted")
        outcome = _split_outcome(out, old_tree, new_tree)
        outcomes.append(outcome)
        where = f"stopped before step {step} ({steps[step - 1]}) of {steps}"
        restorable = outcome == "absent" and no_exchange and action == "kill" \
            and any("-old-" in name for name in beside(out))
        assert outcome in ({"old", "new"} if overwrite else {"absent", "new"}) or restorable, f"{where}: {outcome}"

        # The next run puts back a pair the killed run moved aside, refuses to replace a pair
        # without --overwrite, replaces it with it, and leaves nothing beside DIR.
        if out.exists() or restorable:
            with pytest.raises(OutputError, match="--overwrite"):
                _split_to(source, out, False)
            assert _split_outcome(out, old_tree, new_tree) == ("old" if restorable else outcome), where
        _split_to(source, out, out.exists())
        assert tree(out) == new_tree, where
        assert sorted(os.listdir(out.parent)) == ["out"], where
    print(f"\n{scenario}, {action}: " + ", ".join(f"{s}: {o}" for s, o in zip(steps, outcomes)))
    first_new = outcomes.index("new") if "new" in outcomes else len(outcomes)
    assert set(outcomes[first_new:]) == {"new"}, outcomes  # one commit point
    assert "new" in outcomes and first_new > 0, outcomes


# -- one writer at a time -------------------------------------------------------------------------

# Renders as the CLI does, but waits at the start of the commit until GO exists (after touching
# READY), so a second render can be started at a known moment of the first.
PAUSED_RENDER = r"""
import sys, time
from pathlib import Path
import datakit.split.write as split_write
import datakit.write as write
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
real_commit = write.OutputWriter.commit
def commit(self, *args, **kwargs):
    ready.touch()
    while not go.exists():
        time.sleep(0.005)
    return real_commit(self, *args, **kwargs)
write.OutputWriter.commit = commit
sys.argv = ["datakit", *sys.argv[3:]]
from datakit.cli import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_second_render_into_the_same_output_is_refused_while_the_first_writes(tmp_path, overwrite):
    first_input = make_corpus(tmp_path / "first.jsonl", 12, seed=4)
    second_input = make_corpus(tmp_path / "second.jsonl", 7, seed=6)
    out = tmp_path / "w" / "out"
    flags = ["--overwrite"] if overwrite else []
    if overwrite:
        render_files([make_corpus(tmp_path / "old.jsonl", 5, seed=8)], out, COMMIT_OPTIONS)
    script, ready, go = tmp_path / "paused.py", tmp_path / "ready", tmp_path / "go"
    script.write_text(PAUSED_RENDER)
    first = subprocess.Popen([sys.executable, str(script), str(ready), str(go), "render", str(first_input),
                              "-o", str(out), "--workers", "1", "-q", *flags],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: ready.exists() or first.poll() is not None, 120) and first.poll() is None
        second = run_cli("render", second_input, "-o", out, "--workers", "1", *flags)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert second.stderr.strip() == f"Error: another datakit run is writing {out} (pid {first.pid})"
        go.touch()
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, stderr
    report = check_output(out)
    assert report.ok and report.rows == 12 and not report.warnings, (report.errors, report.warnings)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [i["path"] for i in manifest["inputs"]] == [str(first_input)]
    assert stray_files(out) == []


def _worker_processes(pid: int) -> list[int]:
    """The render's worker processes: forked (the parent's command line) or spawned."""
    own = Path(f"/proc/{pid}/cmdline").read_bytes()
    workers = []
    for kid in _children(pid):
        try:
            command = Path(f"/proc/{kid}/cmdline").read_bytes()
        except OSError:
            continue
        if command == own or b"spawn_main" in command:
            workers.append(kid)
    return workers


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_worker_processes_die_with_a_killed_parent(tmp_path, corpus):
    out = tmp_path / "out"
    proc = subprocess.Popen([*CLI, "render", str(corpus), "-o", str(out), "--workers", "2",
                             "--shard-mb", str(SHARD_MB), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        started = _wait_for(lambda: proc.poll() is not None
                            or (_staging(out) is not None and len(_worker_processes(proc.pid)) >= 2), 60)
        assert started and proc.poll() is None, "the render ended before its workers could be seen"
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait_for(lambda: not any(_running(k) for k in workers), 2)
        assert [k for k in workers if _running(k)] == [], "processes left running 2 s after their parent died"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for kid in workers:  # only the processes this render started
            if _running(kid):
                os.kill(kid, signal.SIGKILL)
    assert not out.exists()
    assert_check_and_datasets_agree(out)


# -- overwriting ------------------------------------------------------------------------------


def test_existing_output_is_refused_then_replaced_atomically(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    old_input = make_corpus(tmp_path / "old.jsonl", 20)
    new_input = make_corpus(tmp_path / "new.jsonl", 30, seed=5)
    out = work / "out"
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    before = {k: v for k, v in tree(tmp_path).items() if not k.startswith("work/out")}

    render_files([old_input], out, RenderOptions(workers=1))
    old_tree = tree(out)
    assert check_output(out).ok

    refused = run_cli("render", new_input, "-o", out, "--workers", "1", env=env)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert tree(out) == old_tree

    # --overwrite, but the new render fails (a row too long under --truncation error): old output intact.
    failed = run_cli("render", new_input, "-o", out, "--workers", "1", "--overwrite",
                     "--truncation", "error", "--max-length", "64", env=env)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "--truncation error" in errors[0], failed.stderr
    assert tree(out) == old_tree and check_output(out).ok

    replaced = run_cli("render", new_input, "-o", out, "--workers", "1", "--overwrite", env=env)
    assert replaced.returncode == 0, replaced.stderr
    report = check_output(out)
    assert report.ok and report.rows == 30 and not report.warnings and stray_files(out) == []

    after = {k: v for k, v in tree(tmp_path).items() if not k.startswith("work/out")}
    assert after == before, "something was written outside the output directory"
    assert list(scratch.iterdir()) == []


def test_render_failure_before_any_output_leaves_the_old_output_via_api(tmp_path):
    old = make_corpus(tmp_path / "old.jsonl", 10)
    out = tmp_path / "out"
    render_files([old], out, RenderOptions(workers=1))
    old_tree = tree(out)
    with pytest.raises(PipelineError):
        render_files([tmp_path / "missing.jsonl"], out, RenderOptions(workers=1), overwrite=True)
    with pytest.raises(PipelineError, match="truncation error"):
        render_files([make_corpus(tmp_path / "new.jsonl", 10, seed=3)], out,
                     RenderOptions(workers=1, max_length=32, truncation="error"), overwrite=True)
    assert tree(out) == old_tree and check_output(out).ok


def test_a_directory_with_foreign_files_is_refused_even_with_overwrite(tmp_path):
    corpus = make_corpus(tmp_path / "in.jsonl", 5)
    out = tmp_path / "mine"
    (out / "train").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    (out / "train" / "precious.bin").write_bytes(b"\x00\x01")
    before = tree(out)
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a datakit output directory"):
            render_files([corpus], out, RenderOptions(workers=1), overwrite=overwrite)
    assert tree(out) == before
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        render_files([corpus], a_file, RenderOptions(workers=1), overwrite=True)


def test_a_hugging_face_dataset_dir_is_not_silently_deleted(tmp_path):
    import datasets

    out = tmp_path / "hf"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a", "b"]}),
                          "test": datasets.Dataset.from_dict({"text": ["c"]})}).save_to_disk(str(out))
    before = tree(out)
    corpus = make_corpus(tmp_path / "in.jsonl", 5)
    with pytest.raises(OutputError):
        render_files([corpus], out, RenderOptions(workers=1))
    assert tree(out) == before


# -- determinism ------------------------------------------------------------------------------


def test_same_input_same_bytes_with_one_or_two_workers(tmp_path, corpus, reference):
    again = tmp_path / "again"
    render_files([corpus], again, KILL_OPTIONS)
    parallel = tmp_path / "parallel"
    render_files([corpus], parallel, RenderOptions(workers=2, shard_bytes=SHARD_MB << 20))
    expected = data_files(reference)
    assert len([k for k in expected if k.endswith(".arrow")]) >= 3
    assert data_files(again) == expected
    assert data_files(parallel) == expected
    host = socket.gethostname().encode()
    if len(host) >= 4:
        for path in again.rglob("*"):
            if path.is_file() and path.name != "manifest.json":
                assert host not in path.read_bytes(), path
