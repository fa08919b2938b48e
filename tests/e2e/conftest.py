"""The end-to-end tests' data folder, checked for processes left behind."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.devrun import processes_of


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: every new pytest session (any on this machine) resets its
    # base dir to 0700, which cuts the unprivileged Postgres user off from files it needs.
    root = Path(tempfile.mkdtemp(prefix="pm-e2e-"))
    path = root / "data"
    yield path
    leftovers = processes_of(path)
    shutil.rmtree(root, ignore_errors=True)
    assert not leftovers, f"processes left behind: {leftovers}"
