"""Personalisation: spintax, sandboxed Jinja2, validation with line and column, and a list
of known template-injection payloads that are refused or render nothing dangerous."""

from __future__ import annotations

import pytest

from penguinmails.mail.personalize import (
    MAX_BLOCK_NESTING,
    MAX_NESTING,
    SAMPLE_LEAD,
    RenderBudget,
    TemplateRenderError,
    TemplateTooExpensive,
    context_for,
    render,
    spin,
    validate,
    variables_used,
)

LEAD = {
    "first_name": "Grace",
    "company": "Navy <R&D>",
    "custom_fields": {"industry": "Compilers"},
}


def test_lead_fields_custom_columns_and_defaults() -> None:
    body = '<p>{Hi|Hello} {{ first_name | default("there", true) }} at {{ company }}, {{ custom.industry }}{{ custom.missing }}.</p>'
    out = render(body, context_for(LEAD), "lead-1:step-1", html=True)
    assert "Grace at Navy &lt;R&amp;D&gt;, Compilers." in out  # HTML-escaped lead data
    nobody = render(body, context_for({}), "lead-2:step-1", html=True)
    assert "there at , ." in nobody
    subject = render("{{ company }} & you", context_for(LEAD), "s", html=False)
    assert subject == "Navy <R&D> & you"  # the subject is text, not escaped


def test_spintax_is_deterministic_per_lead_and_step() -> None:
    text = "{Hi|Hello|Hey} {there|friend}, {{ first_name | default('x') }} {a|{b|c}}"
    assert spin(text, "l1:s1") == spin(text, "l1:s1")
    outcomes = {spin(text, f"l{i}:s1") for i in range(40)}
    assert len(outcomes) > 3
    for out in outcomes:
        assert "{{ first_name | default('x') }}" in out  # Jinja tags untouched
        assert out.split()[0] in ("Hi", "Hello", "Hey")
        assert out.rsplit(" ", 1)[1] in ("a", "b", "c")


def test_validation_reports_line_and_column() -> None:
    source = "Hello {{ first_name }}\n<p>{{ frist_name }} and {{ custom.x }}</p>\n{% if %}"
    problems = validate(source)
    assert [(p.kind, p.line, p.column) for p in problems] == [("syntax", 3, 1)]
    problems = validate("Hello {{ first_name }}\n<p>x {{ frist_name }} {{ company }}</p>")
    assert [(p.kind, p.line, p.column) for p in problems] == [("unknown_variable", 2, 9)]
    assert "frist_name" in problems[0].message
    problems = validate("line one\n  {{ first_name | default('a' }}")
    assert problems[0].kind == "syntax" and (problems[0].line, problems[0].column) == (2, 3)
    assert validate("{% for x in custom %}{{ x }}{% endfor %}{% set y = 1 %}{{ y }}") == []
    assert variables_used("{{ first_name }} {{ custom.a }} {{ zz }}") == ["custom", "first_name"]


PAYLOADS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% import os %}",
    "{% import 'os' as os %}{{ os }}",
    "{% from 'os' import system %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ lipsum.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__ }}",
    "{{ config.items() }}",
    "{{ range.__call__ }}",
    "{{ custom.__class__.__base__.__subclasses__() }}",
    "{{ first_name.__class__.__mro__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ [].append.__self__ }}",
    "{{ custom.update({'a': 1}) }}",
    "{% set x = custom.pop('industry') %}{{ x }}",
    "{{ 'x' * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ range(10000000) | list }}",
    "{{ ''|attr('__class__') }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{{ dict(__class__=1) }}",
    "{{ sender.__class__ }}",
]
DANGEROUS = ("<class", "uid=", "root:", "<module", "<built-in", "<function", "<bound", "os.popen")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_are_refused_or_harmless(payload: str) -> None:
    try:
        out = render(payload, context_for(SAMPLE_LEAD), "seed", html=False)
    except TemplateRenderError:
        return  # refused at render time
    # Whether or not saving refuses it (`validate`), what it renders is harmless.
    assert not any(marker in out for marker in DANGEROUS), (payload, out[:200])


@pytest.mark.parametrize("depth", [74, 10_000])
def test_any_nesting_depth_is_a_syntax_error_with_its_position(depth: int) -> None:
    for source in (
        "{" * depth,
        "Hi {{ first_name }}\n<p>{{ " + "(" * depth,
        "{% if " + "[" * depth,
    ):
        problems = validate(source, "subject")
        assert len(problems) == 1, problems
        problem = problems[0]
        assert (problem.kind, problem.field) == ("syntax", "subject")
        assert "nested deeper than" in problem.message
        assert problem.line == source.count("\n") + 1 and problem.column >= 1
        with pytest.raises(TemplateRenderError, match="nested deeper"):
            render(source, context_for({}), "s", html=True)
    # What the token scan does not count still ends as a syntax error, not a crash.
    (problem,) = validate("{{ " + "not " * 5000 + "1 }}")
    assert problem.kind == "syntax" and "nested too deeply" in problem.message
    with pytest.raises(TemplateRenderError):
        render("{{ " + "not " * 5000 + "1 }}", context_for({}), "s", html=False)


def test_nesting_within_the_bound_is_accepted() -> None:
    ok = "{{ " + "(" * MAX_NESTING + "1" + ")" * MAX_NESTING + " }}"
    assert validate(ok) == []
    assert render(ok, context_for({}), "s", html=False) == "1"
    # Literal brackets outside tags are text.
    assert validate("(" * 500 + "[" * 500) == []

    # Blocks: up to MAX_BLOCK_NESTING (Python's compiler refuses more than 20 nested loops).
    def loops(n: int) -> str:
        return "".join(f"{{% for a{i} in [1] %}}" for i in range(n)) + "x{% endfor %}" * n

    assert validate(loops(MAX_BLOCK_NESTING)) == []
    assert (
        render(loops(MAX_BLOCK_NESTING), context_for({}), "s", html=False)
        == "x" * MAX_BLOCK_NESTING
    )
    for n in (MAX_BLOCK_NESTING + 1, 22, 5000):
        (problem,) = validate(loops(n))
        assert problem.kind == "syntax" and "blocks nested deeper than" in problem.message
        with pytest.raises(TemplateRenderError):
            render(loops(n), context_for({}), "s", html=False)


RUNAWAYS = {
    "steps": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "written": "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
    "captured": "{% set b %}{% for i in range(100000) %}0123456789ab{% endfor %}{% endset %}",
    "built": "{% set x = 'a' * 1000000 %}{% set y = x ~ x %}{% set z = x + x %}",
    "macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    "{{ f(40) }}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
}


@pytest.mark.parametrize("name", sorted(RUNAWAYS))
def test_a_runaway_render_stops_at_its_budget(name: str) -> None:
    budget = RenderBudget(max_steps=200_000, max_output_chars=1_000_000, timeout_seconds=60)
    with pytest.raises(TemplateTooExpensive) as caught:
        render(RUNAWAYS[name], context_for({}), "s", html=True, budget=budget)
    assert caught.value.code == "template_too_expensive"


def test_the_time_budget_stops_a_render_within_its_steps() -> None:
    budget = RenderBudget(max_steps=10**12, timeout_seconds=0.01)
    with pytest.raises(TemplateTooExpensive, match=r"longer than 0\.01 s"):
        render(RUNAWAYS["steps"], context_for({}), "s", html=False, budget=budget)


def test_budget_from_settings_and_ordinary_templates_fit() -> None:
    from penguinmails.settings import Settings

    settings = Settings(template_render_max_steps=7, template_render_timeout_seconds=0.5)
    assert RenderBudget.of(settings) == RenderBudget(7, 1_000_000, 0.5)
    body = "{% for k, v in custom.items() %}{{ k }}={{ v }};{% endfor %}"
    out = render(body, context_for(SAMPLE_LEAD), "s", html=False)
    assert out == "industry=Computing;city=London;"
    with pytest.raises(TemplateTooExpensive):
        render(body, context_for(SAMPLE_LEAD), "s", html=False, budget=RenderBudget.of(settings))


def test_spintax_around_unclosed_openers_and_literal_braces() -> None:
    # An opener without its closer is text, and spintax after it still resolves.
    out = spin("{{ a " + "{% x " * 1000 + "{#" * 1000 + " {yes|yes}", "s")
    assert out.endswith(" yes") and out.count("{%") == 1000
    # A group without `|` is text, and so is any group around it; unclosed groups too.
    assert spin("{a|{b}} {x {c|c} } {d|d", "s") == "{a|{b}} {x c } {d|d"
    assert spin("}{a|a}}", "s") == "}a}"
    assert spin("{{ x|default('{y|z}') }} {p|p}", "s") == "{{ x|default('{y|z}') }} p"


def test_at_most_max_problems_are_reported() -> None:
    from penguinmails.mail.personalize import MAX_PROBLEMS

    source = "\n".join(f"{{{{ v{i} }}}}" for i in range(3 * MAX_PROBLEMS))
    problems = validate(source)
    assert len(problems) == MAX_PROBLEMS
    assert [p.line for p in problems] == list(range(1, MAX_PROBLEMS + 1))
