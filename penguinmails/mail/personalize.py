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
  column (1-based).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

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

SAMPLE_LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "company": "Analytical Engines Ltd",
    "position": "Head of Computing",
    "timezone": "Europe/London",
    "custom": {"industry": "Computing", "city": "London"},
}

_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\})", re.DOTALL)
_SPIN = re.compile(r"\{([^{}]*\|[^{}]*)\}")


@dataclass(frozen=True)
class TemplateProblem:
    kind: str  # syntax, unknown_variable, forbidden
    message: str
    line: int
    column: int
    field: str = "body"  # body or subject


class TemplateRenderError(Exception):
    pass


class _Sandbox(ImmutableSandboxedEnvironment):
    """Also bounds `*` and `**`, the two operators that can exhaust memory or CPU."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large")
            return left**right
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(times, int)
                and len(seq) * times > MAX_OUTPUT_CHARS
            ):
                raise SecurityError("repetition too large")
        return left * right


def _env(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return _Sandbox(autoescape=autoescape, keep_trailing_newline=True)


_HTML_ENV = _env(True)
_TEXT_ENV = _env(False)


# --- spintax -------------------------------------------------------------------------------


def _choose(options: list[str], seed: str, position: int) -> str:
    digest = hashlib.sha256(f"{seed}\x1f{position}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def spin(text: str, seed: str) -> str:
    """Resolve spintax outside Jinja tags, innermost groups first."""
    parts = _TAG.split(text)
    position = 0
    for i in range(0, len(parts), 2):  # even parts are plain text, odd ones Jinja tags
        segment = parts[i]
        while True:
            match = _SPIN.search(segment)
            if match is None:
                break
            choice = _choose(match.group(1).split("|"), seed, position)
            position += 1
            segment = segment[: match.start()] + choice + segment[match.end() :]
        parts[i] = segment
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
        tree = _TEXT_ENV.parse(spin(source, "validate"))
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
    problems: list[TemplateProblem] = []
    for node in tree.find_all(FORBIDDEN_NODES):
        keyword = type(node).__name__.lower().replace("fromimport", "from")
        problems.append(
            TemplateProblem(
                "forbidden",
                f"`{keyword}` is not allowed in templates",
                node.lineno,
                _position_of(source, node.lineno, keyword if keyword != "from" else "from"),
                field,
            )
        )
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
        problems.append(
            TemplateProblem(
                "unknown_variable",
                f"unknown variable `{node.name}` (known: {', '.join(sorted(KNOWN_VARIABLES))})",
                node.lineno,
                _position_of(source, node.lineno, node.name),
                field,
            )
        )
    return sorted(problems, key=lambda p: (p.line, p.column))


def variables_used(source: str) -> list[str]:
    try:
        tree = _TEXT_ENV.parse(spin(source, "validate"))
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


def render(source: str, context: Mapping[str, Any], seed: str, *, html: bool) -> str:
    """Spintax with `seed` (e.g. f"{lead_id}:{step_id}"), then the sandboxed template."""
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        tree = env.parse(spin(source, seed))  # spun and parsed once, checked, then compiled
        for node in tree.find_all(FORBIDDEN_NODES):
            raise TemplateRenderError(f"line {node.lineno}: {type(node).__name__} is not allowed")
        output = env.from_string(tree).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(f"line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateRenderError(f"refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise TemplateRenderError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError, OverflowError, RecursionError) as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from None
    if len(output) > MAX_OUTPUT_CHARS:
        raise TemplateRenderError("the rendered template is too long")
    return output


__all__ = [
    "KNOWN_VARIABLES",
    "LEAD_FIELDS",
    "SAMPLE_LEAD",
    "TemplateProblem",
    "TemplateRenderError",
    "context_for",
    "render",
    "spin",
    "validate",
    "variables_used",
]
