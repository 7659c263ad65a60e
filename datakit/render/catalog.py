"""How a template name or file is loaded, and which template and tokenizer a model id means
(the tables are in `formats`)."""

from __future__ import annotations

from pathlib import Path

from .chat_template import ChatTemplate, TemplateError
from .formats import ALIASES, BUILTIN, DEFAULT_DATE_STRING, MODEL_FAMILIES, ModelFamily, find_family

PACKAGE_DIR = Path(__file__).resolve().parent.parent

__all__ = ["ALIASES", "BUILTIN", "DEFAULT_DATE_STRING", "MODEL_FAMILIES", "ModelFamily", "builtin_template_source",
           "load_template", "model_family", "model_template", "resolve_model", "tokenizer_name"]


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
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: not UTF-8 text (byte {exc.start}); a chat template is a UTF-8 Jinja file") from None
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if "generation" not in source or "endgeneration" not in source:
        raise TemplateError(
            f"{path}: the template marks nothing trainable; wrap each assistant turn's "
            "content and end-of-turn token in {% generation %}...{% endgeneration %}"
        )
    template = ChatTemplate(path.name, source, None, None, variables=(("date_string", date_string),), limited=True)
    template.compiled  # fail on syntax errors now, not on the first row
    return template


def model_family(model_id: str) -> ModelFamily:
    """The family of a known model id (`formats.find_family`); else TemplateError."""
    family = find_family(model_id)
    if family is None:
        raise TemplateError(f"unknown model {model_id!r}: datakit knows {'; '.join(f.name for f in MODEL_FAMILIES)} "
                            "(the ids are in README.md, 'Which template for my model'); otherwise pass --template "
                            "and --tokenizer")
    return family


def model_template(model_id: str) -> tuple[str, str]:
    """The template and tokenizer `--model` picks for a known model id."""
    family = model_family(model_id)
    return family.template, family.tokenizer


def resolve_model(model_id: str, template: str | None, tokenizer: str | None) -> tuple[str, str]:
    """`--model` with an optional `--template` / `--tokenizer`, which must fit the model."""
    family = model_family(model_id)
    if template is not None and ALIASES.get(template, template) not in family.templates:
        raise TemplateError(f"--template {template} does not fit --model {model_id}: use "
                            f"{' or '.join(family.templates)} (or leave --template out)")
    if tokenizer is not None and tokenizer != family.tokenizer:
        raise TemplateError(f"--tokenizer {tokenizer} does not fit --model {model_id}, whose tokenizer is "
                            f"{family.tokenizer} (leave --tokenizer out)")
    return ALIASES.get(template, template) if template else family.template, family.tokenizer


def tokenizer_name(template: ChatTemplate, tokenizer: str | None) -> str:
    """The tokenizer to load: the one asked for, else the template's (raises TemplateError)."""
    name = tokenizer or template.tokenizer
    if name is None:
        takes = "llama3, qwen3 or qwen3.5" if template.name == "cookbook:role_colon" else "a bundled name"
        raise TemplateError(f"template {template.name} has no tokenizer of its own: pass --tokenizer ({takes}, "
                            "a directory with tokenizer.json) or --model ORG/NAME")
    return name
