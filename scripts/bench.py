#!/usr/bin/env python
"""Benchmark datakit against the tokenizer limit and Hugging Face's apply_chat_template.

For each template (llama3, qwen2.5, qwen3), on the same conversations, in one run:

  (a) limit: `tokenizers.Tokenizer.encode_batch_fast` of the fully rendered chat text
      (rendered once beforehand, not timed), all cores (default RAYON threads),
      add_special_tokens=False;
  (b) HF:    `transformers` `apply_chat_template(messages, tokenize=True, return_dict=True,
      return_assistant_tokens_mask=True)` one conversation at a time, on a subset (--hf-limit);
  (c) datakit end to end: `datakit render FILE -o DIR --template T --overwrite -q` in a
      subprocess (wall time including process start), plus the `render_files` time inside
      that same process, plus its peak RSS.

Token counts: (a) and (c) use the token count of (a) (same text); (b) counts its own tokens.
`--scaling` renders a generated 10k and 200k conversation corpus with datakit only and reports
the wall-time ratio and peak RSS of each. `--profile N` profiles an in-process single-worker
`render_files` over N conversations with cProfile. See scripts/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TEMPLATES = ("llama3", "qwen2.5", "qwen3")
GENERATOR_VERSION = 1
ENV_AT_START = dict(os.environ)  # the children get the environment the user gave us

# --------------------------------------------------------------------------------------------
# Synthetic corpus
# --------------------------------------------------------------------------------------------

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
between during before after again always sometimes never quickly carefully clearly really""".split()

_TECH = """numpy pandas tensor gradient optimizer batch epoch loss accuracy latency throughput
kubernetes docker container deployment endpoint JSON YAML HTTP API SQL Redis PostgreSQL async
await callback closure iterator generator decorator lambda recursion pointer allocation mutex
regex parser compiler runtime interpreter bytecode benchmark profiler tokenizer transformer
embedding attention dataset checkpoint inference GPU CPU RAM TCP UDP DNS TLS OAuth webhook""".split()

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

    def code(self) -> str:
        rng = self.rng
        lang = rng.choice(["python", "python", "javascript", "bash", "sql"])
        lines = []
        for _ in range(rng.randint(3, 30)):
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


def write_corpus(path: Path, n: int, seed: int) -> Path:
    """Write n conversations to path (reused when already complete)."""
    done = path.with_name(path.name + ".done")
    if path.is_file() and done.is_file():
        return path
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(conversation(seed, i), ensure_ascii=False))
            f.write("\n")
    tmp.replace(path)
    done.write_text("ok\n")
    print(f"# generated {path} ({n} conversations, {path.stat().st_size / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return path


def corpus_path(corpus_dir: Path, n: int, seed: int) -> Path:
    return corpus_dir / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-{n}.jsonl"


# --------------------------------------------------------------------------------------------
# (c) the datakit subprocess, its timing and its memory
# --------------------------------------------------------------------------------------------

# Runs `datakit render ...` exactly as the console script does (datakit.cli:main), and also
# records the time spent in render_files and this process's peak RSS (self) and the largest
# peak RSS among its waited-for children (the spawned workers) into $DATAKIT_BENCH_REPORT.
_WRAPPER = r"""
import atexit, json, os, resource, sys, time
_report = {"start": time.time()}
def _write():
    # VmHWM, not RUSAGE_SELF: Linux carries the parent's high-water mark across fork+exec
    # into ru_maxrss, so RUSAGE_SELF would include the benchmark's own memory.
    with open("/proc/self/status") as f:
        _report["hwm_self_kib"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    _report["maxrss_children_kib"] = kids.ru_maxrss
    _report["cpu_self_s"] = me.ru_utime + me.ru_stime
    _report["cpu_children_s"] = kids.ru_utime + kids.ru_stime
    with open(os.environ["DATAKIT_BENCH_REPORT"], "w") as f:
        json.dump(_report, f)
atexit.register(_write)
import datakit.cli as _cli
_inner = _cli.render_files
def _timed(*args, **kwargs):
    t = time.perf_counter()
    result = _inner(*args, **kwargs)
    _report["render_files_s"] = time.perf_counter() - t
    s = result.stats
    _report["stats"] = {k: s.get(k) for k in ("lines_read", "rows_written", "rejected",
                                              "tokens_written", "truncated")}
    _report["encoder"] = result.manifest["tokenizer"]["encoder"]
    return result
_cli.render_files = _timed
sys.argv[0] = "datakit"
_cli.main()
"""


def _children(pid: int) -> list[int]:
    try:
        out = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        return out
    except OSError:
        return []


def _rss_hwm_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of a process, in KiB (0, 0 when it is gone)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


class TreeSampler(threading.Thread):
    """Samples every `interval` s the summed RSS of a process tree and each process's VmHWM."""

    def __init__(self, pid: int, skip_root: bool, interval: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.skip_root, self.interval = pid, skip_root, interval
        self.peak_sum_kib = 0
        self.hwm_kib: dict[int, int] = {}
        self.max_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids, todo = [], ([] if self.skip_root else [self.pid]) + _children(self.pid)
            while todo:
                p = todo.pop()
                pids.append(p)
                todo += _children(p)
            total = 0
            for p in pids:
                rss, hwm = _rss_hwm_kib(p)
                total += rss
                self.hwm_kib[p] = max(self.hwm_kib.get(p, 0), hwm)
            self.peak_sum_kib = max(self.peak_sum_kib, total)
            self.max_procs = max(self.max_procs, len(pids))
            self.stop.wait(self.interval)


def run_datakit(corpus: Path, template: str, workers: int | None, out_dir: Path,
                extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `datakit render` subprocess: wall time, render_files time, peak RSS figures."""
    report_file = out_dir.with_name(out_dir.name + ".report.json")
    report_file.unlink(missing_ok=True)
    env = dict(ENV_AT_START, DATAKIT_BENCH_REPORT=str(report_file))
    cmd = [sys.executable, "-c", _WRAPPER, "render", str(corpus), "-o", str(out_dir),
           "--template", template, "--overwrite", "-q", *extra]
    if workers:
        cmd += ["--workers", str(workers)]
    time_file = out_dir.with_name(out_dir.name + ".time")
    gnu_time = os.path.exists("/usr/bin/time")
    if gnu_time:  # max RSS over datakit's main process and its workers, as GNU time sees it
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(time_file)] + cmd
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        sampler = TreeSampler(proc.pid, skip_root=gnu_time)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        if proc.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"datakit render failed ({proc.returncode}): "
                               f"{stderr.read().decode(errors='replace')[-3000:]}")
    time_kib = int(time_file.read_text().split()[-1]) if gnu_time else None
    time_file.unlink(missing_ok=True)
    report = json.loads(report_file.read_text())
    report_file.unlink()
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "wall_s": wall,
        "render_files_s": report.get("render_files_s"),
        "stats": report.get("stats"),
        "encoder": report.get("encoder"),
        "peak_rss_main_mib": report["hwm_self_kib"] / 1024,
        "peak_rss_max_worker_mib": report["maxrss_children_kib"] / 1024,
        "peak_rss_gnu_time_mib": time_kib / 1024 if time_kib is not None else None,
        "peak_rss_tree_sum_sampled_mib": sampler.peak_sum_kib / 1024,
        "peak_hwm_sampled_mib": sorted((v / 1024 for v in sampler.hwm_kib.values()), reverse=True),
        "processes": sampler.max_procs,
        # CPU seconds (user + system): main process, and its children (workers, resource tracker).
        "cpu_main_s": report["cpu_self_s"],
        "cpu_others_s": report["cpu_children_s"],
        "loadavg_1min_after": os.getloadavg()[0],
    }


# --------------------------------------------------------------------------------------------
# (a) and (b)
# --------------------------------------------------------------------------------------------


def load_conversations(path: Path, template: Any) -> list[list[dict[str, Any]]]:
    """The conversations of a JSONL file that datakit accepts for this template."""
    from datakit.outcome import Invalid
    from datakit.read import RecordParser

    parser, out = RecordParser(template.roles), []
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                out.append(parser.parse_value(json.loads(raw)).messages)
            except (Invalid, ValueError):
                pass
    return out


def rendered_texts(renderer: Any, conversations: list) -> tuple[list[str], list[int]]:
    """The plain chat-template text of each conversation (and the indices that rendered)."""
    texts, kept = [], []
    for i, messages in enumerate(conversations):
        try:
            texts.append(renderer.render_text(messages))
            kept.append(i)
        except Exception:  # a conversation the template rejects: datakit rejects it too
            pass
    return texts, kept


def bench_limit(tokenizer: Any, texts: list[str], chunk: int) -> tuple[float, int, float]:
    """(a): wall seconds, tokens and CPU seconds of encode_batch_fast over all texts."""
    tokens = 0
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(0, len(texts), chunk):
        encodings = tokenizer.encode_batch_fast(texts[i:i + chunk], add_special_tokens=False)
        tokens += sum(len(e) for e in encodings)
        del encodings
    return time.perf_counter() - started, tokens, time.process_time() - cpu


def hf_tokenizer(bundle: Any, template: Any) -> Any:
    import transformers
    from tokenizers import Tokenizer

    fresh = Tokenizer.from_str(bundle.full.to_str())  # transformers may change its settings
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=fresh, bos_token=template.bos_token)
    hf.chat_template = template.source  # datakit's tagged template: {% generation %} tags
    return hf


def hf_encode(hf: Any, messages: list) -> Any:
    return hf.apply_chat_template(messages, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True)


def check_hf(hf: Any, renderer: Any, conversations: list, n: int) -> str:
    """Compare HF's tokens and assistant mask with datakit's on the first n conversations."""
    bad = []
    sample = conversations[:n]
    for i, (messages, ours) in enumerate(zip(sample, renderer.render_batch(sample))):
        out = hf_encode(hf, messages)
        if (list(out["input_ids"]) != ours.tokens.tolist()
                or [float(m) for m in out["assistant_masks"]] != ours.weights.tolist()):
            bad.append(i)
    return f"{len(sample) - len(bad)}/{len(sample)} identical" + (f" (differ: {bad[:10]})" if bad else "")


def bench_hf(hf: Any, conversations: list) -> tuple[float, int, float]:
    """(b): wall seconds, tokens and CPU seconds of apply_chat_template, one conversation a call."""
    tokens = 0
    cpu, started = time.process_time(), time.perf_counter()
    for messages in conversations:
        tokens += len(hf_encode(hf, messages)["input_ids"])
    return time.perf_counter() - started, tokens, time.process_time() - cpu


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def _mtoks(tokens: float, seconds: float) -> float:
    return tokens / seconds / 1e6 if seconds else float("nan")


def compare(args: argparse.Namespace, corpus: Path, work: Path) -> dict[str, Any]:
    from datakit.render import Renderer, load_template
    from datakit.tokenizer import load_bundled

    results: dict[str, Any] = {}
    for name in args.templates:
        template = load_template(name)
        bundle = load_bundled(template.tokenizer)
        renderer = Renderer(template, bundle)
        conversations = load_conversations(corpus, template)
        texts, kept = rendered_texts(renderer, conversations)
        row: dict[str, Any] = {"conversations": len(conversations), "rendered": len(texts)}
        print(f"# {name}: {len(texts)} conversations rendered to text ({sum(map(len, texts)) / 2**20:.0f} MiB)",
              file=sys.stderr)

        hf = subset = None
        if args.hf_limit:
            hf = hf_tokenizer(bundle, template)
            subset = [conversations[i] for i in kept[:args.hf_limit]]
            row["b_check"] = check_hf(hf, renderer, subset, args.hf_check)
            row["b_conversations"] = len(subset)
            print(f"#   (b) check vs datakit: {row['b_check']}", file=sys.stderr)
        del conversations

        # The repeats interleave (a), (b) and (c), so a slow spell of the machine hits all three.
        a_runs, b_runs, c_runs = [], [], []
        for rep in range(args.repeat):
            a_runs.append(bench_limit(bundle.full, texts, args.a_chunk))
            if hf is not None:
                b_runs.append(bench_hf(hf, subset))
            c_runs.append(run_datakit(corpus, name, args.workers, work / f"out-{name}"))
            print(f"#   run {rep + 1}: (a) {a_runs[-1][0]:.2f}s"
                  + (f"  (b) {b_runs[-1][0]:.2f}s" if b_runs else "")
                  + f"  (c) {c_runs[-1]['wall_s']:.2f}s", file=sys.stderr)
        del texts
        tokens = a_runs[0][1]
        row["tokens"] = tokens
        row["tokens_per_conversation"] = tokens / max(1, row["rendered"])
        row["a_s"] = median([r[0] for r in a_runs])
        row["a_runs_s"] = [r[0] for r in a_runs]
        row["a_cpu_s"] = median([r[2] for r in a_runs])
        row["a_mtok_s"] = _mtoks(tokens, row["a_s"])
        if b_runs:
            row["b_tokens"] = b_runs[0][1]
            row["b_s"] = median([r[0] for r in b_runs])
            row["b_runs_s"] = [r[0] for r in b_runs]
            row["b_mtok_s"] = _mtoks(row["b_tokens"], row["b_s"])
            row["b_cpu_s"] = median([r[2] for r in b_runs])

        row["c_runs"] = c_runs
        row["c_s"] = median([r["wall_s"] for r in c_runs])
        row["c_render_files_s"] = median([r["render_files_s"] for r in c_runs])
        row["c_mtok_s"] = _mtoks(tokens, row["c_s"])
        row["c_render_files_mtok_s"] = _mtoks(tokens, row["c_render_files_s"])
        row["c_tokens_written"] = c_runs[0]["stats"]["tokens_written"]
        row["c_encoder"] = c_runs[0].get("encoder", "?")
        row["c_cpu_main_s"] = median([r["cpu_main_s"] for r in c_runs])
        row["c_cpu_others_s"] = median([r["cpu_others_s"] for r in c_runs])
        row["c_cpu_s"] = median([r["cpu_main_s"] + r["cpu_others_s"] for r in c_runs])
        row["max_loadavg"] = max(r["loadavg_1min_after"] for r in c_runs)
        # Per CPU-second (robust to other load on the machine): tokens per CPU second.
        row["cpu_c_over_a"] = (tokens / row["c_cpu_s"]) / (tokens / row["a_cpu_s"])
        if "b_cpu_s" in row:
            row["cpu_c_over_b"] = (tokens / row["c_cpu_s"]) / (row["b_tokens"] / row["b_cpu_s"])
        for key in ("peak_rss_main_mib", "peak_rss_max_worker_mib", "peak_rss_tree_sum_sampled_mib"):
            row[key] = max(r[key] for r in c_runs)
        row["c_over_a"] = row["c_mtok_s"] / row["a_mtok_s"]
        if "b_mtok_s" in row:
            row["c_over_b"] = row["c_mtok_s"] / row["b_mtok_s"]
        add_paired(row)
        results[name] = row
    return results


def add_paired(row: dict[str, Any]) -> None:
    """c/a and c/b within each repeat (a, b and c of one repeat ran back to back), then the median:
    steadier than the ratio of medians when the machine's speed drifts between repeats."""
    c_walls = [r["wall_s"] for r in row["c_runs"]]
    row["paired_c_over_a"] = median([a / c for a, c in zip(row["a_runs_s"], c_walls)])
    if "b_runs_s" in row:
        row["paired_c_over_b"] = median([(row["tokens"] / c) / (row["b_tokens"] / b)
                                         for b, c in zip(row["b_runs_s"], c_walls)])


def _print_head(head: str) -> None:
    print(head)
    print("-" * len(head))


def print_compare(results: dict[str, Any], args: argparse.Namespace) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"\ndatakit benchmark: {args.corpus_desc}; {cores} cores, datakit workers="
          f"{args.workers or cores}; median of {args.repeat} run(s); rates in M tok/s (wall clock)")
    head = (f"{'template':<9}{'tokens':>12}{'(a) limit':>10}{'(b) HF':>8}{'(c) e2e':>9}{'(c) r_f':>9}"
            f"{'c/a':>7}{'c/b':>7}{'c/a cpu':>9}{'c/b cpu':>9}{'RSS main':>10}{'RSS wrk':>9}{'RSS tree':>10}")
    _print_head(head)
    for name, r in results.items():
        b = f"{r['b_mtok_s']:.3f}" if "b_mtok_s" in r else "-"
        cb = f"{r['c_over_b']:.2f}x" if "c_over_b" in r else "-"
        cpu_cb = f"{r['cpu_c_over_b']:.2f}x" if "cpu_c_over_b" in r else "-"
        print(f"{name:<9}{r['tokens']:>12,}{r['a_mtok_s']:>10.2f}{b:>8}{r['c_mtok_s']:>9.2f}"
              f"{r['c_render_files_mtok_s']:>9.2f}{r['c_over_a']:>6.2f}x{cb:>7}{r['cpu_c_over_a']:>8.2f}x"
              f"{cpu_cb:>9}{r['peak_rss_main_mib']:>7.0f}MiB{r['peak_rss_max_worker_mib']:>6.0f}MiB"
              f"{r['peak_rss_tree_sum_sampled_mib']:>7.0f}MiB")
    print()
    for name, r in results.items():
        print(f"{name}: (a) {r['a_s']:.1f}s/{r['a_cpu_s']:.1f} CPU-s; (b) {r.get('b_s', float('nan')):.1f}s/"
              f"{r.get('b_cpu_s', float('nan')):.1f} CPU-s for {r.get('b_conversations', 0)} conv, "
              f"{r.get('b_tokens', 0):,} tok; (c) {r['c_s']:.1f}s wall, {r['c_render_files_s']:.1f}s "
              f"render_files, CPU main {r['c_cpu_main_s']:.1f}s + workers {r['c_cpu_others_s']:.1f}s; "
              f"tokens_written={r['c_tokens_written']:,}; encoder {r.get('c_encoder', '?')}; "
              f"HF check {r.get('b_check', '-')}; "
              f"max load {r['max_loadavg']:.1f}")
    print("paired (median over repeats of the ratio within one repeat): " + "; ".join(
        f"{name} c/a {r['paired_c_over_a']:.2f}x" + (f", c/b {r['paired_c_over_b']:.2f}x" if "paired_c_over_b" in r else "")
        for name, r in results.items()))
    print("c/a, c/b: wall-clock throughput ratios; 'cpu' columns: tokens per CPU-second ratios "
          "(less sensitive to other load)")
    print("targets: c/a >= 0.80 (2 cores), c/b >= 2.5, peak RSS < 1 GiB")


def scaling(args: argparse.Namespace, corpus_dir: Path, work: Path) -> dict[str, Any]:
    small_n, big_n = args.scaling_sizes
    small = write_corpus(corpus_path(corpus_dir, small_n, args.seed), small_n, args.seed)
    big = write_corpus(corpus_path(corpus_dir, big_n, args.seed), big_n, args.seed)
    results: dict[str, Any] = {}
    for name in args.templates:
        row: dict[str, Any] = {}
        for label, corpus in (("small", small), ("big", big)):
            runs = [run_datakit(corpus, name, args.workers, work / f"scale-{name}") for _ in range(args.repeat)]
            row[label] = {
                "conversations": small_n if label == "small" else big_n,
                "bytes": corpus.stat().st_size,
                "wall_s": median([r["wall_s"] for r in runs]),
                "render_files_s": median([r["render_files_s"] for r in runs]),
                "tokens_written": runs[0]["stats"]["tokens_written"],
                **{k: max(r[k] for r in runs) for k in ("peak_rss_main_mib", "peak_rss_max_worker_mib",
                                                        "peak_rss_tree_sum_sampled_mib")},
                "runs": runs,
            }
            print(f"# scaling {name} {label}: {row[label]['wall_s']:.1f}s", file=sys.stderr)
        row["wall_ratio"] = row["big"]["wall_s"] / row["small"]["wall_s"]
        row["render_files_ratio"] = row["big"]["render_files_s"] / row["small"]["render_files_s"]
        for key in ("peak_rss_main_mib", "peak_rss_max_worker_mib", "peak_rss_tree_sum_sampled_mib"):
            row[key.replace("peak_rss", "rss_ratio")] = row["big"][key] / row["small"][key]
        results[name] = row
    return results


def print_scaling(results: dict[str, Any], args: argparse.Namespace) -> None:
    small_n, big_n = args.scaling_sizes
    print(f"\ndatakit scaling: {small_n:,} vs {big_n:,} generated conversations; workers="
          f"{args.workers or len(os.sched_getaffinity(0))}; median of {args.repeat} run(s)")
    for name, r in results.items():
        for label in ("small", "big"):
            x = r[label]
            print(f"{name:<8}{x['conversations']:>9,} conv {x['bytes'] / 2**20:>7.0f} MiB  "
                  f"{x['tokens_written']:>12,} tok  wall {x['wall_s']:>7.1f}s  render_files "
                  f"{x['render_files_s']:>7.1f}s  RSS main {x['peak_rss_main_mib']:>5.0f} MiB  "
                  f"max worker {x['peak_rss_max_worker_mib']:>5.0f} MiB  tree sum "
                  f"{x['peak_rss_tree_sum_sampled_mib']:>5.0f} MiB")
        print(f"{name:<8}time ratio {r['wall_ratio']:.1f} (render_files {r['render_files_ratio']:.1f}; "
              f"target 17-23); RSS ratio big/small: main {r['rss_ratio_main_mib']:.2f}, worker "
              f"{r['rss_ratio_max_worker_mib']:.2f}, tree {r['rss_ratio_tree_sum_sampled_mib']:.2f} "
              f"(target < 1 GiB, within 20%)")


# --------------------------------------------------------------------------------------------
# --engine ray: local vs ray, on a Ray runtime started once (as a cluster would be running)
# --------------------------------------------------------------------------------------------


def read_rate(corpus: Path) -> tuple[float, int]:
    """Seconds and records of one Ray read task's work (datakit's reader into Arrow blocks), in process."""
    from datakit.ray.read import read_file_blocks

    started, records = time.perf_counter(), 0
    for block in read_file_blocks(str(corpus), 0, 64 << 20, 1024):
        records += block.num_rows
    return time.perf_counter() - started, records - 1


def ray_compare(args: argparse.Namespace, corpus: Path, work: Path) -> dict[str, Any]:
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cores = len(os.sched_getaffinity(0))
    subprocess.run([ray_cli, "start", "--head", f"--num-cpus={cores}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    results: dict[str, Any] = {}
    try:
        for name in args.templates:
            runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
            for rep in range(args.repeat):  # interleaved, as in compare mode
                runs["local"].append(run_datakit(corpus, name, args.workers, work / f"out-{name}"))
                runs["ray"].append(run_datakit(corpus, name, args.workers, work / f"out-{name}",
                                               ("--engine", "ray", "--ray-address", "auto")))
                print(f"#   {name} run {rep + 1}: local {runs['local'][-1]['wall_s']:.2f}s  "
                      f"ray {runs['ray'][-1]['wall_s']:.2f}s", file=sys.stderr)
            tokens = runs["local"][0]["stats"]["tokens_written"]
            row: dict[str, Any] = {"tokens": tokens, "runs": runs}
            for engine, engine_runs in runs.items():
                row[f"{engine}_s"] = median([r["wall_s"] for r in engine_runs])
                row[f"{engine}_render_files_s"] = median([r["render_files_s"] for r in engine_runs])
                row[f"{engine}_mtok_s"] = _mtoks(tokens, row[f"{engine}_s"])
                row[f"{engine}_driver_cpu_s"] = median([r["cpu_main_s"] for r in engine_runs])
            row["ray_over_local"] = row["ray_mtok_s"] / row["local_mtok_s"]
            row["ray_mtok_s_per_core"] = row["ray_mtok_s"] / cores
            row["ray_driver_mtok_per_cpu_s"] = _mtoks(tokens, row["ray_driver_cpu_s"])
            results[name] = row
    finally:
        subprocess.run([ray_cli, "stop"], check=False, capture_output=True)
    seconds, records = read_rate(corpus)
    results["read"] = {"seconds": seconds, "records": records, "mib_s": corpus.stat().st_size / 2**20 / seconds,
                       "records_s": records / seconds}
    return results


def print_ray(results: dict[str, Any], args: argparse.Namespace) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"\ndatakit --engine ray vs local: {args.corpus_desc}; {cores} cores; a Ray runtime started once "
          f"(`ray start --head`, joined with --ray-address auto); median of {args.repeat}; M tok/s, wall clock")
    head = (f"{'template':<9}{'tokens':>12}{'local':>8}{'ray':>8}{'ray/local':>10}{'ray/core':>9}"
            f"{'r_f local':>10}{'r_f ray':>9}{'driver CPU':>11}{'driver tok/CPU-s':>17}")
    _print_head(head)
    for name, r in results.items():
        if name == "read":
            continue
        print(f"{name:<9}{r['tokens']:>12,}{r['local_mtok_s']:>8.2f}{r['ray_mtok_s']:>8.2f}{r['ray_over_local']:>9.2f}x"
              f"{r['ray_mtok_s_per_core']:>9.2f}{r['local_render_files_s']:>9.1f}s{r['ray_render_files_s']:>8.1f}s"
              f"{r['ray_driver_cpu_s']:>10.1f}s{r['ray_driver_mtok_per_cpu_s']:>16.1f}M")
    read = results["read"]
    print(f"one read task (datakit's reader into Arrow blocks, one core): {read['mib_s']:.0f} MiB/s, "
          f"{read['records_s']:,.0f} records/s")


def profile(args: argparse.Namespace, corpus: Path, work: Path) -> None:
    from datakit.pipeline import RenderOptions, render_files

    sub = work / f"profile-{args.profile}.jsonl"
    with open(corpus, "rb") as src, open(sub, "wb") as dst:
        for i, line in enumerate(src):
            if i >= args.profile:
                break
            dst.write(line)
    for name in args.templates:
        options = RenderOptions(template=name, workers=1)
        render_files([sub], work / "profile-out", options, overwrite=True)  # warm up (imports, caches)
        profiler = cProfile.Profile()
        profiler.enable()
        result = render_files([sub], work / "profile-out", options, overwrite=True)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        print(f"\n### profile {name}: {args.profile} conversations, {result.stats['tokens_written']:,} "
              f"tokens, {result.seconds:.2f}s (under cProfile)")
        stats.sort_stats("tottime").print_stats(args.profile_top)
        stats.sort_stats("cumulative").print_stats(args.profile_top)
        print(out.getvalue())
        shutil.rmtree(work / "profile-out", ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=20000, help="generated corpus size [20000]")
    parser.add_argument("--templates", default=",".join(TEMPLATES), help="comma-separated [all three]")
    parser.add_argument("--workers", type=int, default=None, help="datakit workers [all cores]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown [3]")
    parser.add_argument("--hf-limit", type=int, default=2000,
                        help="conversations measured with transformers (b); 0 skips (b) [2000]")
    parser.add_argument("--hf-check", type=int, default=20,
                        help="conversations whose HF output is compared with datakit's [20]")
    parser.add_argument("--a-chunk", type=int, default=2048,
                        help="conversations per encode_batch_fast call in (a), bounds memory [2048]")
    parser.add_argument("--input", type=Path, help="benchmark this JSONL file instead of a generated corpus")
    parser.add_argument("--corpus-dir", type=Path, help="where generated corpora are kept [a temp dir]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--scaling", action="store_true",
                        help="datakit only: 10k vs 200k conversations, time ratio and peak RSS")
    parser.add_argument("--scaling-sizes", type=lambda s: tuple(int(x) for x in s.split(",")),
                        default=(10000, 200000), help="small,big [10000,200000]")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="ray: datakit only, --engine local vs --engine ray on one Ray runtime (needs datakit[ray])")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="cProfile an in-process render_files(workers=1) over the first N conversations")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--generate-only", action="store_true", help="write the corpus and stop")
    parser.add_argument("--show", type=Path, metavar="JSON", help="print the tables of a saved --json file")
    args = parser.parse_args()
    args.templates = [t for t in args.templates.split(",") if t]
    if args.show:
        saved = json.loads(args.show.read_text())
        args.workers, args.repeat = saved.get("workers"), saved.get("repeat", args.repeat)
        args.corpus_desc = saved.get("corpus_desc", saved.get("corpus", "?"))
        if saved["mode"] == "ray":
            print_ray(saved["ray"], args)
        elif saved["mode"] == "scaling":
            args.scaling_sizes = tuple(saved.get("scaling_sizes", args.scaling_sizes))
            print_scaling(saved["scaling"], args)
        else:
            for row in saved["compare"].values():
                add_paired(row)
            print_compare(saved["compare"], args)
        return

    tmp = tempfile.TemporaryDirectory(prefix="datakit-bench-")
    work = Path(tmp.name)
    corpus_dir = args.corpus_dir or work
    corpus_dir.mkdir(parents=True, exist_ok=True)
    try:
        if args.scaling:
            results = {"mode": "scaling", "scaling": scaling(args, corpus_dir, work)}
            print_scaling(results["scaling"], args)
        else:
            if args.input:
                corpus = args.input
                args.corpus_desc = f"{corpus}"
            else:
                corpus = write_corpus(corpus_path(corpus_dir, args.conversations, args.seed),
                                      args.conversations, args.seed)
                args.corpus_desc = f"{args.conversations:,} generated conversations (seed {args.seed})"
            if args.generate_only:
                print(corpus)
                return
            if args.profile:
                profile(args, corpus, work)
                return
            if args.engine == "ray":
                results = {"mode": "ray", "corpus": str(corpus), "ray": ray_compare(args, corpus, work)}
                print_ray(results["ray"], args)
                if args.json:
                    results.update(cores=len(os.sched_getaffinity(0)), repeat=args.repeat, corpus_desc=args.corpus_desc)
                    args.json.write_text(json.dumps(results, indent=2))
                return
            results = {"mode": "compare", "corpus": str(corpus), "compare": compare(args, corpus, work)}
            print_compare(results["compare"], args)
        if args.json:
            results.update(cores=len(os.sched_getaffinity(0)), workers=args.workers, repeat=args.repeat,
                           hf_limit=args.hf_limit, python=sys.version.split()[0],
                           corpus_desc=getattr(args, "corpus_desc", None),
                           scaling_sizes=list(args.scaling_sizes))
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        tmp.cleanup()


if __name__ == "__main__":
    main()
