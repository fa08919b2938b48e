"""What `penguinmails vps` and `penguinmails warmup` share: one call to the API with an API
key (never the services, so they work against any deployment), its error message on a
refusal. Async over an `httpx.AsyncClient`, so tests drive them against the app
in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from cli.console import fail

T = TypeVar("T")


class ApiRefused(Exception):
    pass


async def call(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    response = await client.request(method, path, json=body)
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = str(error["message"])
            if error.get("details"):
                message += f" ({error['details']})"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}"
        raise ApiRefused(message)
    return response.json()


def run_with_api(
    api_key: str, api_url: str | None, fn: Callable[[httpx.AsyncClient], Awaitable[T]]
) -> T:
    from penguinmails.settings import Settings

    base = api_url or Settings().public_base_url

    async def go() -> T:
        headers = {"Authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            return await fn(client)

    try:
        return asyncio.run(go())
    except ApiRefused as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:
        fail(f"the API at {base}: {exc or type(exc).__name__}")
