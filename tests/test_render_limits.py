"""A template from a file that fails, loops for ever or builds a huge string makes its record a
reject within the documented bounds (`datakit.render.limits`), never a traceback or a hang."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

import datakit.render.limits as limits
from conftest import bundle
from datakit.render import Renderer, RenderError, load_template

BODY = ("{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
        "{% if m.role == 'assistant' %}{% generation %}{{ m.content }}<|eot_id|>{% endgeneration %}"
        "{% else %}{{ m.content }}<|eot_id|>{% endif %}{% endfor %}")
CHAT = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
FOREVER = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def renderer_for(tmp_path: Path, prelude: str) -> Renderer:
    path = tmp_path / "user.jinja"
    path.write_text(prelude + BODY, encoding="utf-8")
    return Renderer(load_template(str(path)), bundle("llama3"))


@pytest.mark.parametrize("prelude,reason", [
    ("{{ 1/0 }}", "template_error"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "template_error"),
    ("{{ 10 ** 100000 }}", "template_too_large"),
    ("{% for i in range(10**9) %}{% endfor %}", "template_too_large"),
    ("{{ 'x' * 10**9 }}", "template_too_large"),
    ("{{ [0] * 10**9 }}", "template_too_large"),
    ("{{ 'ab' | center(10**9) }}", "template_too_large"),
    ("{{ 'ab'.ljust(10**9) }}", "template_too_large"),
    ("{{ '%1000000000d' % 1 }}", "template_too_large"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "template_too_large"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "template_too_large"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set b %}{{ ns.s }}{{ ns.s }}{% endset %}"
     "{% set ns.s = b %}{% endfor %}", "template_too_large"),
    # datakit's reserved characters made out of numbers or escapes: they could forge a marker
    ("{{ '%c' % 983041 }}", "template_error"),
    ("{{ '{:c}'.format(983044) }}", "template_error"),
    ("{{ 'a'.translate({97: 983040}) }}", "template_error"),
])
def test_a_template_that_fails_or_grows_without_bound_is_a_reject(tmp_path, prelude, reason):
    got, = renderer_for(tmp_path, prelude).render_batch([CHAT])
    assert isinstance(got, RenderError), got
    assert got.reason == reason, got.detail


def test_a_template_that_loops_for_ever_is_a_timeout_reject(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_SECONDS", 0.3)
    r = renderer_for(tmp_path, FOREVER)
    before = signal.getsignal(signal.SIGPROF)
    got, = r.render_batch([CHAT])
    assert isinstance(got, RenderError) and got.reason == "template_timeout", got
    assert "0.3 s of CPU time" in got.detail
    # The timer and the handler are gone once the record is done.
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0) and signal.getsignal(signal.SIGPROF) == before


def test_a_template_within_the_bounds_renders_as_before(tmp_path):
    fine = renderer_for(tmp_path, "{% set ns = namespace(s='x') %}{% for i in range(10) %}"
                                  "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}{{ '%s!' % 'hi' }}"
                                  "{{ ['a', 'b'] | join('<|eot_id|>') }}{% macro m() %}<|eot_id|>{% endmacro %}{{ m() }}")
    out = fine.render(CHAT)
    text = fine.tokenizer.full.decode(out.tokens.tolist(), skip_special_tokens=False)
    assert text.startswith("1024hi!a<|eot_id|>b<|eot_id|><|start_header_id|>user")


def test_without_the_main_thread_a_template_still_renders(tmp_path):
    """The CPU timer needs the main thread; elsewhere the record renders without it."""
    r = renderer_for(tmp_path, "")
    results = []
    worker = threading.Thread(target=lambda: results.append(r.render_batch([CHAT])[0]))
    worker.start()
    worker.join()
    assert not isinstance(results[0], RenderError)


def test_built_in_templates_run_unchecked_and_files_run_limited():
    assert load_template("llama3").compiled.environment.__class__ is not limits.LimitedEnvironment
    assert isinstance(Renderer(load_template("qwen3"), bundle("qwen3"))._owned.compiled.environment,
                      type(load_template("qwen3").compiled.environment))
