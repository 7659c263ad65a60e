"""The output writer: what it may replace, its lock, links, leftovers and write failures.

Kills during the commit are in test_crash.py; these tests drive the writer in-process (and the
CLI where the message matters) through the situations a real disk and a real user produce.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from datakit.check import check_output
from datakit.cli import main
from datakit.layout import OutputState, output_state
from datakit.pipeline import RenderOptions, render_files
import datakit.write as write
from datakit.commit import OutputBusy, OutputLock
from datakit.write import OutputError
from test_crash import CLI, beside, make_corpus, stray_files, tree

OPTIONS = RenderOptions(workers=1)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    return {"old": make_corpus(root / "old.jsonl", 6, seed=2), "new": make_corpus(root / "new.jsonl", 9, seed=3)}


@pytest.fixture
def old_output(tmp_path, inputs) -> Path:
    out = tmp_path / "w" / "out"
    render_files([inputs["old"]], out, OPTIONS)
    return out


def hold_lock(out: Path) -> int:
    """Lock OUT as a running datakit render does: flock on `.NAME.datakit-lock` beside it, pid inside."""
    fd = os.open(out.parent / f".{out.name}.datakit-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


# -- one writer at a time -------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["out", "out/", ".", "link", "./out/../out"])
def test_the_lock_is_found_however_the_output_is_spelled(old_output, inputs, monkeypatch, spelling):
    work = old_output.parent
    (work / "link").symlink_to("out")
    monkeypatch.chdir(old_output if spelling == "." else work)
    before = tree(old_output)
    fd = hold_lock(old_output)
    try:
        with pytest.raises(OutputError, match=rf"another datakit run is writing .* \(pid {os.getpid()}\)"):
            render_files([inputs["new"]], Path(spelling), OPTIONS, overwrite=True)
    finally:
        os.close(fd)
    assert tree(old_output) == before
    # The lock file a killed run leaves behind, unlocked, blocks nothing and is removed.
    render_files([inputs["new"]], Path(spelling), OPTIONS, overwrite=True)
    monkeypatch.chdir(work)
    assert check_output(old_output).rows == 9
    assert sorted(os.listdir(work)) == ["link", "out"] and (work / "link").is_symlink()


def test_the_busy_message_is_one_line(old_output, inputs):
    fd = hold_lock(old_output)
    try:
        result = CliRunner().invoke(main, ["render", str(inputs["new"]), "-o", str(old_output), "--workers", "1",
                                           "--overwrite"])
    finally:
        os.close(fd)
    assert result.exit_code == 1
    assert result.output == f"Error: another datakit run is writing {old_output} (pid {os.getpid()})\n"


def test_a_lock_file_removed_while_being_taken_is_not_held_in_vain(tmp_path, monkeypatch):
    """A run that opened the lock file just as its holder released (and removed) it must lock the
    file now at that path, or a third run could lock that one and write at the same time."""
    out = tmp_path / "out"
    real_open, raced = os.open, []

    def open_as_the_holder_releases(path, flags, *args):
        fd = real_open(path, flags, *args)
        if not raced and str(path).endswith(".datakit-lock"):
            raced.append(path)
            os.unlink(path)
        return fd

    monkeypatch.setattr(os, "open", open_as_the_holder_releases)
    first = OutputLock(out)
    first.acquire()
    monkeypatch.setattr(os, "open", real_open)
    try:
        assert raced and (tmp_path / ".out.datakit-lock").exists()
        with pytest.raises(OutputBusy, match=f"pid {os.getpid()}"):
            OutputLock(out).acquire()
    finally:
        first.release()
    assert not (tmp_path / ".out.datakit-lock").exists()


# -- what may be replaced -------------------------------------------------------------------------


def test_what_appears_at_the_output_during_the_run_is_checked_again_before_the_swap(tmp_path, inputs,
                                                                                      monkeypatch):
    out = tmp_path / "out"
    real_commit = write.OutputWriter.commit

    def someone_creates_out_meanwhile(self, *args, **kwargs):
        out.mkdir()
        (out / "notes.txt").write_text("not datakit's")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(write.OutputWriter, "commit", someone_creates_out_meanwhile)
    with pytest.raises(OutputError, match="not a datakit output directory"):
        render_files([inputs["new"]], out, OPTIONS)
    assert os.listdir(out) == ["notes.txt"] and beside(out) == []


@pytest.mark.parametrize("path,message", [("/", "is the root directory"), ("/proc", "is a mount point")])
def test_the_root_or_a_mount_point_is_never_swapped_out(inputs, path, message):
    with pytest.raises(OutputError, match=message):
        render_files([inputs["new"]], Path(path), OPTIONS, overwrite=True)


def test_a_linked_split_directory_is_refused_and_nothing_is_deleted(old_output, inputs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (old_output / "train").rename(elsewhere)
    (old_output / "train").symlink_to(elsewhere)
    before, outside = tree(old_output), tree(elsewhere)
    result = CliRunner().invoke(main, ["render", str(inputs["new"]), "-o", str(old_output), "--workers", "1",
                                       "--overwrite"])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert result.output.startswith("Error: ") and "train (a symbolic link)" in result.output
    assert len(result.output.splitlines()) == 1
    assert tree(old_output) == before and tree(elsewhere) == outside and (old_output / "manifest.json").exists()
    assert beside(old_output) == []


def test_an_output_that_is_a_link_is_replaced_where_it_points(old_output, inputs):
    link = old_output.parent / "link"
    link.symlink_to("out")
    render_files([inputs["new"]], link, OPTIONS, overwrite=True)
    assert link.is_symlink() and os.readlink(link) == "out"
    assert check_output(old_output).ok and check_output(old_output).rows == 9
    assert sorted(os.listdir(old_output.parent)) == ["link", "out"]


def test_a_dangling_link_as_output_is_one_line(tmp_path, inputs):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    result = subprocess.run([*CLI, "render", str(inputs["new"]), "-o", str(link), "--workers", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == (f"Error: {link} is a symbolic link to {tmp_path / 'nowhere'}, which does not exist; "
                             "create the directory it names or choose another -o\n")
    assert sorted(os.listdir(tmp_path)) == ["link"]


def test_a_file_datakit_did_not_write_inside_a_split_is_refused(old_output, inputs):
    (old_output / "train" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a datakit output directory .*train/notes.txt"):
        render_files([inputs["new"]], old_output, OPTIONS, overwrite=True)
    assert (old_output / "train" / "notes.txt").read_text() == "mine"


def test_caches_datasets_writes_beside_the_shards_are_replaced_with_them(old_output, inputs):
    (old_output / "train" / "cache-0123abcd.arrow").write_bytes(b"derived")
    render_files([inputs["new"]], old_output, OPTIONS, overwrite=True)
    assert not (old_output / "train" / "cache-0123abcd.arrow").exists() and check_output(old_output).ok


def test_names_of_foreign_files_are_printed_escaped(tmp_path, inputs):
    out = tmp_path / "out"
    out.mkdir()
    (out / "\x1b]0;owned\x07\x1b[2J").write_text("x")
    with pytest.raises(OutputError) as refused:
        render_files([inputs["new"]], out, OPTIONS)
    assert "\\x1b]0;owned\\x07\\x1b[2J" in str(refused.value) and "\x1b" not in str(refused.value)


def test_an_interrupted_old_commit_is_complete_everywhere_and_never_silently_deleted(old_output, inputs):
    """datakit 0.1.0 renamed manifest.json before dataset_dict.json; a kill between left this."""
    (old_output / "dataset_dict.json").unlink()
    before = tree(old_output)
    assert output_state(old_output) is OutputState.COMPLETE
    with pytest.raises(OutputError, match="--overwrite"):
        render_files([inputs["new"]], old_output, OPTIONS)
    assert tree(old_output) == before
    shown = CliRunner().invoke(main, ["stats", str(old_output)])
    assert shown.exit_code == 0 and "rows written" in shown.output
    assert any("dataset_dict.json: missing" in e for e in check_output(old_output).errors)
    render_files([inputs["new"]], old_output, OPTIONS, overwrite=True)
    assert check_output(old_output).ok


def test_a_run_of_datakit_0_1_0_killed_before_its_commit_is_cleaned(tmp_path, inputs):
    out = tmp_path / "out"
    (out / ".datakit-staging" / "train").mkdir(parents=True)
    (out / ".datakit-staging" / "train" / "data-00000.arrow.tmp").write_bytes(b"partial")
    (out / "train").mkdir()
    render_files([inputs["new"]], out, OPTIONS)
    report = check_output(out)
    assert report.ok and not report.warnings and stray_files(out) == []


# -- leftovers ------------------------------------------------------------------------------------


def test_leftovers_of_this_output_only_are_removed(old_output, inputs):
    work = old_output.parent

    def staged(name: str) -> Path:
        path = work / name
        (path / "train").mkdir(parents=True)
        (path / "train" / "data-00000.arrow.tmp").write_bytes(b"partial")
        return path

    mine = staged(f".out.datakit-staging-{os.getpid()}-0123456789ab")
    others = [staged(".out2.datakit-staging-1-0123456789ab"),  # another output's
              staged(".out.datakit-staging-x.datakit-staging-1-0123456789ab")]  # output "out.datakit-staging-x"'s
    foreign = work / ".out.datakit-old-1-0123456789ab"  # named like ours, holding a file datakit never writes
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not datakit's to delete")
    render_files([inputs["new"]], old_output, OPTIONS, overwrite=True)
    assert not mine.exists()
    assert all((o / "train" / "data-00000.arrow.tmp").exists() for o in others) and (foreign / "keep.txt").exists()


def test_a_backup_left_by_a_killed_fallback_commit_is_put_back(old_output, inputs):
    before = tree(old_output)
    backup = old_output.parent / f".out.datakit-old-{os.getpid()}-0123456789ab"
    old_output.rename(backup)
    report = check_output(old_output)
    assert not report.ok and backup.name in report.errors[0] and "puts it back" in report.errors[0]
    with pytest.raises(OutputError, match="--overwrite"):
        render_files([inputs["new"]], old_output, OPTIONS)
    assert tree(old_output) == before and beside(old_output) == []


# -- write failures ---------------------------------------------------------------------------------


def _fsync_calls(out: Path, inputs) -> int:
    calls = [0]
    real = os.fsync

    def counting(fd):
        calls[0] += 1
        return real(fd)
    os.fsync = counting
    try:
        render_files([inputs["new"]], out, OPTIONS, overwrite=True)
    finally:
        os.fsync = real
    return calls[0]


def _fsync_failing_at(call: int):
    real, seen = os.fsync, [0]

    def fsync(fd):
        seen[0] += 1
        if seen[0] == call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)
    return fsync


def test_disk_full_at_any_flush_is_one_error_and_the_old_output_stays(tmp_path, inputs, monkeypatch):
    """ENOSPC (filling a real disk needs privileges, so it is faked) at each fsync in turn: every
    shard, rejects.jsonl, each JSON file and directory up to the commit. The last one flushes the
    committed rename: failing there must not fail a run whose output is already in place."""
    probe = tmp_path / "probe" / "out"
    render_files([inputs["old"]], probe, OPTIONS)
    calls = _fsync_calls(probe, inputs)
    assert calls >= 8
    out = tmp_path / "w" / "out"
    render_files([inputs["old"]], out, OPTIONS)
    before = tree(out)
    for failing in range(1, calls + 1):
        with monkeypatch.context() as patch:
            patch.setattr(os, "fsync", _fsync_failing_at(failing))
            if failing == calls:
                render_files([inputs["new"]], out, OPTIONS, overwrite=True)
                continue
            with pytest.raises(OutputError) as failed:
                render_files([inputs["new"]], out, OPTIONS, overwrite=True)
        assert str(failed.value) == f"cannot write {out}: No space left on device", failing
        assert tree(out) == before and beside(out) == [], failing
    assert check_output(out).rows == 9 and beside(out) == []


def test_a_file_size_limit_is_one_error_line_and_the_old_output_stays(old_output, inputs):
    """A real write failure from the kernel (EFBIG under RLIMIT_FSIZE), through pyarrow's writer."""
    before = tree(old_output)
    limit = 8 << 10

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    assert (old_output / "train" / "data-00000.arrow").stat().st_size > limit  # the new shard will be too
    result = subprocess.run([*CLI, "render", str(inputs["new"]), "-o", str(old_output), "--workers", "1",
                             "--overwrite"], capture_output=True, text=True, timeout=120, preexec_fn=limited)
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot write {old_output}: File too large\n"
    assert tree(old_output) == before and beside(old_output) == []


def test_a_read_only_filesystem_is_one_error_line(tmp_path, inputs, monkeypatch):
    """EROFS on every create, as a read-only mount answers (root ignores chmod, so it is faked)."""
    real_open, real_mkdir = os.open, os.mkdir

    def read_only_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    def read_only_mkdir(path, *args, **kwargs):
        if not os.path.isdir(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(inputs["new"]), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 1 and result.output == f"Error: cannot write {out}: Read-only file system\n"
    assert sorted(os.listdir(tmp_path)) == []


def test_the_manifest_records_the_size_of_rejects(old_output):
    manifest = json.loads((old_output / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rejects"] == {"file": "rejects.jsonl", "bytes": (old_output / "rejects.jsonl").stat().st_size,
                                   "sha256": manifest["rejects"]["sha256"]}
    assert manifest["rejects"]["bytes"] > 0


def test_a_failed_run_leaves_no_directory_behind(tmp_path, inputs):
    """--truncation error stops the run: no OUT, and none of the directories above it it made."""
    out = tmp_path / "runs" / "today" / "out"
    result = CliRunner().invoke(main, ["render", str(inputs["new"]), "-o", str(out), "--workers", "1",
                                       "--truncation", "error", "--max-length", "16"])
    assert result.exit_code == 1 and "--truncation error" in result.output, result.output
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "runs").mkdir()
    with pytest.raises(Exception, match="truncation error"):
        render_files([inputs["new"]], out, RenderOptions(workers=1, truncation="error", max_length=16))
    assert [p.name for p in tmp_path.rglob("*")] == ["runs"]  # what was there stays
    render_files([inputs["new"]], out, OPTIONS)
    assert output_state(out) is OutputState.COMPLETE
