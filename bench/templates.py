"""Template validation (what saving a template runs) and rendering on hostile inputs of the
maximum size, against an ordinary template of the same size, in the same run.

Validation: unclosed tag openers, deep brace nesting, thousands of unknown names, 200,000
braces; each must cost about what the ordinary template does (a regex rescanning the text
from every unclosed opener made one of them take minutes). Rendering: runaway loops stop
at the budget (`RenderBudget()`, the Settings defaults). One JSON line per case, the median
of `--runs` runs:

    python bench/templates.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from penguinmails.mail.personalize import (  # noqa: E402
    MAX_TEMPLATE_CHARS,
    SAMPLE_LEAD,
    TemplateRenderError,
    context_for,
    render,
    validate,
)


def _fill(unit: str) -> str:
    return (unit * (MAX_TEMPLATE_CHARS // len(unit)))[: MAX_TEMPLATE_CHARS - 10]


ORDINARY = _fill("<p>{Hi|Hello} {{ first_name }}, how is {{ company }}?</p>\n")
VALIDATE = {
    "unclosed_block_openers": _fill("{% x "),
    "unclosed_comment_openers": _fill("{#"),
    "nested_spintax_braces": "{ " * 66_000 + "a|b" + " }" * 33_000,
    "braces": _fill("{"),
    "unknown_names": "".join(f"{{{{v{i}}}}}" for i in range(25_000))[: MAX_TEMPLATE_CHARS - 10],
}
RENDER = {
    "nested_loops_1e8": "{% for i in range(10000) %}{% for j in range(10000) %}"
    "{% endfor %}{% endfor %}",
    "output_1e8_chars": "{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}",
    "exponential_macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(40) }}",
}


def _median(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _render(source: str) -> str:
    try:
        render(source, context_for(SAMPLE_LEAD), "bench", html=True)
        return "rendered"
    except TemplateRenderError as exc:
        return type(exc).__name__


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    baseline = _median(runs, lambda: validate(ORDINARY))
    for name, source in VALIDATE.items():
        seconds = _median(runs, lambda source=source: validate(source))
        line = {
            "bench": "template_validate",
            "case": name,
            "chars": len(source),
            "seconds": round(seconds, 3),
            "baseline_ordinary_seconds": round(baseline, 3),
            "ratio": round(seconds / baseline, 2),
        }
        print(json.dumps(line))
    baseline = _median(runs, lambda: _render(ORDINARY))
    for name, source in RENDER.items():
        seconds = _median(runs, lambda source=source: _render(source))
        line = {
            "bench": "template_render",
            "case": name,
            "outcome": _render(source),
            "seconds": round(seconds, 3),
            "baseline_ordinary_seconds": round(baseline, 3),
        }
        print(json.dumps(line))


if __name__ == "__main__":
    main()
