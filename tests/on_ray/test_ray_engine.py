"""`--engine ray` renders exactly what `--engine local` renders: every file of the output (shards
byte for byte, rejects, stats, split sides) and the manifest but its `created` time; a killed
Ray worker is retried to the same output; a killed driver leaves no output and the rerun succeeds.

The tests run on a real local Ray runtime (`ray_runtime`, 2 CPUs); kills wait for observable
states (a shard in the staging directory), never for a time. (This folder mirrors `datakit/ray/`
but is not named `ray`: pytest puts `tests/` on sys.path, where a `ray` folder would stand in
for the ray package wherever it is not installed.)
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import data_rows, ray_processes
from datakit.check import check_output
from datakit.cli import main
from datakit.output import Output
from datakit.pipeline import Engine, PipelineError, RenderOptions, render_files
from test_crash import CLI, _staged_shards, _wait_for, hf_rows, make_corpus, stray_files
from test_crash import data_files as output_files

SMALL_BATCHES = dict(batch_lines=16, shard_bytes=64 << 10, max_reject_ratio=1.0)  # many Ray blocks,
# batches across files, several shards; the hostile inputs are mostly rejects


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, data_files) -> list[Path]:
    """Every kind of input the local reader takes, with blank lines, bad records and a BOM."""
    root = tmp_path_factory.mktemp("inputs")
    rows = data_rows("conversations")
    array = root / "array.json"
    array.write_text("\ufeff[" + ",\n".join(json.dumps(r) for r in rows[:40]) + ", 7, {\"messages\": []}]")
    parquet = root / "rows.parquet"
    pq.write_table(pa.Table.from_pylist([{"messages": json.dumps(r["messages"])} for r in rows[40:70]]
                                        + [{"messages": None}]), parquet, row_group_size=8)
    gz = root / "more.jsonl.gz"
    gz.write_bytes(gzip.compress(b"\n\n".join(json.dumps(r).encode() for r in rows[70:]) + b"\n{bad\n\n"))
    blank = root / "blank.jsonl"
    blank.write_text("\n \n")
    return [*data_files.values(), array, parquet, gz, blank]


def both_engines(paths, tmp_path: Path, options: RenderOptions) -> tuple[Path, Path]:
    local, ray = tmp_path / "local", tmp_path / "ray"
    render_files(paths, local, options)
    render_files(paths, ray, RenderOptions(**{**options.__dict__, "engine": Engine.RAY}))
    return local, ray


@pytest.mark.parametrize("options", [
    RenderOptions(**SMALL_BATCHES),
    RenderOptions(template="qwen3", test_ratio=0.3, dedup=True, max_length=256, truncation="turns", **SMALL_BATCHES),
    RenderOptions(examples="per_turn", test_ratio=0.2, max_length=512, **SMALL_BATCHES),
], ids=["llama3", "qwen3 split dedup turns", "per_turn split"])
def test_ray_output_equals_local_on_every_kind_of_input(ray_runtime, inputs, tmp_path, options):
    local, ray = both_engines(inputs, tmp_path, options)
    assert output_files(ray) == output_files(local)
    manifest = json.loads((local / "manifest.json").read_text())
    assert all(len(split["shards"]) >= 2 for split in manifest["splits"].values())
    stats = json.loads((ray / "stats.json").read_text())
    assert stats["blank_lines"] > 0 and stats["rejected"] > 0 and len(stats["per_file"]) == len(inputs)
    assert check_output(ray).ok
    if options.examples == "per_turn":  # several rows of one record: they stay in its batch
        lines = [(r["source"], r["line"]) for r in Output.open(ray).table("train").select(["source", "line"]).to_pylist()]
        assert len(set(lines)) < len(lines)


def test_ray_output_equals_local_when_batches_end_by_bytes(ray_runtime, inputs, tmp_path):
    """Batches cut by their lines' bytes mid-file and across files, Parquet rows and rejects
    among them: the Ray driver cuts where the local engine does."""
    options = RenderOptions(batch_lines=64, batch_bytes=6000, shard_bytes=64 << 10, max_reject_ratio=1.0)
    local, ray = both_engines(inputs, tmp_path, options)
    assert output_files(ray) == output_files(local)
    tables = [batch.num_rows for shard in sorted((local / "train").glob("*.arrow"))
              for batch in pa.ipc.open_stream(pa.memory_map(str(shard))).read_all().to_batches()]
    assert len(set(tables)) > 3 and max(tables) < 64  # cut by bytes, not by count


def test_ray_gives_the_local_engines_errors(ray_runtime, tmp_path, data_files):
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(data_files["conversations"].read_bytes())[:-40])
    for paths, options, message in [
        ([data_files["conversations"], broken], RenderOptions(), "broken.jsonl.gz: cannot read"),
        ([data_files["conversations"]], RenderOptions(max_length=64, truncation="error"), "(--truncation error)"),
    ]:
        errors = []
        for engine in Engine:
            with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
                render_files(paths, tmp_path / f"out-{engine}", RenderOptions(**{**options.__dict__, "engine": engine}))
            errors.append(str(caught.value))
            assert not (tmp_path / f"out-{engine}").exists() and stray_files(tmp_path / f"out-{engine}") == []
        assert errors[0] == errors[1]


def test_the_cli_renders_on_ray_and_refuses_what_it_cannot(ray_runtime, tmp_path, data_files, monkeypatch):
    source = data_files["edge_cases"]
    runner = CliRunner()
    local = runner.invoke(main, ["render", str(source), "-o", str(tmp_path / "local")])
    ray = runner.invoke(main, ["render", str(source), "-o", str(tmp_path / "ray"), "--engine", "ray"])
    assert local.exit_code == ray.exit_code == 0, ray.output
    assert local.output.split("\nwrote ")[0] == ray.output.split("\nwrote ")[0]
    assert output_files(tmp_path / "ray") == output_files(tmp_path / "local")
    address = runner.invoke(main, ["render", str(source), "-o", str(tmp_path / "x"), "--ray-address", "auto"])
    assert address.exit_code == 2 and "--ray-address needs --engine ray" in address.output
    stdin = runner.invoke(main, ["render", "-", "-o", str(tmp_path / "x"), "--engine", "ray"], input="{}\n")
    assert stdin.exit_code == 1 and "stdin (-) needs --engine local" in stdin.output
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    missing = runner.invoke(main, ["render", str(source), "-o", str(tmp_path / "x"), "--engine", "ray"])
    assert missing.exit_code == 1 and 'pip install "datakit[ray]"' in missing.output
    assert "Traceback" not in missing.output + stdin.output


def test_import_datakit_and_a_local_render_never_import_ray(tmp_path, data_files):
    code = ("import sys; from datakit.cli import main; sys.argv = ['datakit', 'render', sys.argv[1], '-o', sys.argv[2], "
            "'-q', '--workers', '1']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('ray' in sys.modules, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, str(data_files["edge_cases"]), str(tmp_path / "out")],
                            capture_output=True, text=True, check=True)
    assert result.stderr.strip().splitlines()[-1] == "False" and (tmp_path / "out" / "manifest.json").exists()


# -- 50k conversations, and kills ------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("big") / "chats.jsonl", 50_000, seed=5)


@pytest.mark.slow
def test_ray_output_equals_local_on_50k_conversations(ray_runtime, big_corpus, tmp_path):
    local, ray = both_engines([big_corpus], tmp_path, RenderOptions(test_ratio=0.1, dedup=True, shard_bytes=4 << 20))
    assert output_files(ray) == output_files(local)
    assert json.loads((ray / "stats.json").read_text())["rows_written"] > 49_000


@pytest.fixture(scope="module")
def kill_corpus(tmp_path_factory) -> tuple[Path, Path]:
    """A corpus that renders into many 1 MiB shards, and its local render."""
    root = tmp_path_factory.mktemp("kill")
    corpus = make_corpus(root / "chats.jsonl", 20_000, seed=7)
    render_files([corpus], root / "reference", RenderOptions(shard_bytes=1 << 20))
    assert len(list((root / "reference" / "train").glob("data-*.arrow"))) >= 30
    return corpus, root / "reference"


def _render_actors() -> set[int]:
    """The pids of the processes running a render actor of `--engine ray`."""
    pids = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::MapWorker(MapBatches(BatchRenderer))"):
                pids.add(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_the_output_is_identical(ray_runtime, kill_corpus, tmp_path):
    corpus, reference = kill_corpus
    out = tmp_path / "out"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            render_files([corpus], out, RenderOptions(engine=Engine.RAY, shard_bytes=1 << 20))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert _wait_for(lambda: _staged_shards(out) >= 1 or not thread.is_alive(), 300)
        actors = _render_actors()
        assert thread.is_alive() and not out.exists() and actors, "the render ended before the kill"
        os.kill(min(actors), signal.SIGKILL)
        # Ray runs the killed actor's batches again: on the actor it restarts or, when that
        # process is slow to start (a loaded machine), on one still alive; either way the
        # render goes on to the same output.
    finally:
        thread.join(600)
    assert not errors, errors
    assert not thread.is_alive() and min(actors) not in _render_actors()
    assert output_files(out) == output_files(reference)
    assert check_output(out).ok and stray_files(out) == []


@pytest.mark.slow
def test_a_killed_driver_leaves_no_output_and_the_rerun_succeeds(ray_runtime, kill_corpus, tmp_path):
    corpus, reference = kill_corpus
    out = tmp_path / "out"
    driver = subprocess.Popen([*CLI, "render", str(corpus), "-o", str(out), "--engine", "ray", "--ray-address",
                               ray_runtime, "--shard-mb", "1", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _staged_shards(out) >= 2 or driver.poll() is not None, 300)
        assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(timeout=60)
        driver.stderr.close()
    assert not out.exists() and hf_rows(out) is None and not check_output(out).ok
    check = subprocess.run([*CLI, "check", str(out)], capture_output=True, text=True)
    assert check.returncode == 1 and "Traceback" not in check.stderr
    render_files([corpus], out, RenderOptions(engine=Engine.RAY, shard_bytes=1 << 20))  # cleans what the kill left
    assert output_files(out) == output_files(reference)
    assert check_output(out).ok and stray_files(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # The killed driver's job is gone from the cluster: no actor of it still renders.
    assert _wait_for(lambda: not _render_actors(), 120), ray_processes()
