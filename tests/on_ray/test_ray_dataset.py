"""`datakit.ray.render_dataset`: a Ray Dataset's records rendered inside Ray, Datums and rejects
in input order, the same rows as a local render of the same records."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from conftest import data_rows
from datakit.datum import SCHEMA
from datakit.output import Output
from datakit.pipeline import RenderOptions, render_files


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """The shared conversations with a few rejects among them, as a JSONL file and as row dicts
    carrying their own file and line."""
    rows = data_rows("conversations")[:60]
    rows.insert(7, {"messages": [{"role": "user", "content": "no answer"}]})
    rows.insert(20, {"messages": [{"role": "wizard", "content": "x"}]})
    path = tmp_path_factory.mktemp("records") / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, [{**r, "file": str(path), "number": i + 1} for i, r in enumerate(rows)]


def test_render_dataset_gives_the_local_renders_rows_and_rejects_in_order(ray_runtime, records, tmp_path):
    import ray
    import ray.data

    from datakit.ray import RENDERED_SCHEMA, datums, rejects, render_dataset

    path, rows = records
    options = RenderOptions(template="qwen3", max_length=512, batch_lines=16)
    rendered = render_dataset(ray.data.from_items(rows), options, source_column="file", line_column="number")
    table = pa.concat_tables(ray.get(rendered.to_arrow_refs()))
    assert table.schema.equals(RENDERED_SCHEMA)
    assert table["line"].to_pylist() == list(range(1, len(rows) + 1))  # Datums and rejects, in input order

    local = render_files([path], tmp_path / "out", options)
    expected = Output.open(local.out_dir).table("train")
    got = pa.concat_tables(ray.get(datums(rendered).to_arrow_refs()))
    assert got.schema.names == SCHEMA.names
    assert got.to_pylist() == expected.to_pylist()
    expected_rejects = [json.loads(x) for x in (local.out_dir / "rejects.jsonl").read_text().splitlines()]
    assert sorted(rejects(rendered).take_all(), key=lambda r: r["line"]) == expected_rejects
    assert {r["reason"] for r in expected_rejects} == {"no_trainable_tokens", "unknown_role"}


def test_render_dataset_without_provenance_columns_and_refusing_a_split(ray_runtime, records):
    import ray.data

    from datakit.ray import datums, render_dataset

    _, rows = records
    plain = [{"messages": r["messages"]} for r in rows[:10]]
    got = datums(render_dataset(ray.data.from_items(plain))).take_all()
    assert {r["source"] for r in got} == {"dataset"} and {r["line"] for r in got} == {0} and len(got) == 9
    with pytest.raises(ValueError, match="does not split"):
        render_dataset(ray.data.from_items(plain), RenderOptions(test_ratio=0.1))
