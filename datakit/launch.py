"""The `datakit` command's entry point: start a render's tokenizer loading, then run the command
line (`cli`).

A bundled tokenizer's encoder takes about a second of one core to load, and importing datakit's
dependencies (numpy, pyarrow, jinja2) a quarter of a second more, one after the other. So before
anything heavy is imported, the arguments of `datakit render` are read for the tokenizer they
choose, when they choose one plainly, and that tokenizer starts loading on a thread
(`bundled.start_bundled`) while the command line is imported and parses the arguments for real.
The render takes the load over if it is the tokenizer it resolves and ignores it otherwise: a
wrong guess costs time, never a different result.
"""

from __future__ import annotations

import sys

from .bundled import BUNDLED, StartedBundle, start_bundled
from .render.formats import ALIASES, BUILTIN, DEFAULT_TEMPLATE, find_family

# The options of `datakit render` that choose its tokenizer (and --engine: only the local engine
# loads one in this process), by the key they are read into.
_CHOOSING = {"-t": "template", "--template": "template", "--model": "model", "--tokenizer": "tokenizer",
             "--engine": "engine"}


def main() -> None:
    try:
        started = start_render_tokenizer(sys.argv[1:])
        from .cli import main as command_line
    except KeyboardInterrupt:  # Ctrl-C while the command line is still being imported
        sys.exit(130)
    command_line(obj=started)


def start_render_tokenizer(args: list[str]) -> StartedBundle | None:
    """Start loading the bundled tokenizer `datakit ARGS` renders with (`render_tokenizer`), if any."""
    name = render_tokenizer(args)
    return start_bundled(name) if name else None


def render_tokenizer(args: list[str]) -> str | None:
    """The bundled tokenizer `datakit ARGS` loads, if ARGS are a render's and say so plainly
    (each choosing option at most once, no help); else None."""
    chosen = _choosing_options(args[1:]) if args[:1] == ["render"] else None
    if chosen is None or chosen.get("engine", "local") != "local":
        return None
    if "tokenizer" in chosen:
        name: str | None = chosen["tokenizer"]
    elif "model" in chosen:
        family = find_family(chosen["model"])
        name = family.tokenizer if family else None
    else:
        template = chosen.get("template", DEFAULT_TEMPLATE)
        builtin = BUILTIN.get(ALIASES.get(template, template))
        name = builtin.tokenizer if builtin else None
    return name if name in BUNDLED else None


def _choosing_options(args: list[str]) -> dict[str, str] | None:
    """The values of the `_CHOOSING` options in ARGS by key; None if they are not plain."""
    chosen: dict[str, str] = {}
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            break
        if arg in ("-h", "--help"):
            return None
        if arg.startswith("--"):
            option, equals, attached = arg.partition("=")
        elif arg.startswith("-t") and len(arg) > 2:
            option, equals, attached = "-t", "=", arg[2:]
        elif arg.startswith("-") and "t" in arg and arg != "-t":
            return None  # a cluster of short options such as -qt: not plain
        else:
            option, equals, attached = arg, "", ""
        key = _CHOOSING.get(option)
        if key is None:
            continue
        value = attached if equals else next(rest, None)
        if value is None or key in chosen:
            return None
        chosen[key] = value
    return chosen
