"""DESIGN.md's import direction as import-linter contracts (`pyproject.toml`): they hold on
the code, and they fail on a deliberate violation."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("penguinmails", "usecases", "workflows", "activities", "api", "cli", "devstack")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tree


def _prepend(path: Path, line: str) -> None:
    path.write_text(f"{line}\n{path.read_text()}")


def test_the_code_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_deliberate_violation_fails(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    assert _lint(tree).returncode == 0  # the copy itself is clean
    # The kernel reaching into the dev stack, a workflow into the database driver.
    _prepend(tree / "penguinmails" / "settings.py", "import devstack.ports  # noqa")
    _prepend(tree / "workflows" / "names.py", "import sqlalchemy  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "The kernel imports nothing built on it BROKEN" in out
    assert "Production never imports the dev stack BROKEN" in out
    assert "the activity interfaces BROKEN" in out
    assert "penguinmails.settings -> devstack.ports" in out


def test_a_workflow_importing_an_activity_implementation_fails(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _prepend(tree / "workflows" / "erasure.py", "import activities.erasure  # noqa")
    result = _lint(tree)
    assert result.returncode != 0
    assert "workflows.erasure -> activities.erasure" in result.stdout


def test_the_worker_module_imports_no_dev_stack_and_no_entry_point() -> None:
    # worker.py is a module, not a package, so import-linter cannot take it as a root.
    tree = ast.parse((ROOT / "worker.py").read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert "penguinmails" in roots and "workflows" in roots  # the parse saw its imports
    assert not roots & {"devstack", "cli", "api", "usecases"}
