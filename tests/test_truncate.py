"""Truncation policies on conversations built to straddle the limit, for every template."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import renderer
from datakit.pipeline import PipelineError, RenderOptions, render_files
from datakit.truncate import TooLong, truncate

TEMPLATES = ["llama3", "qwen2.5", "qwen3", "llama3-cookbook", "qwen3-cookbook"]


def _conversation(turns: int, words: int = 40) -> list[dict]:
    messages = [{"role": "system", "content": "You are terse."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i} " + "why " * words})
        messages.append({"role": "assistant", "content": f"answer {i} " + "because " * words})
    return messages


@pytest.mark.parametrize("template", TEMPLATES)
def test_right_keeps_the_prefix_with_its_weights(template):
    r = renderer(template)
    messages = _conversation(4)
    full = r.render(messages)
    limit = len(full.tokens) - 7
    kept, cut = truncate(full, messages, limit, "right", r.render)
    assert cut.truncated and cut.original_length == len(full.tokens)
    assert len(kept.tokens) == limit
    np.testing.assert_array_equal(kept.tokens, full.tokens[:limit])
    np.testing.assert_array_equal(kept.weights, full.weights[:limit])
    assert cut.lost_final_end_of_turn


@pytest.mark.parametrize("template", TEMPLATES)
def test_fitting_rows_are_untouched(template):
    r = renderer(template)
    messages = _conversation(2)
    full = r.render(messages)
    for limit in (len(full.tokens), None):
        kept, cut = truncate(full, messages, limit, "right", r.render)
        assert not cut.truncated and kept is full


@pytest.mark.parametrize("template", TEMPLATES)
def test_turns_drops_oldest_whole_exchanges_and_keeps_the_system_prompt(template):
    r = renderer(template)
    messages = _conversation(4)
    full = r.render(messages)
    last_two = r.render(messages[:1] + messages[5:])
    limit = len(last_two.tokens) + 3  # fits two exchanges, not three
    kept, cut = truncate(full, messages, limit, "turns", r.render)
    assert cut.truncated and cut.turns_dropped == 2 and not cut.fell_back_to_right
    # A re-render of whole messages, never a cut inside one.
    np.testing.assert_array_equal(kept.tokens, last_two.tokens)
    np.testing.assert_array_equal(kept.weights, last_two.weights)
    assert not cut.lost_final_end_of_turn


@pytest.mark.parametrize("template", TEMPLATES)
def test_turns_falls_back_to_right_when_the_last_exchange_is_too_long(template):
    r = renderer(template)
    messages = _conversation(3, words=200)
    full = r.render(messages)
    last = r.render(messages[:1] + messages[5:])
    kept, cut = truncate(full, messages, 60, "turns", r.render)
    assert cut.fell_back_to_right and cut.turns_dropped == 2
    np.testing.assert_array_equal(kept.tokens, last.tokens[:60])


@pytest.mark.parametrize("template", TEMPLATES)
def test_drop_and_error(template):
    r = renderer(template)
    messages = _conversation(2)
    full = r.render(messages)
    assert truncate(full, messages, 10, "drop", r.render)[0] is None
    with pytest.raises(TooLong):
        truncate(full, messages, 10, "error", r.render)


def _write(path, conversations):
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in conversations))


@pytest.mark.parametrize("template", ["llama3", "qwen3"])
def test_pipeline_policies_count_and_reject(tmp_path, template):
    long_user_first = [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"}]
    conversations = [_conversation(1), _conversation(4), long_user_first]
    source = tmp_path / "in.jsonl"
    _write(source, conversations)
    lengths = [len(renderer(template).render(m).tokens) for m in conversations]
    limit = lengths[0] + 5
    assert lengths[1] > limit and lengths[2] > limit

    def run(policy):
        out = tmp_path / policy
        return render_files([source], out, RenderOptions(template=template, max_length=limit,
                                                          truncation=policy, workers=1, max_reject_ratio=1)), out

    result, out = run("right")
    stats = result.stats
    assert stats["rows_written"] == 2 and stats["truncated"] == 1
    assert stats["rejected_by_reason"] == {"no_trainable_tokens_after_truncation": 1}
    assert stats["emptied_by_truncation"] == 1
    assert stats["length_after"]["max"] == limit
    assert stats["trainable_tokens_lost"] > 0
    rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(3, "no_trainable_tokens_after_truncation")]

    result, _ = run("drop")
    assert result.stats["rows_written"] == 1
    assert result.stats["rejected_by_reason"] == {"too_long": 2}
    assert result.stats["dropped_too_long"] == 2

    result, _ = run("turns")
    assert result.stats["rows_written"] == 2  # conversation 2 keeps its last exchange

    with pytest.raises(PipelineError, match=r"in\.jsonl:2: .*--max-length"):
        run("error")
    assert not (tmp_path / "error" / "manifest.json").exists()


def test_truncated_rows_carry_original_length(tmp_path):
    import pyarrow as pa

    source = tmp_path / "in.jsonl"
    _write(source, [_conversation(4)])
    render_files([source], tmp_path / "out", RenderOptions(template="qwen2.5", max_length=64, workers=1))
    table = pa.ipc.open_stream(tmp_path / "out" / "train" / "data-00000.arrow").read_all()
    row = table.to_pylist()[0]
    assert row["truncated"] is True and row["num_tokens"] == 64
    assert row["original_length"] == len(renderer("qwen2.5").render(_conversation(4)).tokens)


@pytest.mark.parametrize("template", ["llama3", "qwen3"])
def test_turns_with_a_single_exchange_cuts_it_on_the_right(template):
    r = renderer(template)
    messages = _conversation(1, words=200)
    full = r.render(messages)
    kept, cut = truncate(full, messages, 50, "turns", r.render)
    assert cut.fell_back_to_right and cut.turns_dropped == 0
    np.testing.assert_array_equal(kept.tokens, full.tokens[:50])


# -- turns: as many renders as log n, the same answer as dropping one exchange at a time ----------


def _one_at_a_time(full, messages, max_length, render):
    """What `turns` did before it bisected: drop 1, 2, ... oldest exchanges, re-rendering each time."""
    starts = [i for i, m in enumerate(messages) if m["role"] == "user"]
    candidate = full
    for dropped in range(1, len(starts)):
        candidate = render(messages[:1] + messages[starts[dropped]:])
        if len(candidate.tokens) <= max_length:
            return candidate, dropped, False
    return candidate, len(starts) - 1, True


@pytest.fixture
def render_spy():
    """A render function that counts its calls: `spy(render)` -> (counting render, calls list)."""
    def spy(render):
        calls = []

        def counted(messages):
            calls.append(len(messages))
            return render(messages)
        return counted, calls
    return spy


@pytest.mark.parametrize("template", TEMPLATES)
def test_turns_keeps_what_dropping_one_exchange_at_a_time_keeps(template, render_spy):
    r = renderer(template)
    messages = [{"role": "system", "content": "You are terse."}]
    for i, words in enumerate([30, 5, 80, 12, 1, 60, 9, 40, 3, 25, 70, 2]):
        messages.append({"role": "user", "content": f"question {i} " + "why " * words})
        messages.append({"role": "assistant", "content": f"answer {i} " + "because " * (words // 2 + 1)})
    full = r.render(messages)
    lengths = sorted({len(r.render(messages[:1] + messages[i:]).tokens) for i in range(1, len(messages), 2)})
    limits = sorted(n for n in {n + d for n in lengths for d in (-1, 0, 1)} | {5} if n < len(full.tokens))
    for limit in limits:
        expected, dropped, fell_back = _one_at_a_time(full, messages, limit, r.render)
        counted, calls = render_spy(r.render)
        kept, cut = truncate(full, messages, limit, "turns", counted)
        assert (cut.turns_dropped, cut.fell_back_to_right) == (dropped, fell_back), limit
        want = expected.tokens[:limit] if fell_back else expected.tokens
        np.testing.assert_array_equal(kept.tokens, want)
        np.testing.assert_array_equal(kept.weights, expected.weights[:limit] if fell_back else expected.weights)
        assert len(calls) <= 2 * 4 + 1, (limit, calls)  # 12 exchanges: 2 log2(12) + the last exchange alone


@pytest.mark.parametrize("template", ["llama3", "qwen3"])
def test_turns_on_a_long_conversation_renders_log_n_times(template, render_spy):
    """2,000 messages: dropping one exchange at a time rendered ~1,000 times (quadratic work)."""
    r = renderer(template)
    messages = _conversation(1000, words=3)
    full = r.render(messages)
    counted, calls = render_spy(r.render)
    kept, cut = truncate(full, messages, 1024, "turns", counted)
    assert cut.truncated and not cut.fell_back_to_right and len(kept.tokens) <= 1024
    assert len(calls) <= 2 * 10 + 1, len(calls)  # 2 log2(1000) + 1
    assert max(calls) <= 4 * (len(messages) - 2 * cut.turns_dropped)  # never the whole conversation again
    kept_from = 1 + 2 * cut.turns_dropped
    np.testing.assert_array_equal(kept.tokens, r.render(messages[:1] + messages[kept_from:]).tokens)
    assert len(r.render(messages[:1] + messages[kept_from - 2:]).tokens) > 1024  # one more would not fit
