"""`make check`'s ruff and mypy settings (`pyproject.toml`) fail where they should: SQL built
from strings in production code unless its line says why, and the strict type flags in the
kernel, use cases, workflows and activities. Each check runs on a small tree of its own
under the project's configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRODUCTION = ("penguinmails", "usecases", "workflows", "activities", "api", "cli", "devstack")
S608_NOQA = re.compile(r"#\s*noqa:[^#]*\bS608\b(.*)$")

BUILT_SQL = 'def query(table: str) -> str:\n    return f"SELECT id FROM {table}"\n'
# Three strict flags at once: a bare generic, a call into an untyped function, an Any
# returned as a str.
LOOSE_TYPES = """from typing import Any


def untyped(x):  # type: ignore[no-untyped-def]
    return x


def count(items: list) -> int:
    return len(items)


def name(row: dict[str, Any]) -> str:
    untyped(row)
    return row["name"]
"""


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for name, body in files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tree).parents:
            if parent != Path("."):
                (tree / parent / "__init__.py").touch()
        path.write_text(body)
    return tree


def _run(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=tree, capture_output=True, text=True, timeout=120, check=False
    )


def _ruff(tree: Path) -> subprocess.CompletedProcess[str]:
    return _run(tree, str(BIN / "ruff"), "check", "--no-cache", "--output-format", "concise", ".")


def _mypy(tree: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    cache = str(tree / ".mypy_cache")
    return _run(tree, str(BIN / "mypy"), "--cache-dir", cache, "--no-error-summary", *packages)


def test_sql_built_from_a_string_fails_in_production_code(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"penguinmails/probe.py": BUILT_SQL, "activities/probe.py": BUILT_SQL})
    result = _ruff(tree)
    assert result.returncode != 0
    assert "penguinmails/probe.py:2:12: S608" in result.stdout
    assert "activities/probe.py:2:12: S608" in result.stdout


def test_built_sql_passes_where_its_line_says_why_and_in_tests(tmp_path: Path) -> None:
    justified = BUILT_SQL.replace('{table}"', '{table}"  # noqa: S608 — a module constant')
    tree = _tree(tmp_path, {"penguinmails/probe.py": justified, "tests/probe.py": BUILT_SQL})
    result = _ruff(tree)
    assert result.returncode == 0, result.stdout


def test_loose_types_fail_in_the_strict_packages(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {f"{p}/probe.py": LOOSE_TYPES for p in ("penguinmails", "workflows")})
    result = _mypy(tree, "penguinmails", "workflows")
    assert result.returncode != 0
    for package in ("penguinmails", "workflows"):
        codes = {
            line.rsplit("[", 1)[-1].rstrip("]")
            for line in result.stdout.splitlines()
            if line.startswith(f"{package}/probe.py:") and ": error: " in line
        }
        assert codes == {"type-arg", "no-untyped-call", "no-any-return"}, result.stdout


def test_the_same_types_pass_outside_the_strict_packages(tmp_path: Path) -> None:
    # The default flags elsewhere (api, cli, devstack): the probe itself is not the failure.
    tree = _tree(tmp_path, {"api/probe.py": LOOSE_TYPES})
    result = _mypy(tree, "api")
    assert result.returncode == 0, result.stdout


def test_every_exempted_sql_line_says_why() -> None:
    exempted: dict[str, str] = {}
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if found := S608_NOQA.search(line):
                    exempted[f"{path.relative_to(ROOT)}:{n}"] = found.group(1).strip(" —-:")
    assert exempted  # the scan sees the exemptions the code has
    unexplained = [site for site, why in exempted.items() if not why]
    assert not unexplained, f"`# noqa: S608 — <why it is safe>` expected at {unexplained}"
