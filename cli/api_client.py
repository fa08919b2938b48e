"""`penguinmails leads import`: upload a CSV through the API and follow the import.

Talks HTTP only (an API key, never the services), so it works against any deployment. The
core is async and takes an `httpx.AsyncClient`, so tests drive it against the app in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

POLL_SECONDS = 0.5
ON_DUPLICATE = ("skip", "update")


class ImportFailed(Exception):
    pass


def check_options(path: Path, mapping: str | None, on_duplicate: str) -> str | None:
    """What the API would refuse after the whole upload, refused before it starts (nothing
    created). Returns the mapping as the JSON the API takes."""
    if on_duplicate not in ON_DUPLICATE:
        raise ImportFailed(f"--on-duplicate must be skip or update, not {on_duplicate!r}")
    parsed: Any = None
    if mapping:
        try:
            parsed = json.loads(mapping)
        except ValueError as exc:
            raise ImportFailed(f"--mapping is not JSON ({exc})") from None
        if not isinstance(parsed, dict) or not all(
            isinstance(v, str | None) for v in parsed.values()
        ):
            raise ImportFailed(
                "--mapping must be a JSON object of CSV header -> lead field (or null to drop "
                'the column), e.g. {"Mail": "email"}'
            )
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise ImportFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    return json.dumps(parsed) if parsed else None


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


async def find_or_create_list(client: httpx.AsyncClient, name: str) -> tuple[str, bool]:
    """The id of the list named `name`, and whether this call created it."""
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
                return str(item["id"]), False
        cursor = page["next_cursor"]
        if not cursor:
            break
    r = await client.post("/v1/lead-lists", json={"name": name})
    _raise_for(r)
    return str(r.json()["id"]), True


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
    import until it ends; returns its final figures. The options are checked first; a list
    this call created is deleted again when the import cannot start."""
    mapping = check_options(path, mapping, on_duplicate)
    try:
        list_id, created = await find_or_create_list(client, list_name)
        try:
            import_id = await _upload(client, list_id, path, mapping, on_duplicate, on_upload)
        except (ImportFailed, httpx.HTTPError):
            if created:
                await _delete_quietly(client, f"/v1/lead-lists/{list_id}")
            raise
        while True:
            r = await client.get(f"/v1/imports/{import_id}")
            _raise_for(r)
            status = r.json()
            on_progress(status)
            if status["status"] != "running":
                return dict(status)
            await asyncio.sleep(POLL_SECONDS)
    except httpx.TransportError as exc:
        raise ImportFailed(
            f"cannot reach the API at {client.base_url}: {exc or type(exc).__name__}"
        ) from None


async def _upload(
    client: httpx.AsyncClient,
    list_id: str,
    path: Path,
    mapping: str | None,
    on_duplicate: str,
    on_upload: Callable[[int], None],
) -> str:
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
    return str(r.json()["id"])


async def _delete_quietly(client: httpx.AsyncClient, url: str) -> None:
    # Best effort: the import's own error is what the user needs to see.
    with contextlib.suppress(httpx.HTTPError):
        await client.delete(url)
