"""The built-in chat formats (templates/*.jinja) and how a template name or file is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .chat_template import ChatTemplate, TemplateError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATE_STRING = "26 Jul 2024"  # the Llama 3.1 template's own default

_ROLES = frozenset({"system", "user", "assistant", "tool"})
_LLAMA_ROLES = _ROLES | {"ipython"}


@dataclass(frozen=True)
class Builtin:
    """A built-in chat format: its template file (generation-tagged) and what goes with it."""

    file: str
    tokenizer: str | None  # None: the user names one (tinker-cookbook's role_colon takes any)
    bos_token: str | None = None
    roles: frozenset[str] = _ROLES
    dated: bool = False  # the template stamps `date_string` into its system header
    reasoning: bool = False  # the template writes `reasoning_content`
    thinks_by_default: bool = True  # without enable_thinking, the generation prompt opens <think>
    variables: tuple[tuple[str, Any], ...] = ()  # set for the template (a cookbook mode's name)


def _cookbook(file: str, tokenizer: str | None, renderer: str) -> Builtin:
    """tinker-cookbook renderer `renderer` as datakit's template `file` (one file serves a family)."""
    return Builtin(file, tokenizer, reasoning=True, variables=(("cookbook_renderer", renderer),))


BUILTIN: dict[str, Builtin] = {
    "llama3": Builtin("llama3.jinja", "llama3", "<|begin_of_text|>", _LLAMA_ROLES, dated=True),
    "llama3.2": Builtin("llama3.2.jinja", "llama3", "<|begin_of_text|>", _LLAMA_ROLES, dated=True),
    "qwen2.5": Builtin("qwen2.5.jinja", "qwen2.5"),
    "qwen3": Builtin("qwen3.jinja", "qwen3", reasoning=True),
    "qwen3-instruct-2507": Builtin("qwen3-instruct-2507.jinja", "qwen3"),
    "qwen3.5": Builtin("qwen3.5.jinja", "qwen3.5", reasoning=True),
    "qwen3.5-nothink": Builtin("qwen3.5-nothink.jinja", "qwen3.5", reasoning=True, thinks_by_default=False),
    "qwen3.6": Builtin("qwen3.6.jinja", "qwen3.5", reasoning=True),
    "qwen3.8": Builtin("qwen3.8.jinja", "qwen3.5", reasoning=True),
    # tinker-cookbook 0.6.1's renderers, by their names there
    "cookbook:llama3": Builtin("llama3-cookbook.jinja", "llama3", "<|begin_of_text|>"),
    **{f"cookbook:{name}": _cookbook("qwen3-cookbook.jinja", "qwen3", name)
       for name in ("qwen3", "qwen3_disable_thinking", "qwen3_instruct")},
    **{f"cookbook:{name}": _cookbook("qwen3.5-cookbook.jinja", "qwen3.5", name)
       for name in ("qwen3_5", "qwen3_5_disable_thinking", "qwen3_5_preserve_thinking", "qwen3_8_xhigh_reasoning",
                    "qwen3_8_medium_reasoning", "qwen3_8_low_reasoning", "qwen3_8_disable_thinking")},
    "cookbook:role_colon": Builtin("role-colon-cookbook.jinja", None),
}
ALIASES = {"llama3-cookbook": "cookbook:llama3", "qwen3-cookbook": "cookbook:qwen3"}  # the 0.1 names


def builtin_template_source(file_name: str) -> str:
    return (PACKAGE_DIR / "templates" / file_name).read_text(encoding="utf-8")


def load_template(name_or_path: str, date_string: str = DEFAULT_DATE_STRING) -> ChatTemplate:
    """A built-in chat format by name, or a Jinja file marked up with `{% generation %}`."""
    name_or_path = ALIASES.get(name_or_path, name_or_path)
    builtin = BUILTIN.get(name_or_path)
    if builtin is not None:
        variables = ((("date_string", date_string),) if builtin.dated else ()) + builtin.variables
        return ChatTemplate(name_or_path, builtin_template_source(builtin.file), builtin.tokenizer,
                            builtin.bos_token, builtin.roles, variables, builtin.reasoning,
                            builtin.thinks_by_default)
    path = Path(name_or_path)
    if not path.is_file():
        raise TemplateError(f"unknown template {name_or_path!r}: use one of {', '.join(BUILTIN)} or a .jinja file")
    source = path.read_text(encoding="utf-8")
    if "generation" not in source or "endgeneration" not in source:
        raise TemplateError(
            f"{path}: the template marks nothing trainable; wrap each assistant turn's "
            "content and end-of-turn token in {% generation %}...{% endgeneration %}"
        )
    template = ChatTemplate(path.name, source, None, None, variables=(("date_string", date_string),))
    template.compiled  # fail on syntax errors now, not on the first row
    return template
