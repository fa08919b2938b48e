"""Template personalisation: spintax, then Jinja2 in a sandbox. Pure functions.

- Variables: the lead's fields (`first_name`, `last_name`, `email`, `company`, `position`,
  `timezone`), its metadata columns under `custom` (`{{ custom.industry }}`), the sender
  (`sender.name`, `sender.email`, `sender.signature`) and `unsubscribe_url`. A missing
  value renders empty, so `{{ first_name | default("there", true) }}` works.
- Spintax: `{Hi|Hello|Hey}` outside Jinja tags, nestable; the choice is deterministic per
  (lead, step) and per position in the text, so a retried send renders the same message.
- Safety: `ImmutableSandboxedEnvironment` (no attribute starting with `_`, no mutation of
  objects, no unsafe callables), no loader (so no `import`/`include`/`extends`, which are
  also refused at validation), autoescaping of the HTML body.
- Validation reports syntax errors, unknown variables and forbidden tags with line and
  column (1-based), the first `MAX_PROBLEMS` of them. Brackets nested deeper than
  `MAX_NESTING` and blocks deeper than `MAX_BLOCK_NESTING` are a syntax error found by
  scanning the lexer's tokens (no recursion), before Jinja's recursive parser could
  exhaust the stack or Python's compiler refuse the code.
- Budget (`RenderBudget`, from Settings): every loop iteration, call, attribute or item
  read and output expression costs a step; the characters written (inside macros and
  captured blocks too) and any string built by `~`, `+` or `*` are counted. Past
  `max_steps`, `max_output_chars` or `timeout_seconds` the render raises
  TemplateTooExpensive from inside the loop that overran, so the thread stops working at
  once. The checks live in the sandbox rather than in a killed worker process: they are
  deterministic (the same template fails at the same step on any machine), cost a counter
  increment, and need no process pool; `render_async` runs the render in a thread so the
  event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from jinja2 import TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

if TYPE_CHECKING:
    from penguinmails.settings import Settings

LEAD_FIELDS = ("first_name", "last_name", "email", "company", "position", "timezone")
KNOWN_VARIABLES = frozenset((*LEAD_FIELDS, "custom", "sender", "unsubscribe_url"))
FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
)
MAX_TEMPLATE_CHARS = 200_000
MAX_OUTPUT_CHARS = 1_000_000
# Brackets inside an expression, and blocks (if, for, macro...) inside each other. Jinja's
# parser recurses per level (about 74 `{` reach Python's recursion limit), and Python's
# compiler refuses more than 20 nested loops; no real template needs more than a handful.
MAX_NESTING = 20
MAX_BLOCK_NESTING = 10
# Problems reported per field: the first ones by line.
MAX_PROBLEMS = 50
_BLOCKS = frozenset(("if", "for", "macro", "call", "filter", "with", "block", "autoescape"))

SAMPLE_LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "company": "Analytical Engines Ltd",
    "position": "Head of Computing",
    "timezone": "Europe/London",
    "custom": {"industry": "Computing", "city": "London"},
}

_OPENER = re.compile(r"\{[{%#]")
_CLOSERS = {"{": "}}", "%": "%}", "#": "#}"}
_BRACE = re.compile(r"[{}]")


@dataclass(frozen=True)
class TemplateProblem:
    kind: str  # syntax, unknown_variable, forbidden
    message: str
    line: int
    column: int
    field: str = "body"  # body or subject


class TemplateRenderError(Exception):
    code = "template_invalid"


class TemplateTooExpensive(TemplateRenderError):
    """Over its RenderBudget: not retryable, the same template fails the same way."""

    code = "template_too_expensive"


@dataclass(frozen=True)
class RenderBudget:
    max_steps: int = 1_000_000
    max_output_chars: int = MAX_OUTPUT_CHARS
    timeout_seconds: float = 2.0

    @classmethod
    def of(cls, settings: Settings) -> RenderBudget:
        return cls(
            max_steps=settings.template_render_max_steps,
            max_output_chars=settings.template_render_max_output_chars,
            timeout_seconds=settings.template_render_timeout_seconds,
        )


class _Meter:
    """One render's spending; read by the sandbox's hooks through `_METER`."""

    __slots__ = ("budget", "deadline", "steps", "written")

    def __init__(self, budget: RenderBudget) -> None:
        self.budget = budget
        self.deadline = time.monotonic() + budget.timeout_seconds
        self.steps = 0
        self.written = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.budget.max_steps:
            raise TemplateTooExpensive(
                f"the template takes more than {self.budget.max_steps} steps "
                "(loop iterations, calls, reads)"
            )
        if not self.steps & 0x3FF and time.monotonic() > self.deadline:
            raise TemplateTooExpensive(
                f"the template takes longer than {self.budget.timeout_seconds:g} s to render"
            )

    def write(self, chars: int) -> None:
        self.written += chars
        if self.written > self.budget.max_output_chars:
            raise TemplateTooExpensive(
                f"the template writes more than {self.budget.max_output_chars} characters"
            )

    def built(self, value: Any) -> None:
        if isinstance(value, str | list | tuple) and len(value) > self.budget.max_output_chars:
            raise TemplateTooExpensive(
                f"the template builds a value of more than {self.budget.max_output_chars} "
                "characters"
            )


_METER: ContextVar[_Meter | None] = ContextVar("template_meter", default=None)


def _tick() -> None:
    meter = _METER.get()
    if meter is not None:
        meter.tick()


class _Sandbox(ImmutableSandboxedEnvironment):
    """Bounds `*` and `**`, sizes what `+`, `*` and `~` build, and charges the render's
    budget for every call, read, loop iteration and output expression."""

    intercepted_binops = frozenset(["*", "**", "+"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
            return left**right
        if operator == "+":
            return self.budget_built(left + right)
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(times, int)
                and len(seq) * times > MAX_OUTPUT_CHARS
            ):
                raise SecurityError("repetition too large")
        return self.budget_built(left * right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def budget_built(self, value: Any) -> Any:
        meter = _METER.get()
        if meter is not None:
            meter.built(value)
        return value


# Filters `_Metered` adds to a template: a filter is a direct call in the compiled code,
# where a call expression would go through the sandbox's checks at every use. Each takes
# the context so that Jinja never evaluates it once at compile time (constant folding).
@pass_context
def _metered_iter(_: Any, iterable: Iterable[Any]) -> Iterator[Any]:
    meter = _METER.get()
    for item in iterable:
        if meter is not None:
            meter.tick()
        yield item


@pass_context
def _metered_out(_: Any, value: Any) -> Any:
    meter = _METER.get()
    if meter is not None:
        meter.tick()
        meter.write(len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_context
def _metered_text(_: Any, value: str, chars: int) -> str:
    """The literal text of an output node, charged in one step."""
    meter = _METER.get()
    if meter is not None:
        meter.tick()
        meter.write(chars)
    return value


@pass_context
def _metered_built(_: Any, value: Any) -> Any:
    meter = _METER.get()
    if meter is not None:
        meter.built(value)
    return value


_METERS = {
    "_pm_iter": _metered_iter,
    "_pm_out": _metered_out,
    "_pm_text": _metered_text,
    "_pm_built": _metered_built,
}


def _env(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = _Sandbox(autoescape=autoescape, keep_trailing_newline=True)
    env.filters.update(_METERS)
    return env


def _metered(name: str, node: nodes.Node, *args: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(node, name, list(args), [], None, None, lineno=node.lineno)


class _Metered(NodeTransformer):
    """Routes every loop's iterable, every output node and expression and every `~`
    through the budget's filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _metered("_pm_iter", node.iter)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        chars = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
        text = nodes.Const("", lineno=node.lineno)
        node.nodes = [
            _metered("_pm_text", text, nodes.Const(chars)),
            *(
                c if isinstance(c, nodes.TemplateData) else _metered("_pm_out", c)
                for c in node.nodes
            ),
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _metered("_pm_built", node)


def _nesting_error(text: str) -> TemplateSyntaxError | None:
    """Brackets and blocks nested deeper than MAX_NESTING, found on the lexer's tokens
    (iterative, unlike the parser). None when within bounds; the lexer's own syntax errors
    (an unbalanced bracket) are left for the parser to report."""
    brackets = blocks = 0
    after_block_begin = False
    try:
        for lineno, kind, value in _TEXT_ENV.lex(text):
            if kind == "whitespace":
                continue
            if kind == "operator" and value in "([{":
                brackets += 1
                if brackets > MAX_NESTING:
                    return TemplateSyntaxError(
                        f"brackets nested deeper than {MAX_NESTING} levels", lineno
                    )
            elif kind == "operator" and value in ")]}":
                brackets = max(brackets - 1, 0)
            elif after_block_begin and kind == "name":
                if value in _BLOCKS:
                    blocks += 1
                    if blocks > MAX_BLOCK_NESTING:
                        return TemplateSyntaxError(
                            f"blocks nested deeper than {MAX_BLOCK_NESTING} levels", lineno
                        )
                elif value.startswith("end") and value[3:] in _BLOCKS:
                    blocks = max(blocks - 1, 0)
            elif kind in ("variable_end", "block_end"):
                brackets = 0
            after_block_begin = kind == "block_begin"
    except TemplateSyntaxError:
        return None
    return None


def _parse(env: ImmutableSandboxedEnvironment, text: str) -> nodes.Template:
    """Jinja's parse, bounded: too deep a nesting is a TemplateSyntaxError, never a
    RecursionError (kept as a backstop for recursions the token scan does not see, such
    as a long chain of `not`)."""
    error = _nesting_error(text)
    if error is not None:
        raise error
    try:
        return env.parse(text)
    except RecursionError:
        raise TemplateSyntaxError("the template is nested too deeply", 1) from None


_HTML_ENV = _env(True)
_TEXT_ENV = _env(False)


# --- spintax -------------------------------------------------------------------------------


def _choose(options: list[str], seed: str, position: int) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{position}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def _split_tags(text: str) -> list[str]:
    """Plain text and Jinja tags alternating (even indexes text, odd ones tags). A tag runs
    from `{{`, `{%` or `{#` to the first matching closer; an opener without one is text.
    Linear: each closer's next position is searched for once and remembered (a regex with
    `.*?` rescanned the rest of the text from every unclosed opener, minutes on 200 KB)."""
    parts: list[str] = []
    start = pos = 0
    next_close: dict[str, int] = {}
    while match := _OPENER.search(text, pos):
        at = match.start()
        closer = _CLOSERS[text[at + 1]]
        end = next_close.get(closer)
        if end is None or (end != -1 and end < at + 2):
            end = next_close[closer] = text.find(closer, at + 2)
        if end == -1:  # none after this opener, so none after any later one either
            pos = at + 1
            continue
        parts += [text[start:at], text[at : end + 2]]
        start = pos = end + 2
    parts.append(text[start:])
    return parts


def _spin_text(text: str, seed: str, position: int) -> tuple[str, int]:
    """Spintax groups of plain text resolved in the order their `}` comes, which is
    innermost first, leftmost first. A `{...}` without `|` stays as it is, and so does any
    group around it. Returns the text and the next position.

    Linear in the text: pieces go to one list; an open group is where its `{` sits in it.
    A group is joined only if nothing inside it was kept as text, and then replaced by its
    choice, so no piece is copied twice (rebuilding the text per group, or joining at every
    level of 100,000 nested braces, took seconds to minutes)."""
    out: list[str] = []
    starts: list[int] = []  # open groups: index of their `{` in out
    braced: list[bool] = []  # and whether a group kept as text is inside
    last = 0
    for match in _BRACE.finditer(text):
        at = match.start()
        out.append(text[last:at])
        last = at + 1
        if text[at] == "{":
            starts.append(len(out))
            braced.append(False)
            out.append("{")
            continue
        if not starts:
            out.append("}")
            continue
        start, kept = starts.pop(), braced.pop()
        if not kept:
            content = "".join(out[start + 1 :])
            if "|" in content:
                del out[start:]
                out.append(_choose(content.split("|"), seed, position))
                position += 1
                continue
        out.append("}")
        if braced:
            braced[-1] = True
    out.append(text[last:])  # unclosed groups are text: their `{` is in place
    return "".join(out), position


def spin(text: str, seed: str) -> str:
    """Resolve spintax outside Jinja tags, innermost groups first."""
    parts = _split_tags(text)
    position = 0
    for i in range(0, len(parts), 2):  # even parts are plain text, odd ones Jinja tags
        parts[i], position = _spin_text(parts[i], seed, position)
    return "".join(parts)


# --- validation ----------------------------------------------------------------------------


def _position_of(source: str, lineno: int, needle: str) -> int:
    """1-based column of `needle` inside a Jinja tag on line `lineno` (1 when not found)."""
    lines = source.splitlines() or [""]
    line = lines[min(max(lineno, 1), len(lines)) - 1]
    for tag in re.finditer(r"\{[{%].*?(?:[}%]\}|$)", line):
        found = re.search(rf"\b{re.escape(needle)}\b", tag.group(0))
        if found:
            return tag.start() + found.start() + 1
    found = re.search(rf"\b{re.escape(needle)}\b", line)
    return found.start() + 1 if found else 1


def _syntax_column(source: str, lineno: int) -> int:
    lines = source.splitlines() or [""]
    line = lines[min(max(lineno, 1), len(lines)) - 1]
    starts = [m.start() for m in re.finditer(r"\{[{%#]", line)]
    return starts[-1] + 1 if starts else 1


def validate(source: str, field: str = "body") -> list[TemplateProblem]:
    if len(source) > MAX_TEMPLATE_CHARS:
        return [
            TemplateProblem("too_long", f"longer than {MAX_TEMPLATE_CHARS} characters", 1, 1, field)
        ]
    try:
        tree = _parse(_TEXT_ENV, spin(source, "validate"))
    except TemplateSyntaxError as exc:
        lineno = exc.lineno or 1
        return [
            TemplateProblem(
                "syntax",
                exc.message or "syntax error",
                lineno,
                _syntax_column(source, lineno),
                field,
            )
        ]
    # (line, kind, word to point at, message), positions computed for the first few only:
    # each costs a scan of its line, and a template can hold thousands of unknown names.
    found: list[tuple[int, str, str, str]] = []
    for node in tree.find_all(FORBIDDEN_NODES):
        keyword = type(node).__name__.lower().replace("fromimport", "from")
        message = f"`{keyword}` is not allowed in templates"
        found.append((node.lineno, "forbidden", keyword, message))
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    seen: set[tuple[str, int]] = set()
    for node in tree.find_all(nodes.Name):
        if node.ctx != "load" or node.name in KNOWN_VARIABLES or node.name in assigned:
            continue
        if node.name in _TEXT_ENV.globals:  # range, dict, lipsum, cycler, joiner, namespace
            continue
        if (node.name, node.lineno) in seen:
            continue
        seen.add((node.name, node.lineno))
        known = ", ".join(sorted(KNOWN_VARIABLES))
        message = f"unknown variable `{node.name}` (known: {known})"
        found.append((node.lineno, "unknown_variable", node.name, message))
    found.sort(key=lambda f: f[0])  # stable: source order within a line
    problems = [
        TemplateProblem(kind, message, line, _position_of(source, line, word), field)
        for line, kind, word, message in found[:MAX_PROBLEMS]
    ]
    return sorted(problems, key=lambda p: (p.line, p.column))


def variables_used(source: str) -> list[str]:
    try:
        tree = _parse(_TEXT_ENV, spin(source, "validate"))
    except TemplateSyntaxError:
        return []
    return sorted({n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} & KNOWN_VARIABLES)


# --- rendering -----------------------------------------------------------------------------


def context_for(
    lead: Mapping[str, Any] | None,
    sender: Mapping[str, Any] | None = None,
    unsubscribe_url: str = "",
) -> dict[str, Any]:
    lead = lead or {}
    context: dict[str, Any] = {name: lead.get(name) or "" for name in LEAD_FIELDS}
    custom = lead.get("custom") or lead.get("custom_fields") or {}
    context["custom"] = {str(k): v for k, v in dict(custom).items()}
    context["sender"] = dict(sender or {})
    context["unsubscribe_url"] = unsubscribe_url
    return context


def render(
    source: str,
    context: Mapping[str, Any],
    seed: str,
    *,
    html: bool,
    budget: RenderBudget | None = None,
) -> str:
    """Spintax with `seed` (e.g. f"{lead_id}:{step_id}"), then the sandboxed template within
    `budget` (TemplateTooExpensive past it). CPU-bound: from async code, `render_async`."""
    env = _HTML_ENV if html else _TEXT_ENV
    budget = budget or RenderBudget()
    meter = _Meter(budget)
    token = _METER.set(meter)
    try:
        tree = _parse(env, spin(source, seed))  # spun and parsed once, checked, then compiled
        for node in tree.find_all(FORBIDDEN_NODES):
            raise TemplateRenderError(f"line {node.lineno}: {type(node).__name__} is not allowed")
        template = env.from_string(_Metered().visit(tree))
        meter.deadline = time.monotonic() + budget.timeout_seconds  # the render's own time
        output = template.render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(f"line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateRenderError(f"refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise TemplateRenderError(str(exc)) from None
    except RecursionError:
        raise TemplateTooExpensive("the template recurses too deeply") from None
    except (TypeError, ValueError, ArithmeticError, OverflowError, SyntaxError) as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from None
    finally:
        _METER.reset(token)
    if len(output) > budget.max_output_chars:
        raise TemplateTooExpensive("the rendered template is too long")
    return output


class Rendered(NamedTuple):
    subject: str
    html: str


async def render_async(
    subject: str,
    body: str,
    context: Mapping[str, Any],
    seed: str,
    budget: RenderBudget | None = None,
) -> Rendered:
    """A message's subject (text, seed `{seed}:subject`) and HTML body, rendered in a worker
    thread so the event loop keeps serving; each within `budget`."""

    def both() -> Rendered:
        return Rendered(
            subject=render(subject, context, seed + ":subject", html=False, budget=budget),
            html=render(body, context, seed, html=True, budget=budget),
        )

    return await asyncio.to_thread(both)


__all__ = [
    "KNOWN_VARIABLES",
    "LEAD_FIELDS",
    "MAX_BLOCK_NESTING",
    "MAX_NESTING",
    "SAMPLE_LEAD",
    "RenderBudget",
    "Rendered",
    "TemplateProblem",
    "TemplateRenderError",
    "TemplateTooExpensive",
    "context_for",
    "render",
    "render_async",
    "spin",
    "validate",
    "variables_used",
]
