"""Seeded synthetic chat corpora for scripts/bench.py: long chats, short chats, one huge message.

Conversation `i` of a corpus depends only on (seed, i), so a smaller corpus is the first lines
of a bigger one. The text is Zipf-distributed English prose with technical words, Chinese, code
blocks and markdown. `long`: 1-8 turns, answers of about 50-3,000 tokens (log-normal), about
1,500 tokens a conversation. `short`: one user and one assistant message, about 60-100 tokens
rendered. See scripts/README.md.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1


class Corpus(StrEnum):
    LONG = "long"
    SHORT = "short"


_EN = """the of and to a in is that for it as was with be by on not he this are or his from at
which but have an they you were her she there one all we can their has been if more when will
would who so no what up out about into than them only other its some time could these two may
first then do any like my now over such our man me even most made after also did many before
must through back years where much your way well down should because each just those people
how too little state good very make world still own see men work long get here between both
life being under never day same another know while last might us great old year off come since
against go came right used take three data model training token tokens function value system
user server request response file files error errors code python array list string number
example output input result results method class object memory process thread performance
network database query table column index key cache update version library package install
build test tests run running configure configuration default option options parameter simple
important however therefore usually often example problem solution approach step steps first
second next finally note see using use based need needs want help question answer explain
understand learn different similar specific general common better best small large fast slow
new recent current previous following above below inside outside without within across around
between during before after again always sometimes never quickly carefully clearly really""".split()  # noqa: SIM905

_TECH = """numpy pandas tensor gradient optimizer batch epoch loss accuracy latency throughput
kubernetes docker container deployment endpoint JSON YAML HTTP API SQL Redis PostgreSQL async
await callback closure iterator generator decorator lambda recursion pointer allocation mutex
regex parser compiler runtime interpreter bytecode benchmark profiler tokenizer transformer
embedding attention dataset checkpoint inference GPU CPU RAM TCP UDP DNS TLS OAuth webhook""".split()  # noqa: SIM905

_ZH = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
       "而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把"
       "性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质"
       "气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活"
       "设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则"
       "任取据处理府研质器数据模型训练语言学习方法系统用户服务请求响应文件错误代码函数结果性能网络缓存版本测试")

_HEADINGS = ["Overview", "Summary", "Example", "Details", "Explanation", "Steps", "Solution",
             "Background", "Implementation", "Notes", "Caveats", "Performance", "Conclusion"]

_SYSTEM = ["You are a helpful assistant.", "You are an expert software engineer.",
           "You are a concise assistant. Answer briefly.", "You are a friendly tutor.",
           "You are a careful data analyst.", "你是一个乐于助人的助手。"]


def _cumulative(n: int, s: float = 1.0) -> list[float]:
    out, total = [], 0.0
    for rank in range(n):
        total += 1.0 / (rank + 1) ** s
        out.append(total)
    return out


_EN_CUM = _cumulative(len(_EN))
_TECH_CUM = _cumulative(len(_TECH), 0.6)
_ZH_CUM = _cumulative(len(_ZH), 0.8)


class _Gen:
    """Text pieces for one conversation, from one seeded `random.Random`."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def words(self, n: int) -> list[str]:
        rng = self.rng
        words = rng.choices(_EN, cum_weights=_EN_CUM, k=n)
        for _ in range(n // 8):
            if rng.random() < 0.5:
                words[rng.randrange(n)] = rng.choices(_TECH, cum_weights=_TECH_CUM)[0]
        return words

    def sentence(self) -> str:
        rng = self.rng
        n = rng.randint(4, 24)
        words = self.words(n)
        if n > 10 and rng.random() < 0.5:
            words[rng.randrange(3, n - 2)] += ","
        r = rng.random()
        if r < 0.06:
            i = rng.randrange(n)
            words[i] = f"`{words[i]}_{rng.choice(_EN)}`"
        elif r < 0.10:
            i = rng.randrange(n - 1)
            words[i] = f"**{words[i]}"
            words[i + 1] += "**"
        elif r < 0.14:
            words[rng.randrange(n)] = str(rng.choice([rng.randint(0, 100), rng.randint(100, 100000),
                                                      round(rng.random() * 10, 2)]))
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice(".....?!:")

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(1, 6)))

    def zh_sentence(self) -> str:
        rng = self.rng
        chars = rng.choices(_ZH, cum_weights=_ZH_CUM, k=rng.randint(8, 36))
        if len(chars) > 14:
            chars.insert(rng.randrange(5, len(chars) - 4), "，")
        if rng.random() < 0.15:
            chars.insert(rng.randrange(len(chars)), f" {rng.choice(_TECH)} ")
        return "".join(chars) + rng.choice("。。。？！")

    def zh_paragraph(self) -> str:
        return "".join(self.zh_sentence() for _ in range(self.rng.randint(1, 6)))

    def ident(self) -> str:
        rng = self.rng
        return "_".join(rng.choices(_EN[40:], k=rng.randint(1, 3))).lower()

    def code(self, lines_range: tuple[int, int] = (3, 30)) -> str:
        rng = self.rng
        lang = rng.choice(["python", "python", "javascript", "bash", "sql"])
        lines = []
        for _ in range(rng.randint(*lines_range)):
            a, b, c = self.ident(), self.ident(), self.ident()
            if lang == "python":
                indent = "    " * rng.randint(0, 2)
                lines.append(indent + rng.choice([
                    f"def {a}({b}, {c}=None):", f"{a} = {b}.{c}({rng.randint(0, 999)})",
                    f"for {a} in {b}:", f"if {a} is None:", f"return {a}[{b}]",
                    f"# {self.sentence()}", f"{a}.append({b} + {c})", f"import {a}",
                    f'print(f"{{{a}}}: {{{b}!r}}")', f"class {a.title().replace('_', '')}:",
                ]))
            elif lang == "javascript":
                lines.append(rng.choice([
                    f"const {a} = await {b}({c});", f"function {a}({b}) {{", "}",
                    f"  return {a}.map(({b}) => {b}.{c});", f"// {self.sentence()}",
                    f"  if (!{a}) throw new Error('{b}');", f"export default {a};",
                ]))
            elif lang == "bash":
                lines.append(rng.choice([
                    f"pip install {a}", f"export {a.upper()}={rng.randint(1, 64)}",
                    f"python -m {a} --{b.replace('_', '-')} {c}.json", f"ls -la /tmp/{a}",
                    f"grep -rn '{b}' src/ | head -n {rng.randint(5, 50)}",
                ]))
            else:
                lines.append(rng.choice([
                    f"SELECT {a}, COUNT(*) FROM {b} GROUP BY {a};",
                    f"CREATE INDEX idx_{a} ON {b} ({c});", f"UPDATE {a} SET {b} = {rng.randint(0, 99)};",
                ]))
        return f"```{lang}\n" + "\n".join(lines) + "\n```"

    def markdown_list(self) -> str:
        rng = self.rng
        numbered = rng.random() < 0.4
        return "\n".join((f"{i + 1}. " if numbered else "- ") + self.sentence()
                         for i in range(rng.randint(2, 7)))

    def table(self) -> str:
        rng = self.rng
        cols = rng.randint(2, 4)
        rows = ["| " + " | ".join(w.title() for w in self.words(cols)) + " |",
                "|" + "---|" * cols]
        for _ in range(rng.randint(2, 6)):
            rows.append("| " + " | ".join(rng.choice([self.ident(), str(rng.randint(0, 9999))])
                                          for _ in range(cols)) + " |")
        return "\n".join(rows)

    def answer(self, target_tokens: int, chinese: bool, coding: bool) -> str:
        rng = self.rng
        blocks: list[str] = []
        size = 0.0
        kinds = ["en", "zh", "code", "list", "heading", "table"]
        weights = [0.55, 0.03, 0.04, 0.2, 0.15, 0.03]
        if chinese:
            weights[0], weights[1] = 0.2, 0.6
        if coding:
            weights[2] = 0.25
        makers = {"en": self.paragraph, "zh": self.zh_paragraph, "code": self.code,
                  "list": self.markdown_list, "table": self.table,
                  "heading": lambda: f"{'#' * rng.randint(2, 3)} {rng.choice(_HEADINGS)}"}
        while size < target_tokens:
            block = makers[rng.choices(kinds, weights)[0]]()
            blocks.append(block)
            size += len(block.encode("utf-8")) / 4.0  # ~4 UTF-8 bytes a token
        return "\n\n".join(blocks)

    def question(self, chinese: bool, coding: bool) -> str:
        rng = self.rng
        parts = [self.zh_sentence() if chinese else self.sentence() for _ in range(rng.randint(1, 3))]
        if coding and rng.random() < 0.4:
            parts.append(self.code())
        if rng.random() < 0.08:  # pasted context
            parts.append("\n\n".join(self.paragraph() for _ in range(rng.randint(3, 10))))
        return "\n\n".join(parts) if rng.random() < 0.5 else " ".join(parts)


_TURN_WEIGHTS = [0.35, 0.2, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04]  # 1..8 turns


def conversation(seed: int, index: int) -> dict[str, Any]:
    """One synthetic conversation; the i-th one depends only on (seed, i)."""
    rng = random.Random(seed * 1_000_003 + index)
    gen = _Gen(rng)
    chinese = rng.random() < 0.15
    coding = rng.random() < 0.4
    messages = []
    if rng.random() < 0.35:
        system = rng.choice(_SYSTEM)
        if rng.random() < 0.6:
            system += " " + " ".join(gen.sentence() for _ in range(rng.randint(1, 8)))
        messages.append({"role": "system", "content": system})
    turns = rng.choices(range(1, 9), weights=_TURN_WEIGHTS)[0]
    for _ in range(turns):
        messages.append({"role": "user", "content": gen.question(chinese, coding)})
        target = int(min(3000, max(50, math.exp(rng.gauss(5.47, 0.9)))))
        messages.append({"role": "assistant", "content": gen.answer(target, chinese, coding)})
    return {"messages": messages}


def short_conversation(seed: int, index: int) -> dict[str, Any]:
    """One two-message chat of about 35-65 tokens of text; the i-th depends only on (seed, i)."""
    rng = random.Random(f"short:{seed}:{index}")
    gen = _Gen(rng)
    chinese = rng.random() < 0.15
    sentence = gen.zh_sentence if chinese else gen.sentence
    question = sentence()
    if rng.random() < 0.3:
        question += " " + sentence()
    parts, size, target = [], 0.0, rng.randint(15, 40)
    while size < target:
        part = gen.code((1, 2)) if rng.random() < 0.1 else sentence()
        parts.append(part)
        size += len(part.encode("utf-8")) / 4.0  # ~4 UTF-8 bytes a token
    return {"messages": [{"role": "user", "content": question},
                         {"role": "assistant", "content": " ".join(parts)}]}


GENERATORS: dict[Corpus, Callable[[int, int], dict[str, Any]]] = {
    Corpus.LONG: conversation, Corpus.SHORT: short_conversation}
_FILE_PREFIX = {Corpus.LONG: "synthetic", Corpus.SHORT: "short"}


def corpus_path(corpus_dir: Path, kind: Corpus, n: int, seed: int) -> Path:
    return corpus_dir / f"{_FILE_PREFIX[kind]}-v{GENERATOR_VERSION}-seed{seed}-{n}.jsonl"


def _write_once(path: Path, write: Callable[[Any], None], what: str) -> Path:
    """Run write(file) into path, unless a complete earlier copy is there (its .done marker)."""
    done = path.with_name(path.name + ".done")
    if path.is_file() and done.is_file():
        return path
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        write(f)
    tmp.replace(path)
    done.write_text("ok\n")
    print(f"# generated {path} ({what}, {path.stat().st_size / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return path


def write_corpus(corpus_dir: Path, kind: Corpus, n: int, seed: int) -> Path:
    """The JSONL file of n conversations of this kind (reused when already complete)."""
    make = GENERATORS[kind]

    def write(f: Any) -> None:
        for i in range(n):
            f.write(json.dumps(make(seed, i), ensure_ascii=False))
            f.write("\n")

    return _write_once(corpus_path(corpus_dir, kind, n, seed), write, f"{n} {kind} conversations")


def huge_text(chars: int, seed: int) -> str:
    """`chars` characters of the long corpus's answer text (English, Chinese, code, markdown)."""
    gen = _Gen(random.Random(f"huge:{seed}"))
    blocks, size = [], 0
    while size < chars:
        block = gen.answer(3000, chinese=gen.rng.random() < 0.15, coding=gen.rng.random() < 0.4)
        blocks.append(block)
        size += len(block) + 2
    return "\n\n".join(blocks)[:chars]


def write_huge_message(corpus_dir: Path, chars: int, seed: int) -> Path:
    """One JSONL line: a short user question and an assistant message of `chars` characters."""
    def write(f: Any) -> None:
        question = _Gen(random.Random(f"huge-question:{seed}")).sentence()
        record = {"messages": [{"role": "user", "content": question},
                               {"role": "assistant", "content": huge_text(chars, seed)}]}
        f.write(json.dumps(record, ensure_ascii=False))
        f.write("\n")

    path = corpus_dir / f"huge-v{GENERATOR_VERSION}-seed{seed}-{chars}.jsonl"
    return _write_once(path, write, f"one message of {chars:,} characters")
