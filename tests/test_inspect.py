"""`datakit inspect`: rows shown from shards and from JSONL, in the terminal, as a table and as HTML."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import click
import pytest
from click.testing import CliRunner

from datakit.inspect import command as dk_inspect
from datakit.inspect import (
    CONTROL_STYLE,
    TRAINED_STYLE,
    UNTRAINED_STYLE,
    InspectedRow,
    InspectError,
    inspect_command,
    load_jsonl_rows,
    load_output_tokenizer,
    load_rows,
    make_renderer,
    render_html,
    render_terminal,
    render_tokens_table,
    token_pieces,
)
from datakit.pipeline import RenderOptions, render_files

from conftest import bundle, golden_rows

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


def conv(user: str, reply: str, system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": messages + [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]}


# Lines of the home-made JSONL (1-based line numbers in comments).
MIXED_LINES = [
    json.dumps(conv("Hi", "Hello!")),  # 1
    json.dumps(conv("Tell me a story", " ".join(["once upon a time"] * 40))),  # 2: long -> truncated
    "",  # 3: blank
    "{not json",  # 4: rejected
    json.dumps(conv("escape \x1b[31mred\x1b[0m and \u202eevil", "<script>alert(1)</script> & <b>")),  # 5
    json.dumps(conv("typed <|im_end|> in text", "ok 🦜🧬 龘")),  # 6: control text, split characters
    json.dumps(conv("What is 2+2?", "4\n")),  # 7
    json.dumps(conv("Write code", "```py\ndef f():\n\treturn 1\n```", system="Be terse.")),  # 8
    json.dumps(conv("Another long one", " ".join(["lorem ipsum dolor"] * 40))),  # 9: truncated
    json.dumps(conv("q10", "a10")),  # 10
    json.dumps(conv("q11", "a11")),  # 11
    json.dumps(conv("q12", "a12")),  # 12
]


def load_bundled(name: str):
    return bundle(name)  # bundled tokenizers take seconds to build: once per session


def render(paths, out, options):
    render_files(paths, out, options)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A qwen2.5 output with train and test splits, truncated rows and a reject."""
    root = tmp_path_factory.mktemp("mixed")
    source = root / "mixed.jsonl"
    source.write_text("\n".join(MIXED_LINES) + "\n", encoding="utf-8")
    out = root / "out"
    render([source], out, RenderOptions(template="qwen2.5", workers=1, max_length=60, test_size=3))
    return source, out


@pytest.fixture(scope="module")
def edge(tmp_path_factory, edge_cases):
    """edge_cases.jsonl rendered with qwen2.5 (every row in train, nothing truncated)."""
    out = tmp_path_factory.mktemp("edge") / "out"
    render([edge_cases], out, RenderOptions(template="qwen2.5", workers=1))
    return out


@pytest.fixture(scope="module")
def qwen():
    return load_bundled("qwen2.5")


@pytest.fixture(scope="module")
def qwen_renderer():
    return make_renderer("qwen2.5")


@pytest.fixture(scope="module")
def edge_cases(data_files):
    return data_files["edge_cases"]


def qwen25_golden() -> list[dict]:
    return golden_rows("hf", "qwen2.5", "edge_cases")


class TokenSpans(HTMLParser):
    """Collects every `<span class="tok ...">`: (id, weight, classes, text) and section attributes."""

    def __init__(self):
        super().__init__()
        self.spans: list[dict] = []
        self.sections: list[dict] = []
        self._depth = 0  # nesting depth inside the current token span
        self.scripts = 0
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if attrs.get(key):
                self.external.append(attrs[key])
        if tag == "section":
            self.sections.append(attrs)
        if self._depth:
            self._depth += 1
        elif tag == "span" and "tok" in (attrs.get("class") or "").split() and "data-id" in attrs:
            classes = attrs["class"].split()
            self.spans.append({"id": int(attrs["data-id"]), "w": float(attrs["data-w"]),
                               "pos": int(attrs["data-pos"]), "classes": classes,
                               "title": attrs.get("title", ""), "text": ""})
            self._depth = 1

    def handle_endtag(self, tag):
        if self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.spans[-1]["text"] += data


def parse_html(page: str) -> TokenSpans:
    parser = TokenSpans()
    parser.feed(page)
    parser.close()
    return parser


# -- golden structure ------------------------------------------------------------------------


def test_shards_rebuild_the_golden_unshifted_sequences(edge):
    golden = qwen25_golden()
    rows = load_rows(edge, rows=range(len(golden)))
    assert [r.line for r in rows] == list(range(1, len(golden) + 1))
    for row, expected in zip(rows, golden):
        assert row.tokens == expected["tokens"]
        assert row.weights == [float(w) for w in expected["weights"]]
        assert row.num_tokens == len(expected["tokens"]) and not row.truncated and row.note is None


@pytest.mark.parametrize("mode", ["shards", "jsonl"])
def test_html_spans_are_exactly_the_golden_tokens_and_weights(edge, edge_cases, qwen, qwen_renderer, mode):
    expected = qwen25_golden()[0]  # plain_with_system: "Be brief." / "Hi" / "Hello!"
    if mode == "shards":
        rows = load_rows(edge, line=1)
    else:
        rows = load_jsonl_rows(edge_cases, qwen_renderer, line=1)
    page = render_html(rows, qwen, "edge")
    parsed = parse_html(page)
    assert [(s["id"], s["w"]) for s in parsed.spans] == list(zip(expected["tokens"], map(float, expected["weights"])))
    assert [s["pos"] for s in parsed.spans] == list(range(len(expected["tokens"])))
    trained = [s for s in parsed.spans if "w1" in s["classes"]]
    assert "".join(s["text"] for s in trained) == "Hello!<|im_end|>"
    assert all("w0" in s["classes"] for s in parsed.spans if s not in trained)
    control_ids = set(qwen.control_tokens.values())
    assert [s["id"] for s in parsed.spans if "special" in s["classes"]] == [
        t for t in expected["tokens"] if t in control_ids]
    # Tooltips carry position, id and weight.
    assert parsed.spans[0]["title"].startswith(f"pos 0 · id {expected['tokens'][0]} · weight 0")
    # Self-contained: no scripts or external resources, a header with provenance and counts.
    assert parsed.scripts == 0 and parsed.external == []
    section = parsed.sections[0]
    assert section["data-line"] == "1" and section["data-num-tokens"] == str(len(expected["tokens"]))
    assert section["data-num-trainable"] == "3" and section["data-truncated"] == "false"
    if mode == "shards":
        assert section["data-split"] == "train" and section["data-row"] == "0"
        assert section["data-source"] == str(edge_cases)


def test_terminal_colours_trained_and_untrained_text(edge, qwen):
    row = load_rows(edge, line=1)[0]
    text = render_terminal(row, qwen, color=True, boundaries=False)
    assert click.style("Hello!", **TRAINED_STYLE) in text
    assert click.style("Hi", **UNTRAINED_STYLE) in text
    assert click.style("Be brief.", **UNTRAINED_STYLE) in text
    assert click.style("<|im_end|>", **{**TRAINED_STYLE, **CONTROL_STYLE}) in text
    assert click.style("<|im_start|>", **{**UNTRAINED_STYLE, **CONTROL_STYLE}) in text
    plain = render_terminal(row, qwen, color=False, boundaries=False)
    assert "\x1b" not in plain
    assert "⟦Hello!⟨<|im_end|>⟩⟧↵" in plain  # the newline after <|im_end|> is shown: untrained
    # Same text either way, once markers and styles are stripped.
    assert re.sub("[⟦⟧⟨⟩]", "", plain.split("\n", 1)[1]) == ANSI.sub("", text).split("\n", 1)[1]


def test_tokens_table_has_one_line_per_token(edge, qwen):
    for row in load_rows(edge, limit=9):
        table = render_tokens_table(row, qwen).split("\n")
        assert len(table) - 1 == row.num_tokens == len(row.tokens)
        assert table[0].split() == ["pos", "id", "weight", "text"]
        cells = [line.split(None, 3) for line in table[1:]]
        assert [int(c[1]) for c in cells] == row.tokens
        assert [float(c[2]) for c in cells] == row.weights
    assert "'<|im_end|>'  control" in render_tokens_table(row, qwen)


def test_shard_and_jsonl_modes_show_the_same_rows(edge, edge_cases, qwen, qwen_renderer):
    from_shards = load_rows(edge, limit=100)
    from_jsonl = load_jsonl_rows(edge_cases, qwen_renderer, limit=100)
    assert len(from_shards) == len(from_jsonl) == 9
    for a, b in zip(from_shards, from_jsonl):
        assert (a.tokens, a.weights, a.line, a.num_tokens, a.num_trainable) == (
            b.tokens, b.weights, b.line, b.num_tokens, b.num_trainable)
        for color in (True, False):
            for boundaries in (True, False):
                assert render_terminal(a, qwen, color, boundaries, header=False) == render_terminal(
                    b, qwen, color, boundaries, header=False)
        assert render_tokens_table(a, qwen) == render_tokens_table(b, qwen)
        seq = lambda page: re.search(r'<pre class="seq">.*?</pre>', page, re.S).group()  # noqa: E731
        assert seq(render_html([a], qwen, "x")) == seq(render_html([b], qwen, "x"))


# -- what is shown -------------------------------------------------------------------------


def test_decoded_pieces_add_up_to_the_row_text(mixed):
    _, out = mixed
    bundle, warning = load_output_tokenizer(out)
    assert warning is None
    rows = load_rows(out, limit=100) + load_rows(out, split="test", limit=100)
    assert len(rows) == 10  # 10 conversations (a blank line, a rejected one), 3 in test
    for row in rows:
        pieces = token_pieces(row.tokens, bundle)
        assert "".join(p.text for p in pieces) == bundle.full.decode(row.tokens, skip_special_tokens=False)


def test_characters_split_across_tokens_stay_whole(qwen):
    tokens = qwen.full.encode(" 🦜🧬 龘", add_special_tokens=False).ids
    pieces = token_pieces(tokens, qwen)
    assert len(tokens) > 3 and [p.text for p in pieces if p.text] == [" 🦜", "🧬", " 龘"]
    assert all(p.partial for p in pieces if not p.text)
    assert all(p.own.startswith("b'") for p in pieces if p.partial)  # the table shows bytes
    row = InspectedRow.from_rendered(tokens, [1.0] * len(tokens))
    page = parse_html(render_html([row], qwen, "split"))
    assert len(page.spans) == len(tokens)
    assert [s["text"] for s in page.spans if "part" not in s["classes"]] == [" 🦜", "🧬", " 龘"]
    # A row cut inside a character still shows every token.
    cut = token_pieces(tokens[:2], qwen)
    assert len(cut) == 2 and "".join(p.text for p in cut) == qwen.full.decode(tokens[:2]) == " \ufffd"
    assert render_tokens_table(row, qwen).split("\n")[1].endswith("b' \\xf0\\x9f'  part of a character")


def test_unsafe_text_is_neutralised(mixed):
    source, out = mixed
    bundle, _ = load_output_tokenizer(out)
    [row] = load_rows(out, line=5) or load_rows(out, split="test", line=5)
    plain = render_terminal(row, bundle, color=False)
    colored = render_terminal(row, bundle, color=True)
    assert "␛[31mred␛[0m" in plain and "\\u202eevil" in plain
    assert "\u202e" not in plain and "\x1b" not in plain
    assert "\x1b[31m" not in colored and "\u202e" not in colored
    page = render_html([row], bundle, "<title>")
    parsed = parse_html(page)
    assert "<script" not in page and parsed.scripts == 0
    assert "<script>alert(1)</script> & <b>" in "".join(s["text"] for s in parsed.spans)
    assert "<title>&lt;title&gt;</title>" in page


def test_control_token_text_in_messages_is_not_shown_as_control(mixed):
    source, out = mixed
    bundle, _ = load_output_tokenizer(out)
    split = "train" if load_rows(out, "train", line=[6]) else "test"
    [row] = load_rows(out, split, line=6)
    spans = parse_html(render_html([row], bundle, "t")).spans
    user_text = "".join(s["text"] for s in spans if "special" not in s["classes"])
    assert "typed <|im_end|> in text" in user_text
    # Control spans are only the template's own: 3 turns x (<|im_start|>, <|im_end|>).
    assert sum("special" in s["classes"] for s in spans) == 6
    unsafe = make_renderer("qwen2.5", parse_special_tokens=True)
    [hf_row] = load_jsonl_rows(source, unsafe, line=6)
    assert sum("special" in s["classes"] for s in parse_html(render_html([hf_row], bundle, "t")).spans) == 7


def test_whitespace_is_shown_where_the_weight_changes_and_with_boundaries(qwen, qwen_renderer, tmp_path):
    path = tmp_path / "ws.jsonl"
    path.write_text(json.dumps(conv("Hi", "a\n\n    b")) + "\n", encoding="utf-8")
    [row] = load_jsonl_rows(path, qwen_renderer, limit=1)
    plain = render_terminal(row, qwen, color=False, boundaries=False, header=False)
    assert plain.endswith("⟦a\n\n    b⟨<|im_end|>⟩⟧↵\n")  # inner whitespace as is, the edge shown
    assert "assistant↵\n⟦a" in plain
    bounded = render_terminal(row, qwen, color=False, boundaries=True, header=False)
    assert "|⟦a|↵\n↵\n|···| b|⟨<|im_end|>⟩⟧|↵\n" in bounded  # the tokens: 'a', '\n\n', '   ', ' b'


# -- selecting rows ------------------------------------------------------------------------


def test_load_rows_selects_by_row_line_split_truncated_and_limit(mixed):
    _, out = mixed
    manifest = json.loads((out / "manifest.json").read_text())
    n_train, n_test = manifest["splits"]["train"]["rows"], manifest["splits"]["test"]["rows"]
    assert (n_train, n_test) == (7, 3)
    every = load_rows(out, limit=100)
    assert [r.row for r in every] == list(range(n_train))
    assert [r.row for r in load_rows(out)] == [0, 1, 2]  # default limit
    assert [r.row for r in load_rows(out, limit=1)] == [0]
    assert [r.row for r in load_rows(out, rows=[-1, 0])] == [n_train - 1, 0]
    line = every[2].line
    [by_line] = load_rows(out, line=line)
    assert by_line.tokens == every[2].tokens and by_line.row == 2
    assert load_rows(out, line=line, source="mixed.jsonl")[0].row == 2
    test_rows = load_rows(out, split="test", limit=10)
    assert len(test_rows) == n_test and all(r.split == "test" for r in test_rows)
    assert not {r.line for r in test_rows} & {r.line for r in every}
    truncated = load_rows(out, truncated=True, limit=100) + load_rows(out, "test", truncated=True, limit=100)
    assert sorted(r.line for r in truncated) == [2, 9]
    for r in truncated:
        assert r.truncated and r.num_tokens == len(r.tokens) == 60 and r.original_length > 60


def test_load_rows_explains_what_it_cannot_show(mixed, tmp_path):
    source, out = mixed
    with pytest.raises(InspectError, match=r"row 7 is out of range: the train split has rows 0-6"):
        load_rows(out, rows=7)
    with pytest.raises(InspectError, match="has no 'dev' split"):
        load_rows(out, split="dev")
    with pytest.raises(InspectError, match=r"line 4 of .*mixed.jsonl was rejected by datakit render: invalid_json"):
        load_rows(out, line=4)
    test_line = load_rows(out, split="test")[0].line
    with pytest.raises(InspectError, match=f"line {test_line} is in the test split, not train: add --split test"):
        load_rows(out, line=test_line)
    with pytest.raises(InspectError, match="no row .* comes from it"):
        load_rows(out, line=999)
    with pytest.raises(InspectError, match="no input 'other.jsonl'"):
        load_rows(out, line=1, source="other.jsonl")
    with pytest.raises(InspectError, match="not a complete datakit output"):
        load_rows(tmp_path)
    with pytest.raises(InspectError, match="no such directory"):
        load_rows(tmp_path / "missing")


def test_shards_past_the_wanted_rows_are_not_opened(mixed, tmp_path):
    _, out = mixed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    shard = manifest["splits"]["train"]["shards"][0]
    # A second shard that is not Arrow at all: selecting rows of the first must not read it.
    manifest["splits"]["train"]["shards"].append({**shard, "file": "train/data-00001.arrow"})
    manifest["splits"]["train"]["rows"] += shard["rows"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "train" / "data-00001.arrow").write_bytes(b"not arrow")
    assert [r.row for r in load_rows(copy, rows=[0, 4])] == [0, 4]
    assert len(load_rows(copy, limit=2)) == 2
    with pytest.raises(InspectError, match="not an Arrow IPC stream"):
        load_rows(copy, rows=[shard["rows"]])
    (copy / "train" / "data-00001.arrow").unlink()  # a missing shard is named at once
    with pytest.raises(InspectError, match="data-00001.arrow: listed in the manifest but missing"):
        load_rows(copy, rows=[0])


def test_jsonl_mode_reports_rejected_and_missing_lines(mixed, qwen_renderer):
    source, _ = mixed
    skipped = []
    rows = load_jsonl_rows(source, qwen_renderer, limit=4, on_skip=skipped.append)
    assert [r.line for r in rows] == [1, 2, 5, 6] and [r.row for r in rows] == [0, 1, 3, 4]
    assert len(skipped) == 1 and "mixed.jsonl:4: datakit render rejects this line: invalid_json" in skipped[0]
    assert not rows[1].truncated and rows[1].num_tokens > 60  # JSONL is shown untruncated
    with pytest.raises(InspectError, match="rejects this line: invalid_json"):
        load_jsonl_rows(source, qwen_renderer, line=4)
    with pytest.raises(InspectError, match="line 3 is blank"):
        load_jsonl_rows(source, qwen_renderer, line=3)
    with pytest.raises(InspectError, match="row 11 is out of range"):
        load_jsonl_rows(source, qwen_renderer, rows=11)
    assert load_jsonl_rows(source, qwen_renderer, rows=-1)[0].line == 12


# -- command line ----------------------------------------------------------------------------


def run(*args, env=None, **kwargs):
    result = CliRunner().invoke(inspect_command, [str(a) for a in args], env=env, **kwargs)
    return result


def test_cli_shows_rows_and_honours_colour_settings(mixed, monkeypatch):
    _, out = mixed
    result = run(out)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("── train row") == 3 and "\x1b" not in result.stdout  # not a TTY
    assert run(out, "--limit", "1").stdout.count("── train row") == 1
    result = run(out, "--row", "1", "--row", "0")
    assert re.findall(r"── train row (\d)", result.stdout) == ["1", "0"]
    assert "\x1b[" in run(out, "--row", "0", "--color").stdout
    # Auto: a terminal gets colour unless NO_COLOR is set; --no-color always wins.
    monkeypatch.setattr(dk_inspect, "_stdout_isatty", lambda: True)
    assert "\x1b[" in run(out, "--row", "0", env={"NO_COLOR": None}).stdout
    assert "\x1b[" not in run(out, "--row", "0", env={"NO_COLOR": "1"}).stdout
    assert "\x1b[" not in run(out, "--row", "0", "--no-color").stdout
    assert "\x1b[" in run(out, "--row", "0", "--color", env={"NO_COLOR": "1"}).stdout


def test_cli_line_split_truncated_tokens_and_boundaries(mixed):
    _, out = mixed
    test_line = load_rows(out, split="test")[0].line
    result = run(out, "--split", "test", "--line", test_line)
    assert result.exit_code == 0 and f"line {test_line} ·" in result.stdout and "── test row 0" in result.stdout
    result = run(out, "--truncated", "--limit", "10")
    train_truncated = [r for r in load_rows(out, truncated=True, limit=10)]
    assert result.stdout.count("truncated from") == len(train_truncated) >= 1
    result = run(out, "--row", "0", "--tokens")
    row = load_rows(out, rows=0)[0]
    lines = result.stdout.strip("\n").split("\n")
    assert lines[0].startswith("── train row 0") and len(lines) == 2 + row.num_tokens
    result = run(out, "--row", "0", "--boundaries")
    assert "|" in result.stdout and "↵" in result.stdout


def test_cli_jsonl_mode(mixed):
    source, out = mixed
    for line in (1, 2, 6, 8):
        from_jsonl = run(source, "-t", "qwen2.5", "--line", line, "--color")
        assert from_jsonl.exit_code == 0, from_jsonl.output
        split = "train" if load_rows(out, "train", line=[line]) else "test"
        from_shards = run(out, "--line", line, "--split", split, "--color")
        # legend, blank line, row header, then the text: the same unless the shard was truncated
        jsonl_text, shard_text = from_jsonl.stdout.split("\n")[3:], from_shards.stdout.split("\n")[3:]
        if line == 2:
            assert "truncated from" in from_shards.stdout and jsonl_text != shard_text
        else:
            assert jsonl_text == shard_text and len(jsonl_text) > 3
    result = run(source, "-t", "qwen2.5", "--limit", "4")
    assert result.exit_code == 0 and result.stdout.count("── row") == 4
    assert "skipped:" in result.stderr and "invalid_json" in result.stderr


def test_cli_html(mixed, tmp_path):
    _, out = mixed
    page_path = tmp_path / "rows.html"
    result = run(out, "--limit", "2", "--html", page_path)
    assert result.exit_code == 0 and f"wrote {page_path} (2 rows)" in result.stdout
    parsed = parse_html(page_path.read_text(encoding="utf-8"))
    rows = load_rows(out, limit=2)
    assert len(parsed.sections) == 2
    assert [(s["id"], s["w"]) for s in parsed.spans] == [(t, w) for r in rows for t, w in zip(r.tokens, r.weights)]
    assert run(out, "--row", "0", "--html", "-").stdout.startswith("<!DOCTYPE html>")


def test_cli_warns_on_tokenizer_fingerprint_mismatch(mixed, tmp_path):
    _, out = mixed
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["tokenizer"]["fingerprint"] = "sha256:" + "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    result = run(copy, "--row", "0")
    assert result.exit_code == 0
    assert "warning: tokenizer 'qwen2.5' has fingerprint" in result.stderr and "may be wrong" in result.stderr
    assert "warning" not in run(out, "--row", "0").stderr


@pytest.mark.parametrize("args,message", [
    (["{tmp}/missing"], "no such file or directory"),
    (["{tmp}"], "is not a complete datakit output: no manifest.json"),
    (["{out}", "--row", "99"], "row 99 is out of range"),
    (["{out}", "--split", "dev"], "has no 'dev' split"),
    (["{out}", "--line", "4"], "was rejected by datakit render: invalid_json"),
    (["{src}", "-t", "nope"], "unknown template 'nope'"),
    (["{src}", "-t", "qwen2.5", "--tokenizer", "{tmp}"], "no tokenizer.json there"),
    (["{src}", "-t", "qwen2.5", "--line", "4"], "rejects this line: invalid_json"),
    (["{out}", "--tokenizer", "{tmp}"], "no tokenizer.json there"),
])
def test_cli_errors_are_one_clean_line(mixed, tmp_path, args, message):
    source, out = mixed
    args = [a.format(tmp=tmp_path, out=out, src=source) for a in args]
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr


EVIL = "\x1b]0;owned\x07\x1b[2J\x9b31m\u202e"  # OSC (retitle), CSI (clear), C1 CSI, a bidi override


def _raw_controls(text: str) -> list[str]:
    return [ch for ch in text if not ch.isprintable() and ch != "\n"]


def _crafted_outputs(out, root):
    """Copies of `out` whose rejects, manifest names, shard name and source column carry EVIL."""
    import pyarrow as pa

    rejects, names, shard_name, sources = (root / name for name in ("rejects", "names", "shard", "sources"))
    for copy in (rejects, names, shard_name, sources):
        shutil.copytree(out, copy)
    with open(rejects / "rejects.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"file": "mixed.jsonl", "line": 4, "reason": "invalid_json" + EVIL,
                            "detail": "crafted" + EVIL}) + "\n")
    manifest = json.loads((names / "manifest.json").read_text())
    manifest["inputs"][0]["path"] = "in" + EVIL + ".jsonl"
    manifest["template"]["name"] += EVIL
    (names / "manifest.json").write_text(json.dumps(manifest))
    manifest = json.loads((shard_name / "manifest.json").read_text())
    manifest["splits"]["train"]["shards"][0]["file"] = f"train/{EVIL}.arrow"
    (shard_name / "manifest.json").write_text(json.dumps(manifest))
    shard = next((sources / "train").glob("data-*.arrow"))
    table = pa.ipc.open_stream(shard.read_bytes()).read_all()
    table = table.set_column(table.schema.get_field_index("source"), "source",
                             pa.array(["in" + EVIL + ".jsonl"] * table.num_rows))
    with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return rejects, names, shard_name, sources


def test_cli_prints_crafted_text_escaped(mixed, tmp_path):
    """A reject's detail, input and shard names, a source column, a template error made from
    message text: never a raw control character on the terminal, also with --html -."""
    source, out = mixed
    rejects, names, shard_name, sources = _crafted_outputs(out, tmp_path)
    template = tmp_path / "raises.jinja"
    template.write_text("{% if messages[0]['content'].startswith('boom') %}{{ raise_exception(messages[0]['content']) }}"
                        "{% endif %}{% for m in messages %}{{ m['role'] }}: {% if m['role'] == 'assistant' %}"
                        "{% generation %}{{ m['content'] }}\n{% endgeneration %}{% else %}{{ m['content'] }}\n"
                        "{% endif %}{% endfor %}")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps(conv("boom" + EVIL, "no")) + "\n" + json.dumps(conv("q", "a")) + "\n")
    cases = [
        ([rejects, "--line", "4"], 1, "crafted\\x1b]0;owned\\x07"),
        ([names, "--source", "other.jsonl", "--line", "1"], 1, "in\\x1b]0;owned"),
        ([names, "--row", "0", "--html", "-"], 0, "qwen2.5␛]0;owned␇"),
        ([shard_name], 1, "listed in the manifest but missing"),
        ([sources, "--row", "0"], 0, "in␛]0;owned␇"),  # rows show control characters as symbols
        ([sources, "--row", "0", "--tokens"], 0, "in␛]0;owned␇"),
        ([sources, "--row", "0", "--html", "-"], 0, "in␛]0;owned␇"),
        ([chat, "-t", template, "--tokenizer", "qwen2.5"], 0, "skipped: "),
        ([chat, "-t", template, "--tokenizer", "qwen2.5", "--line", "1"], 1, "boom\\x1b]0;owned"),
    ]
    for args, code, shown in cases:
        result = CliRunner().invoke(inspect_command, [str(a) for a in args], color=True)  # nothing stripped
        assert result.exit_code == code, (args, result.output)
        assert _raw_controls(result.output) == [], (args, result.output)
        assert shown in result.output.replace("\\u202e", ""), (args, result.output)


@pytest.mark.parametrize("args,message", [
    (["{out}", "-t", "llama3"], "--template: only for JSONL input"),
    (["{src}", "--split", "test"], "--split: only for an output directory"),
    (["{src}", "--truncated"], "--truncated: only for an output directory"),
    (["{out}", "--tokens", "--html", "x.html"], "--tokens and --html do not combine"),
])
def test_cli_usage_errors(mixed, args, message):
    source, out = mixed
    result = run(*[a.format(out=out, src=source) for a in args])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


# -- a real browser --------------------------------------------------------------------------


def _chromium(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="datakit-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_renders_in_headless_chromium(mixed, tmp_path):
    _, out = mixed
    bundle, _ = load_output_tokenizer(out)
    rows = load_rows(out, limit=2)
    page_path = tmp_path / "page.html"
    page_path.write_text(render_html(rows, bundle, "datakit inspect test"), encoding="utf-8")
    url = page_path.as_uri()

    shot = tmp_path / "page.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1200,900", url)
    assert shot.is_file() and shot.stat().st_size > 5000, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = _chromium("--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = parse_html(result.stdout)
    assert [(s["id"], s["w"]) for s in dom.spans] == [(t, w) for r in rows for t, w in zip(r.tokens, r.weights)]
    assert len(dom.sections) == 2


def test_qwen35_generation_prompt_prefill_is_shown_untrained(tmp_path):
    """`<think>\\n` ends Qwen3.5's generation prompt: it is shown as prompt. Without reasoning
    its `\\n` merges with the next into one `\\n\\n` token, trained by the any-character rule."""
    source = tmp_path / "qwen35.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "17*3?"}, {
        "role": "assistant", "reasoning_content": "51", "content": "51."}]}) + "\n" + json.dumps(conv("hi", "yo")) + "\n")
    result = run(source, "-t", "qwen3.5", "--no-color")
    assert result.exit_code == 0, result.output
    reasoned, plain = result.stdout.split("── row ")[1:]
    assert "⟨<|im_start|>⟩assistant\n<think>↵\n⟦51\n</think>\n\n51.⟨<|im_end|>⟩⟧↵" in reasoned
    assert "⟨<|im_start|>⟩assistant\n<think>⟦↵\n↵\n</think>\n\nyo⟨<|im_end|>⟩⟧↵" in plain
    table = run(source, "-t", "qwen3.5", "--line", "1", "--tokens").stdout.splitlines()
    think = next(i for i, line in enumerate(table) if "'<think>'" in line)
    assert table[think].split()[2] == "0" and table[think + 1].split()[2:] == ["0", "'\\n'"]
    assert table[think + 2].split()[2:] == ["1", "'5'"]  # Qwen splits digits
