"""`penguinmails leads import`: upload a CSV through the API and follow the import.

Talks HTTP only (an API key, never the services), so it works against any deployment. The
core is async and takes an `httpx.AsyncClient`, so tests drive it against the app in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

POLL_SECONDS = 0.5


class ImportFailed(Exception):
    pass


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    raise ImportFailed(
        f"{response.request.method} {response.request.url.path}: {response.status_code} {message}"
    )


async def find_or_create_list(client: httpx.AsyncClient, name: str) -> str:
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/lead-lists", params=params)
        _raise_for(r)
        page = r.json()
        for item in page["items"]:
            if item["name"] == name:
                return str(item["id"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    r = await client.post("/v1/lead-lists", json={"name": name})
    _raise_for(r)
    return str(r.json()["id"])


async def _file_pieces(path: Path, on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            on_bytes(len(piece))
            yield piece


async def upload_and_follow(
    client: httpx.AsyncClient,
    path: Path,
    list_name: str,
    *,
    mapping: str | None = None,
    on_duplicate: str = "skip",
    on_upload: Callable[[int], None] = lambda n: None,
    on_progress: Callable[[dict[str, Any]], None] = lambda body: None,
) -> dict[str, Any]:
    """Upload `path` into the list named `list_name` (created when missing), then poll the
    import until it ends; returns its final figures."""
    list_id = await find_or_create_list(client, list_name)
    boundary = "penguinmails-" + path.name.encode().hex()[:16]
    fields = {"on_duplicate": on_duplicate, **({"mapping": mapping} if mapping else {})}

    async def body() -> AsyncIterator[bytes]:
        for name, value in fields.items():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        filename = path.name.replace('"', "")
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        async for piece in _file_pieces(path, on_upload):
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await client.post(
        f"/v1/lead-lists/{list_id}/imports",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=None,
    )
    _raise_for(r)
    import_id = r.json()["id"]
    while True:
        r = await client.get(f"/v1/imports/{import_id}")
        _raise_for(r)
        status = r.json()
        on_progress(status)
        if status["status"] != "running":
            return dict(status)
        await asyncio.sleep(POLL_SECONDS)
