"""The built-in chat formats and the model families they serve: data only.

The command line reads these tables to start a render's tokenizer loading before the rest of
datakit is imported (`datakit.launch`), so this module imports nothing of datakit's and nothing
heavy; `catalog` loads templates from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_DATE_STRING = "26 Jul 2024"  # the Llama 3.1 template's own default
DEFAULT_TEMPLATE = "llama3"  # what `datakit render` uses without --template or --model

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


@dataclass(frozen=True)
class ModelFamily:
    """Models that share a chat format: the template `--model` picks (the official one for chat
    models, tinker-cookbook's role_colon for base models), their tokenizer, and the
    tinker-cookbook 0.6.1 renderers `get_recommended_renderer_names` gives them."""

    name: str
    template: str
    tokenizer: str
    cookbook: tuple[str, ...]
    ids: tuple[str, ...]

    @property
    def templates(self) -> tuple[str, ...]:
        """Every datakit template that fits: the pick, then the cookbook modes datakit has."""
        cookbook = (f"cookbook:{name}" for name in self.cookbook)
        return tuple(dict.fromkeys([self.template, *(name for name in cookbook if name in BUILTIN)]))


_QWEN3_5_COOKBOOK = ("qwen3_5", "qwen3_5_disable_thinking", "qwen3_5_preserve_thinking")
MODEL_FAMILIES = (
    ModelFamily("Llama 3.1 / 3.3 Instruct", "llama3", "llama3", ("llama3",), (
        "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-405B-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct")),
    ModelFamily("Llama 3.2 Instruct", "llama3.2", "llama3", ("llama3",), (
        "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-3B-Instruct")),
    ModelFamily("Llama 3.1 / 3.2 base", "cookbook:role_colon", "llama3", ("role_colon",), (
        "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B")),
    ModelFamily("Qwen2.5 Instruct", "qwen2.5", "qwen2.5", (), tuple(
        f"Qwen/Qwen2.5-{size}-Instruct" for size in ("0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B"))),
    ModelFamily("Qwen3 (hybrid thinking)", "qwen3", "qwen3", ("qwen3", "qwen3_disable_thinking"), tuple(
        f"Qwen/Qwen3-{size}" for size in ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B", "235B-A22B"))),
    ModelFamily("Qwen3 Instruct-2507", "qwen3-instruct-2507", "qwen3", ("qwen3_instruct",), tuple(
        f"Qwen/Qwen3-{size}-Instruct-2507" for size in ("4B", "30B-A3B", "235B-A22B"))),
    ModelFamily("Qwen3 base", "cookbook:role_colon", "qwen3", ("role_colon",), (
        "Qwen/Qwen3-8B-Base", "Qwen/Qwen3-30B-A3B-Base")),
    ModelFamily("Qwen3.5", "qwen3.5", "qwen3.5", _QWEN3_5_COOKBOOK, tuple(
        f"Qwen/Qwen3.5-{size}" for size in ("4B", "9B", "27B", "35B-A3B", "397B-A17B"))),
    ModelFamily("Qwen3.5 small (no thinking by default)", "qwen3.5-nothink", "qwen3.5", (), ("Qwen/Qwen3.5-2B",)),
    ModelFamily("Qwen3.5 base", "cookbook:role_colon", "qwen3.5", ("role_colon",), (
        "Qwen/Qwen3.5-9B-Base", "Qwen/Qwen3.5-35B-A3B-Base")),
    ModelFamily("Qwen3.6", "qwen3.6", "qwen3.5", _QWEN3_5_COOKBOOK, (
        "Qwen/Qwen3.6-27B", "Qwen/Qwen3.6-35B-A3B", "Qwen/Qwen3.6-27B-FP8", "Qwen/Qwen3.6-35B-A3B-FP8")),
    ModelFamily("Qwen3.8", "qwen3.8", "qwen3.5", (
        "qwen3_8_xhigh_reasoning", "qwen3_8_disable_thinking", "qwen3_8_medium_reasoning", "qwen3_8_low_reasoning"), (
        "Qwen/Qwen3.8-27B", "Qwen/Qwen3.8-27B-FP8")),
)


def find_family(model_id: str) -> ModelFamily | None:
    """The family of a model id such as `Qwen/Qwen3.6-27B`, if datakit knows it (a `:checkpoint`
    suffix is ignored, as tinker-cookbook ignores it; case does not matter, as on the hub)."""
    wanted = model_id.split(":", 1)[0].strip().lower()
    return next((family for family in MODEL_FAMILIES if any(wanted == known.lower() for known in family.ids)), None)
