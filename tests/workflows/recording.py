"""Recording a replay history (tests/workflows/histories/) from a test's run: with
PM_RECORD_HISTORIES=1, `keep_history` writes the run's history there; otherwise nothing."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHandle

HISTORIES = Path(__file__).with_name("histories")


async def keep_history(handle: WorkflowHandle, name: str) -> None:
    if os.environ.get("PM_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
