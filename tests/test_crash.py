"""Crash safety and output integrity: SIGKILL at any moment, `datakit check`, overwrite, determinism.

A render killed at any point leaves either no manifest (and nothing that `datakit check` or
`datasets.load_from_disk` takes for a dataset) or a complete, valid output; the next run cleans up
what a crashed run left. `datakit check` catches any change to a committed output. An existing
output is only replaced with --overwrite, and a failed replacement leaves the old one intact.
"""

from __future__ import annotations

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
from pathlib import Path

import pyarrow as pa
import pytest

from datakit.check import check_output
from datakit.datum import SCHEMA
from datakit.pipeline import PipelineError, RenderOptions, render_files
from datakit.write import OutputError

CLI = [sys.executable, "-c", "from datakit.cli import main; main()"]
STAGING = ".datakit-staging"
SHARD_MB = 1
KILL_OPTIONS = RenderOptions(workers=1, shard_bytes=SHARD_MB << 20)


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


def stray_files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name == STAGING or p.name.endswith(".tmp"))


def hf_loadable(out: Path) -> bool:
    """Whether `datasets.load_from_disk` would open `out` as a dataset."""
    if not (out / "dataset_dict.json").exists() and not (out / "state.json").exists():
        return False
    import datasets

    try:
        datasets.load_from_disk(str(out))
    except Exception:
        return False
    return True


def data_files(out: Path) -> dict[str, str]:
    """Everything a render produces that must be reproducible: all files but the manifest's time."""
    files = {k: v for k, v in tree(out).items() if k != "manifest.json" and STAGING not in k}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("created", None)
    files["manifest.json (without created)"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "chats.jsonl", 900)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus) -> Path:
    """An uninterrupted in-process render of the corpus (several 1 MiB shards)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    render_files([corpus], out, KILL_OPTIONS)
    assert len(list((out / "train").glob("data-*.arrow"))) >= 3
    return out


# -- SIGKILL at any moment --------------------------------------------------------------------


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


def assert_incomplete_or_complete(out: Path) -> str:
    """The state a killed render left: 'absent', 'incomplete' (never passes for data) or 'complete'."""
    if not out.exists():
        return "absent"
    report = check_output(out)
    # Complete means both commit records: manifest.json, then dataset_dict.json (written last).
    if (out / "manifest.json").exists() and (out / "dataset_dict.json").exists():
        assert report.ok, f"a manifest but an invalid output: {report.errors}"
        return "complete"
    assert not report.ok
    assert not hf_loadable(out), "no manifest, yet datasets.load_from_disk opens it as a dataset"
    return "incomplete"


def rerun_and_verify(corpus: Path, out: Path, reference: Path, state: str) -> None:
    if state == "complete":
        with pytest.raises(OutputError, match="--overwrite"):
            render_files([corpus], out, KILL_OPTIONS)  # a complete output is never silently replaced
        render_files([corpus], out, KILL_OPTIONS, overwrite=True)
    else:
        render_files([corpus], out, KILL_OPTIONS)  # leftovers of the crashed run are cleaned
    report = check_output(out)
    assert report.ok and not report.warnings, (report.errors, report.warnings)
    assert stray_files(out) == []
    assert data_files(out) == data_files(reference)


def _staged_shards(out: Path) -> int:
    return len(list((out / STAGING / "train").glob("data-*.arrow")))


# (label, the state of the output dir to wait for before the kill, given the reference's shard
# count): observable moments, so the test means the same on a fast or a slow machine.
KILL_POINTS = [
    ("staging created", lambda out, n: (out / STAGING).exists()),
    ("first shard open", lambda out, n: (out / STAGING / "train" / "data-00000.arrow.tmp").exists()),
    ("first shard staged", lambda out, n: _staged_shards(out) >= 1),
    ("half the shards staged", lambda out, n: _staged_shards(out) >= n // 2),
    ("all but the last shard staged", lambda out, n: _staged_shards(out) >= n - 1),
    ("moment the manifest lands", lambda out, n: (out / "manifest.json").exists()),
]


@pytest.mark.slow
def test_sigkill_at_many_moments_leaves_no_output_that_passes_for_complete(tmp_path, corpus, reference):
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
        state = assert_incomplete_or_complete(out)
        if state == "incomplete" and "incomplete" not in {s for _, s in results}:
            check = run_cli("check", out)
            assert check.returncode == 1 and "no manifest.json" in check.stderr and "Traceback" not in check.stderr
        rerun_and_verify(corpus, out, reference, state)
        results.append((label, "exited before the kill" if finished_first else state))
    print("\nkill results:", results)
    # Every kill before the manifest landed found a render still running: incomplete.
    assert [state for _, state in results[:-1]] == ["incomplete"] * (len(KILL_POINTS) - 1)


# A wrapper that SIGKILLs the render at a precise step of the commit: `os.replace` calls that
# move a staged file into the output directory, and the one that lands the manifest.
COMMIT_KILLER = r"""
import os, signal, sys
from pathlib import Path
point, out = sys.argv[1], Path(sys.argv[2]).resolve()
real_replace, moves = os.replace, [0]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def replace(src, dst):
    target = Path(dst).resolve()
    if target.parent != out:
        return real_replace(src, dst)
    moves[0] += 1
    manifest = target.name == "manifest.json"
    last = target.name == "dataset_dict.json"
    if (point == "before_first_move" and moves[0] == 1) or (point == "before_manifest" and manifest):
        die()
    real_replace(src, dst)
    if (point == "after_manifest" and manifest) or (point == "after_commit" and last):
        die()
os.replace = replace
sys.argv = ["datakit", *sys.argv[3:]]
from datakit.cli import main
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("point,overwrite", [
    ("before_first_move", True),  # the old output is already gone: incomplete, never mistaken for complete
    ("before_manifest", False),
    ("after_manifest", False),  # manifest in place, dataset_dict.json not yet: still incomplete
    ("after_commit", True),
])
def test_sigkill_inside_the_commit(tmp_path, point, overwrite):
    corpus = make_corpus(tmp_path / "chats.jsonl", 30)
    out = tmp_path / "out"
    script = tmp_path / "killer.py"
    script.write_text(COMMIT_KILLER)
    args = ["render", str(corpus), "-o", str(out), "--workers", "1", "-q"]
    if overwrite:
        old = make_corpus(tmp_path / "old.jsonl", 10, seed=2)
        render_files([old], out, RenderOptions(workers=1))
        args.append("--overwrite")
    proc = subprocess.run([sys.executable, str(script), point, str(out), *args], capture_output=True,
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    state = assert_incomplete_or_complete(out)
    assert state == ("complete" if point == "after_commit" else "incomplete")
    if state == "complete":
        report = check_output(out)
        assert report.rows == 30 and any(STAGING in w for w in report.warnings)
        with pytest.raises(OutputError, match="--overwrite"):
            render_files([corpus], out, RenderOptions(workers=1))
        render_files([corpus], out, RenderOptions(workers=1), overwrite=True)
    else:
        render_files([corpus], out, RenderOptions(workers=1))
    report = check_output(out)
    assert report.ok and report.rows == 30 and not report.warnings
    assert stray_files(out) == []


def _spawned_workers(pid: int) -> list[int]:
    workers = []
    for kid in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                workers.append(kid)
        except OSError:
            pass
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
                            or ((out / STAGING).exists() and len(_spawned_workers(proc.pid)) >= 2), 60)
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
    assert_incomplete_or_complete(out)


# -- datakit check ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("good")
    corpus = make_corpus(directory / "in.jsonl", 120)
    out = directory / "out"
    render_files([corpus], out, RenderOptions(workers=1, shard_bytes=64 << 10, batch_lines=16))
    report = check_output(out)
    assert report.ok and report.shards >= 3 and not report.warnings
    return out


def _flip_in_source_string(out: Path) -> None:
    path = out / "train" / "data-00001.arrow"
    data = bytearray(path.read_bytes())
    at = data.index(b"in.jsonl")
    data[at] = ord("X")  # still a valid Arrow stream, different content
    path.write_bytes(bytes(data))


def _truncate(out: Path) -> None:
    path = out / "train" / "data-00001.arrow"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_manifest(out: Path, change) -> None:
    path = out / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def _shard_rows(manifest, delta=1):
    manifest["splits"]["train"]["shards"][0]["rows"] += delta
    manifest["splits"]["train"]["rows"] += delta


def _swap_shards(out: Path) -> None:
    a, b = out / "train" / "data-00000.arrow", out / "train" / "data-00001.arrow"
    tmp = out / "swap"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _rewrite_shard(out: Path, edit) -> None:
    """Replace shard 0 by an edited table and update the manifest to match (size, sha, rows)."""
    path = out / "train" / "data-00000.arrow"
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_stream(source).read_all()
    table = edit(table)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = path.read_bytes()

    def change(manifest):
        shard = manifest["splits"]["train"]["shards"][0]
        manifest["splits"]["train"]["rows"] += table.num_rows - shard["rows"]
        shard.update(rows=table.num_rows, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    _edit_manifest(out, change)


def _set_column(name, fn):
    def edit(table):
        column = table.column(name).combine_chunks()
        values = column.values.to_numpy(zero_copy_only=False).copy()
        fn(values)
        new = pa.ListArray.from_arrays(column.offsets, pa.array(values, column.type.value_type))
        return table.set_column(table.schema.get_field_index(name), table.schema.field(name), new)
    return edit


def _at(i, value):
    def fn(values):
        values[i] = value
    return fn


CORRUPTIONS = {
    "byte changed": (_flip_in_source_string, "checksum mismatch"),
    "shard deleted": (lambda out: (out / "train" / "data-00001.arrow").unlink(), "data-00001.arrow: missing"),
    "shard truncated": (_truncate, "bytes, manifest says"),
    "shards swapped": (_swap_shards, "manifest says"),
    "manifest row count": (lambda out: _edit_manifest(out, _shard_rows), "rows, manifest says"),
    "manifest split total": (lambda out: _edit_manifest(
        out, lambda m: m["splits"]["train"].__setitem__("rows", m["splits"]["train"]["rows"] + 1)),
        "row count disagrees"),
    "manifest checksum": (lambda out: _edit_manifest(
        out, lambda m: m["splits"]["train"]["shards"][2].__setitem__("sha256", "0" * 64)), "checksum mismatch"),
    "manifest cut short": (lambda out: (out / "manifest.json").write_bytes(
        (out / "manifest.json").read_bytes()[:100]), "unreadable manifest"),
    "manifest deleted": (lambda out: (out / "manifest.json").unlink(), "no manifest.json"),
    "state.json deleted": (lambda out: (out / "train" / "state.json").unlink(), "state.json"),
    "dataset_dict.json deleted": (lambda out: (out / "dataset_dict.json").unlink(), "dataset_dict.json"),
    "rejects edited": (lambda out: (out / "rejects.jsonl").write_text(""), "rejects.jsonl: checksum"),
    "target not shifted input": (lambda out: _rewrite_shard(out, _set_column("target_tokens", _at(3, 7))),
                                 "not input_tokens shifted"),
    "weight above 1": (lambda out: _rewrite_shard(out, _set_column("weights", _at(5, 1.5))), "weight outside"),
    "weight NaN": (lambda out: _rewrite_shard(out, _set_column("weights", _at(5, float("nan")))),
                   "weight outside"),
    "weight negative": (lambda out: _rewrite_shard(out, _set_column("weights", _at(0, -0.5))), "weight outside"),
    "schema changed": (lambda out: _rewrite_shard(out, lambda t: t.drop(["truncated"])), "schema differs"),
    "num_tokens wrong": (lambda out: _rewrite_shard(out, lambda t: t.set_column(
        5, SCHEMA.field("num_tokens"), pa.array([n + 1 for n in t.column("num_tokens").to_pylist()], pa.int32()))),
        "num_tokens"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_check_catches_every_change(tmp_path, good_output, name):
    corrupt, message = CORRUPTIONS[name]
    out = tmp_path / "out"
    shutil.copytree(good_output, out)
    assert check_output(out).ok
    corrupt(out)
    report = check_output(out)
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors


@pytest.mark.parametrize("name", ["shard truncated", "manifest deleted"])
def test_check_command_exits_non_zero_with_a_clear_message(tmp_path, good_output, name):
    out = tmp_path / "out"
    shutil.copytree(good_output, out)
    CORRUPTIONS[name][0](out)
    proc = run_cli("check", out)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and CORRUPTIONS[name][1] in proc.stderr


def test_check_warns_about_a_shard_not_in_the_manifest_and_the_next_run_removes_it(tmp_path, good_output):
    out = tmp_path / "out"
    shutil.copytree(good_output, out)
    shutil.copy(out / "train" / "data-00000.arrow", out / "train" / "data-00099.arrow")
    report = check_output(out)
    assert report.ok and any("data-00099.arrow" in w for w in report.warnings)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    render_files([manifest["inputs"][0]["path"]], out, RenderOptions(workers=1, shard_bytes=64 << 10,
                                                                     batch_lines=16), overwrite=True)
    assert not (out / "train" / "data-00099.arrow").exists()
    assert check_output(out).warnings == []


# Flips every byte of a shard in turn and runs `check_output` on each; prints "i outcome".
# With "rehash", the manifest's checksum is recomputed after the flip (as a forger would), so
# check must find the damage by reading the Arrow stream and the Datums themselves.
SWEEP = r"""
import hashlib, json, sys
from pathlib import Path
from datakit.check import check_output
out, start, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
shard = out / "train" / "data-00000.arrow"
original = (out / "original.arrow").read_bytes()
manifest = json.loads((out / "manifest.json").read_text())
for i in range(start, len(original)):
    data = bytearray(original); data[i] ^= 0xFF
    shard.write_bytes(bytes(data))
    if mode == "rehash":
        manifest["splits"]["train"]["shards"][0]["sha256"] = hashlib.sha256(data).hexdigest()
        (out / "manifest.json").write_text(json.dumps(manifest))
    print(i, end=" ", flush=True)
    try:
        errors = check_output(out).errors
        outcome = "undetected" if not errors else "checksum" if "checksum" in errors[0] else "caught"
    except BaseException as exc:
        outcome = type(exc).__name__
    print(outcome, flush=True)
"""


def sweep_flipped_bytes(tmp_path: Path, mode: str) -> dict[int, str]:
    """Outcome of `check_output` for every flipped byte of a one-row shard."""
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello there"}]}) + "\n")
    out = tmp_path / "out"
    render_files([corpus], out, RenderOptions(workers=1))
    shutil.copy(out / "train" / "data-00000.arrow", out / "original.arrow")
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    outcomes: dict[int, str] = {}
    size = (out / "original.arrow").stat().st_size
    start = 0
    while start < size:
        proc = subprocess.run([sys.executable, str(script), str(out), str(start), mode], capture_output=True,
                              text=True, timeout=300)
        last = start - 1
        for line in proc.stdout.splitlines():
            fields = line.split()
            last = int(fields[0])
            if len(fields) == 2:
                outcomes[last] = fields[1]
        if proc.returncode != 0:  # killed by a signal while checking byte `last`
            outcomes[last] = f"signal {-proc.returncode}"
        start = last + 1
    assert len(outcomes) == size
    return outcomes


@pytest.mark.slow
def test_check_survives_any_flipped_byte(tmp_path):
    outcomes = sweep_flipped_bytes(tmp_path, "keep")
    bad = {i: o for i, o in outcomes.items() if o != "checksum"}
    assert bad == {}, f"{len(bad)} of {len(outcomes)} flipped bytes not reported cleanly: {sorted(bad.items())[:12]}"


@pytest.mark.slow
def test_check_reads_the_arrow_stream_when_the_checksum_is_forged(tmp_path):
    """Some flips leave a valid shard (alignment padding, a weight of 0.0 made a tiny positive
    number); none may crash `check`, and the Arrow and Datum checks must catch most."""
    outcomes = sweep_flipped_bytes(tmp_path, "rehash")
    crashed = {i: o for i, o in outcomes.items() if o not in ("caught", "undetected")}
    assert crashed == {}, f"check crashed on {len(crashed)} flipped bytes: {sorted(crashed.items())[:12]}"
    caught = sum(o == "caught" for o in outcomes.values())
    assert caught > 0.5 * len(outcomes), f"only {caught} of {len(outcomes)} forged shards caught"


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
