"""Make the golden references of the Qwen3 / 3.5 / 3.6 / 3.8 templates and the cookbook modes.

Never imports datakit: the references come from transformers and tinker-cookbook alone.

- `tests/data/tools_reasoning.jsonl.gz`: tool-calling and reasoning conversations written out
  below, already in the normalized form datakit reads records into (string content, tool-call
  arguments as objects, tools as {"type": "function", "function": {...}}), so no engine
  normalizes anything first.
- `tests/golden/hf/<template>[@kwargs]/<file>.jsonl.gz`: transformers'
  `apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
  return_assistant_tokens_mask=True, **kwargs)` with the generation-tagged template
  (`templates/<template>.jinja`), after checking that it renders byte-identical text to the
  official one (`templates/official/`) for that record and kwargs.
- `tests/golden/cookbook/<renderer>[@tokenizer=NAME]/<file>.jsonl.gz`: tinker-cookbook 0.6.1
  `get_renderer(renderer, tokenizer).build_supervised_example(messages, ALL_ASSISTANT_MESSAGES)`,
  the messages converted by its `openai_messages_to_tinker`, tools by `openai_tools_to_tinker`
  and `create_conversation_prefix_with_tools(tools, system_prompt)` (which replaces a leading
  system message).

A line is `{"tokens": [...], "weights": [...]}` (unshifted), or `{"error": "..."}` where the
reference engine raises. Tokenizers: the files in `datakit/assets/` read with `tokenizers` into
`PreTrainedTokenizerFast` (Llama 3 with its bos `<|begin_of_text|>` and without the Vision-only
`<|image|>`; Qwen with no bos). Everything is gzipped without name or time (`gzip -n`).

    python scripts/make_goldens.py --part hf                      # transformers only
    /work/venv-trainers/bin/python scripts/make_goldens.py        # both (needs tinker-cookbook)
    python scripts/make_goldens.py --verify-existing              # re-make the older goldens, compare

`--verify-existing` re-makes the goldens that came from ../shared (hf llama3 / qwen2.5 / qwen3,
cookbook llama3 / qwen3 on the plain data files) the same way and checks they are identical.
Then print the sha256 lines for tests/references.sha256.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import hashlib
import json
import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = ROOT / "tests" / "golden"
ASSETS = ROOT / "datakit" / "assets"
TEMPLATES = ROOT / "templates"
ALL = ("edge_cases", "conversations", "synthetic", "tools_reasoning")
SMALL = ("edge_cases", "conversations", "tools_reasoning")
NEW = ("tools_reasoning",)
PLAIN = ("edge_cases", "conversations", "synthetic")
TOKENIZERS = {  # name: (asset, bos token, added tokens the model does not have)
    "llama3": ("llama3-tokenizer.json.gz", "<|begin_of_text|>", ("<|image|>",)),
    "qwen2.5": ("qwen-tokenizer.json.gz", None, ("<tool_response>", "</tool_response>", "<think>", "</think>")),
    "qwen3": ("qwen-tokenizer.json.gz", None, ()),
    "qwen3.5": ("qwen3.5-tokenizer.json.gz", None, ()),
}
# template: (official file, tokenizer, [(kwargs, data files)])
HF_CASES = {
    "qwen3": ("Qwen-Qwen3-0.6B.jinja", "qwen3", [({}, NEW), ({"enable_thinking": False}, SMALL)]),
    "qwen3-instruct-2507": ("Qwen-Qwen3-4B-Instruct-2507.jinja", "qwen3", [({}, ALL)]),
    "qwen3.5": ("Qwen-Qwen3.5-4B.jinja", "qwen3.5", [({}, ALL), ({"enable_thinking": False}, SMALL)]),
    "qwen3.5-nothink": ("Qwen-Qwen3.5-2B.jinja", "qwen3.5", [({}, SMALL), ({"enable_thinking": True}, SMALL)]),
    "qwen3.6": ("Qwen-Qwen3.6-27B.jinja", "qwen3.5", [({}, SMALL), ({"enable_thinking": False}, SMALL),
                                                       ({"preserve_thinking": True}, SMALL)]),
    "qwen3.8": ("Qwen-Qwen3.8-27B.jinja", "qwen3.5", [
        ({}, ALL), ({"enable_thinking": False}, SMALL), ({"reasoning_effort": "low"}, SMALL),
        ({"reasoning_effort": "medium"}, SMALL), ({"preserve_thinking": False}, SMALL)]),
}
# (renderer, tokenizer, data files, whether the tokenizer goes into the directory name)
COOKBOOK_CASES = [
    ("llama3", "llama3", NEW, False), ("qwen3", "qwen3", NEW, False),
    ("qwen3_disable_thinking", "qwen3", SMALL, False), ("qwen3_instruct", "qwen3", SMALL, False),
    ("qwen3_5", "qwen3.5", ALL, False), ("qwen3_5_disable_thinking", "qwen3.5", SMALL, False),
    ("qwen3_5_preserve_thinking", "qwen3.5", SMALL, False), ("qwen3_8_xhigh_reasoning", "qwen3.5", ALL, False),
    ("qwen3_8_medium_reasoning", "qwen3.5", SMALL, False), ("qwen3_8_low_reasoning", "qwen3.5", SMALL, False),
    ("qwen3_8_disable_thinking", "qwen3.5", SMALL, False),
    ("role_colon", "qwen3.5", ALL, True), ("role_colon", "llama3", SMALL, True), ("role_colon", "qwen3", SMALL, True),
]
EXISTING_HF = {"llama3": ("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3"),
               "qwen2.5": ("Qwen-Qwen2.5-7B-Instruct.jinja", "qwen2.5"), "qwen3": ("Qwen-Qwen3-0.6B.jinja", "qwen3")}
EXISTING_COOKBOOK = ("llama3", "qwen3")


# -- the tool-calling and reasoning conversations -------------------------------------------------

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Météo actuelle d'une ville (current weather)",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["C", "F"]}},
                   "required": ["city"]}}}
SEARCH = {"type": "function", "function": {
    "name": "search", "description": "Search the web",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"},
                                                    "filters": {"type": "object"}}, "required": ["query"]}}}
BOOK = {"type": "function", "function": {
    "name": "book_flight", "description": "Book a flight",
    "parameters": {"type": "object", "properties": {"route": {"type": "array"}, "direct": {"type": "boolean"},
                                                    "seat": {"type": "string"}, "budget": {"type": "number"}}}}}
PING = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}


def _call(name: str, arguments: dict, n: int) -> dict:
    return {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": arguments}}


def _weather(city: str, n: int) -> dict:
    return _call("get_weather", {"city": city}, n)


def _tool(n: int, content: str) -> dict:
    return {"role": "tool", "tool_call_id": f"call_{n}", "content": content}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(content: str = "", reasoning: str | None = None, calls: list | None = None) -> dict:
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message


def tools_reasoning_records() -> list[dict]:
    """Each shape once: tool definitions with and without a system prompt, one and several calls
    a turn, text beside calls, results, reasoning in history and in the final turn, inline
    <think> in string content, whitespace the templates trim, non-ASCII, odd argument values."""
    system = {"role": "system", "content": "You are a travel assistant."}
    rich = {"route": ["CDG", "NRT"], "direct": False, "seat": "窓側 (window)", "budget": 1234.5,
            "note": None, "passengers": [{"name": "Zoë", "age": 7}], "count": 2, "flag": True,
            "text": "line one\nline two", "quoted": "\"true\"", "zip": "75001"}
    records = [
        ("one_call", [WEATHER], [system, _user("Weather in Paris?"), _assistant(calls=[_weather("Paris", 1)]),
                                 _tool(1, "Paris: 18C, sunny"), _assistant("It is 18C and sunny in Paris.")]),
        ("two_calls_with_text", [WEATHER, SEARCH], [
            _user("Weather in Oslo and news about it?"),
            _assistant("Let me check both.", calls=[_weather("Oslo", 1), _call("search", {"query": "Oslo news", "limit": 3}, 2)]),
            _tool(1, "Oslo: 4C"), _tool(2, "[1] Oslo opens a new library"), _assistant("4C, and a new library opened.")]),
        ("three_calls_then_follow_up", [WEATHER], [
            system, _user("Paris, Oslo, Lima?"),
            _assistant(calls=[_weather("Paris", 1), _weather("Oslo", 2), _weather("Lima", 3)]),
            _tool(1, "18C"), _tool(2, "4C"), _tool(3, "22C"), _assistant("Paris 18C, Oslo 4C, Lima 22C."),
            _user("Thanks!"), _assistant("You're welcome.")]),
        ("reasoning_final", None, [_user("What is 17 * 3?"), _assistant("51.", reasoning="17 * 3 = 51.")]),
        ("reasoning_history_and_final", None, [
            _user("2+2?"), _assistant("4", reasoning="Two and two make four."),
            _user("And times 3?"), _assistant("12", reasoning="4 * 3 = 12.")]),
        ("reasoning_tool_loop", [WEATHER], [
            system, _user("Should I take an umbrella in Lima?"),
            _assistant(reasoning="I need the weather in Lima first.", calls=[_weather("Lima", 1)]),
            _tool(1, "Lima: light rain"), _assistant("Yes, take one: light rain.", reasoning="Rain means umbrella.")]),
        ("inline_think_with_calls", [WEATHER], [
            _user("Rome?"), _assistant("<think>\nLook it up.\n</think>\n\nChecking.", calls=[_weather("Rome", 1)]),
            _tool(1, "Rome: 25C"), _assistant("<think>\nWarm.\n</think>\n\n25C in Rome.")]),
        ("inline_think_history", None, [
            _user("Q1"), _assistant("<think>\nplan one\n</think>\n\nA1"), _user("Q2"), _assistant("A2")]),
        ("empty_reasoning", None, [_user("Say hi."), _assistant("Hi.", reasoning="")]),
        ("padded_reasoning", None, [_user("Spaces?"), _assistant("  Answer with spaces.  \n",
                                                                 reasoning="\n  step one\n\nstep two  \n")]),
        ("reasoning_only", None, [_user("Think, say nothing."), _assistant("", reasoning="Nothing to say.")]),
        ("rich_arguments", [SEARCH, BOOK], [
            _user("Book CDG to NRT, and search."),
            _assistant("Booking.", calls=[_call("book_flight", rich, 1),
                                          _call("search", {"query": "NRT hotels", "filters": {"stars": [4, 5], "pool": True}}, 2)]),
            _tool(1, "{\"ok\": true}"), _tool(2, "3 hotels"), _assistant("Booked; 3 hotels found.")]),
        ("tool_without_description", [PING], [
            _user("Ping it."), _assistant(calls=[_call("ping", {}, 1)]), _tool(1, "pong"), _assistant("pong")]),
        ("empty_system_with_tools", [WEATHER], [
            {"role": "system", "content": ""}, _user("Bern?"), _assistant(calls=[_weather("Bern", 1)]),
            _tool(1, "Bern: 9C"), _assistant("9C.")]),
        ("padded_system_with_tools", [WEATHER], [
            {"role": "system", "content": "  Be brief.  \n"}, _user("Nice?"), _assistant(calls=[_weather("Nice", 1)]),
            _tool(1, "Nice: 20C"), _assistant("20C.")]),
        ("no_user", None, [system, _assistant("Hello, how can I help?")]),
        ("ends_with_tool_result", [WEATHER], [_user("Quito?"), _assistant(calls=[_weather("Quito", 1)]),
                                              _tool(1, "Quito: 14C")]),
        ("cjk_and_emoji", None, [_user("你好 😀"), _assistant("你好！有什么可以帮你？ 🚀", reasoning="用户在打招呼。")]),
        ("content_whitespace_after_tool", [WEATHER], [
            _user("Graz?"), _assistant("\n", calls=[_weather("Graz", 1)]), _tool(1, "  Graz: 11C  "),
            _assistant("\n\nIt is 11C.\n\n")]),
        ("two_tool_rounds", [WEATHER, SEARCH], [
            system, _user("Weather in Kyiv?"), _assistant(calls=[_weather("Kyiv", 1)]), _tool(1, "Kyiv: 7C"),
            _assistant("7C in Kyiv."), _user("Now search flights there."),
            _assistant("Searching.", reasoning="Use search.", calls=[_call("search", {"query": "flights Kyiv"}, 2)]),
            _tool(2, "No flights."), _assistant("No flights found.", reasoning="Nothing came back.")]),
        ("string_and_scalar_arguments", [SEARCH], [
            _user("Search 75001."),
            _assistant(calls=[_call("search", {"query": "75001", "limit": 75001, "filters": {}}, 1)]),
            _tool(1, "none"), _assistant("Nothing.")]),
        ("tool_result_with_name", [WEATHER], [
            _user("Cork?"), _assistant(calls=[_weather("Cork", 1)]),
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "Cork: 12C"},
            _assistant("12C.")]),
    ]
    return [{"name": name, **({"tools": tools} if tools else {}), "messages": messages}
            for name, tools, messages in records]


# -- reading and writing --------------------------------------------------------------------------

def read_data(name: str) -> list[dict]:
    with gzip.open(DATA / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def write_gz(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def hf_tokenizer(name: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    asset, bos, drop = TOKENIZERS[name]
    spec = json.loads(gzip.decompress((ASSETS / asset).read_bytes()))
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in drop]
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token=bos)


def kwargs_tag(kwargs: dict) -> str:
    """`@enable_thinking=false,reasoning_effort=low`: values as JSON, strings bare ("" for none)."""
    pairs = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in kwargs.items()]
    return "@" + ",".join(pairs) if pairs else ""


# -- transformers ---------------------------------------------------------------------------------

def hf_rows(hf, official: str, tagged: str, records: list[dict], kwargs: dict) -> list[dict]:
    """One golden line per record; the tagged template must write the official text."""
    rows = []
    for record in records:
        messages, tools = copy.deepcopy(record["messages"]), copy.deepcopy(record.get("tools"))
        try:
            text = hf.apply_chat_template(messages, tools=tools, tokenize=False, chat_template=official, **kwargs)
        except Exception as exc:  # the template refuses: so must the tagged one
            try:
                hf.apply_chat_template(messages, tools=tools, tokenize=False, chat_template=tagged, **kwargs)
            except Exception:
                rows.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            raise AssertionError(f"{record.get('name')}: the tagged template renders what the official refuses")
        tagged_text = hf.apply_chat_template(messages, tools=tools, tokenize=False, chat_template=tagged, **kwargs)
        assert tagged_text == text, f"{record.get('name')}: the tagged template writes different text"
        out = hf.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True,
                                     return_assistant_tokens_mask=True, chat_template=tagged, **kwargs)
        rows.append({"tokens": list(out["input_ids"]), "weights": [int(m) for m in out["assistant_masks"]]})
    return rows


def hf_goldens(cases: dict, data_files: dict | None = None, write: bool = True) -> dict[Path, list[dict]]:
    made = {}
    tokenizers = {}
    for template, (official_file, tokenizer, variants) in cases.items():
        hf = tokenizers.setdefault(tokenizer, hf_tokenizer(tokenizer))
        official = (TEMPLATES / "official" / official_file).read_text(encoding="utf-8")
        tagged = (TEMPLATES / f"{template}.jinja").read_text(encoding="utf-8")
        for kwargs, files in variants:
            for name in data_files or files:
                path = GOLDEN / "hf" / (template + kwargs_tag(kwargs)) / f"{name}.jsonl.gz"
                made[path] = hf_rows(hf, official, tagged, read_data(name), kwargs)
                if write:
                    write_gz(path, made[path])
    return made


# -- tinker-cookbook ------------------------------------------------------------------------------

def cookbook_messages(renderer, record: dict) -> list:
    """The record as tinker-cookbook takes it: its own OpenAI conversion, tools as the prefix."""
    from tinker_cookbook.third_party.openai_compat import openai_messages_to_tinker, openai_tools_to_tinker

    messages = copy.deepcopy(record["messages"])
    for message in messages:
        for call in message.get("tool_calls", ()):
            call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    messages = openai_messages_to_tinker(messages)
    if record.get("tools"):
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        rest = messages[1:] if messages[0]["role"] == "system" else messages
        messages = renderer.create_conversation_prefix_with_tools(openai_tools_to_tinker(record["tools"]), system) + rest
    return messages


def cookbook_rows(renderer, records: list[dict]) -> list[dict]:
    from tinker_cookbook.renderers import TrainOnWhat

    rows = []
    for record in records:
        try:
            model_input, weights = renderer.build_supervised_example(cookbook_messages(renderer, record),
                                                                    TrainOnWhat.ALL_ASSISTANT_MESSAGES)
        except Exception as exc:
            rows.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({"tokens": model_input.to_ints(), "weights": [int(w) for w in weights.tolist()]})
    return rows


def cookbook_goldens(cases: list, data_files: tuple | None = None, write: bool = True) -> dict[Path, list[dict]]:
    import tinker_cookbook
    from tinker_cookbook import renderers

    assert tinker_cookbook.__version__ == "0.6.1", tinker_cookbook.__version__
    logging.getLogger("tinker_cookbook").setLevel(logging.ERROR)  # the ALL_ASSISTANT_MESSAGES warning
    made = {}
    for name, tokenizer, files, tagged in cases:
        renderer = renderers.get_renderer(name, hf_tokenizer(tokenizer))
        for data in data_files or files:
            path = GOLDEN / "cookbook" / (name + (f"@tokenizer={tokenizer}" if tagged else "")) / f"{data}.jsonl.gz"
            made[path] = cookbook_rows(renderer, read_data(data))
            if write:
                write_gz(path, made[path])
    return made


# -- main -----------------------------------------------------------------------------------------

def content_sha256(path: Path) -> str:
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def verify_existing(part: str) -> None:
    remade = {}
    if part in ("hf", "all"):
        remade |= hf_goldens({t: (f, tok, [({}, PLAIN)]) for t, (f, tok) in EXISTING_HF.items()}, write=False)
    if part in ("cookbook", "all"):
        remade |= cookbook_goldens([(n, n, PLAIN, False) for n in EXISTING_COOKBOOK], write=False)
    for path, rows in remade.items():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            existing = [json.loads(line) for line in f]
        same = existing == rows
        print(f"{'identical' if same else 'DIFFERENT'}: {path.relative_to(ROOT)} ({len(rows)} rows)")
        assert same, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("hf", "cookbook", "all"), default="all")
    parser.add_argument("--verify-existing", action="store_true")
    args = parser.parse_args()
    if args.verify_existing:
        verify_existing(args.part)
        return
    write_gz(DATA / "tools_reasoning.jsonl.gz", tools_reasoning_records())
    made = {}
    if args.part in ("hf", "all"):
        made |= hf_goldens(HF_CASES)
    if args.part in ("cookbook", "all"):
        made |= cookbook_goldens(COOKBOOK_CASES)
    for path, rows in sorted(made.items()):
        errors = sum("error" in row for row in rows)
        print(f"{path.relative_to(ROOT)}: {len(rows)} rows, {errors} refused")
    for path in [DATA / "tools_reasoning.jsonl.gz", *sorted(made)]:
        print(f"{content_sha256(path)}  {path.relative_to(ROOT / 'tests').as_posix()}")


if __name__ == "__main__":
    main()
