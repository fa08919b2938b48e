"""The secret store: Vault (OpenBao in development) KV v2, through hvac. The only module that
talks to Vault.

hvac is synchronous; every call runs in a thread (`asyncio.to_thread`) with a client per
thread (requests' Session is not documented as thread-safe). Paths and keys may be logged,
values never: exceptions raised here carry the address and the path only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

log = logging.getLogger(__name__)

T = TypeVar("T")

CODEC_KEY_BYTES = 32
CODEC_KEY_FIELD = "key"


class SecretStoreError(Exception):
    """Vault answered, but refused or failed the request."""


class SecretStoreUnavailable(SecretStoreError):
    """Vault cannot be reached, is sealed or not initialised, or rejects the token."""

    def __init__(self, addr: str, reason: str) -> None:
        self.addr = addr
        self.reason = reason
        super().__init__(f"secret store (Vault) is not available at {addr}: {reason}")


class SecretStore:
    def __init__(self, addr: str, token: str, mount: str = "secret", timeout: float = 10.0) -> None:
        self.addr = addr.rstrip("/")
        self.mount = mount
        self._token = token
        self._timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:  # no token in reprs, tracebacks or logs
        return f"SecretStore(addr={self.addr!r}, mount={self.mount!r})"

    # -- public API -------------------------------------------------------------------------

    async def read(self, path: str) -> dict[str, str] | None:
        """The latest version's data at `path`, or None when there is none (or it was
        deleted)."""
        return await self._call(self._read, path)

    async def write(self, path: str, data: dict[str, str]) -> None:
        await self._call(self._write, path, data, None)

    async def delete(self, path: str) -> None:
        """Delete every version and the metadata (a no-op when absent)."""
        await self._call(self._delete, path)

    async def get_or_create_codec_key(self, path: str) -> bytes:
        """32 random bytes kept base64 at `path` under `key`; created on first use.

        Concurrent first calls (several workers starting together) converge on one key:
        the create is a check-and-set with `cas=0` (only if no version exists), and the
        loser reads the winner's key.
        """
        existing = await self.read(path)
        if existing is None:
            candidate = base64.b64encode(os.urandom(CODEC_KEY_BYTES)).decode()
            try:
                await self._call(self._write, path, {CODEC_KEY_FIELD: candidate}, 0)
                log.info("created the payload codec key at %s", path)
            except _CasConflict:
                pass
            existing = await self.read(path)
        if existing is None or CODEC_KEY_FIELD not in existing:
            raise SecretStoreError(f"no `{CODEC_KEY_FIELD}` field in the secret at {path}")
        key = base64.b64decode(existing[CODEC_KEY_FIELD])
        if len(key) != CODEC_KEY_BYTES:
            raise SecretStoreError(f"the codec key at {path} is not {CODEC_KEY_BYTES} bytes")
        return key

    async def ping(self) -> None:
        """Reachable, unsealed, and the token is valid; SecretStoreUnavailable otherwise."""
        await self._call(self._ping)

    # -- sync parts, run in threads ---------------------------------------------------------

    def _client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(url=self.addr, token=self._token, timeout=int(self._timeout))
            self._local.client = client
        return client

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except requests.exceptions.RequestException as exc:
            raise SecretStoreUnavailable(self.addr, _connection_reason(exc)) from None
        except hvac.exceptions.VaultDown:
            raise SecretStoreUnavailable(self.addr, "sealed") from None
        except hvac.exceptions.VaultNotInitialized:
            raise SecretStoreUnavailable(self.addr, "not initialised") from None
        except (hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden) as exc:
            path = args[0] if args and isinstance(args[0], str) else "(sys)"
            raise SecretStoreUnavailable(
                self.addr, f"permission denied for {path} (check VAULT_TOKEN)"
            ) from exc

    def _read(self, path: str) -> dict[str, str] | None:
        try:
            response = self._client().secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.mount, raise_on_deleted_version=False
            )
        except hvac.exceptions.InvalidPath:
            return None
        data = (response or {}).get("data") or {}
        values = data.get("data")
        if values is None:  # the latest version was deleted
            return None
        return {str(k): str(v) for k, v in values.items()}

    def _write(self, path: str, data: dict[str, str], cas: int | None) -> None:
        try:
            self._client().secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(data), cas=cas, mount_point=self.mount
            )
        except hvac.exceptions.InvalidRequest as exc:
            if cas is not None and "check-and-set" in str(exc):
                raise _CasConflict(path) from None
            raise SecretStoreError(f"write to {path} refused: {_first_error(exc)}") from None

    def _delete(self, path: str) -> None:
        try:
            self._client().secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self.mount
            )
        except hvac.exceptions.InvalidPath:
            return

    def _ping(self) -> None:
        client = self._client()
        health = client.sys.read_health_status(method="GET")
        body = health if isinstance(health, dict) else _json(health)
        if not body.get("initialized", True):
            raise hvac.exceptions.VaultNotInitialized()
        if body.get("sealed"):
            raise hvac.exceptions.VaultDown()
        client.auth.token.lookup_self()


class _CasConflict(Exception):
    pass


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _first_error(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return str(errors[0])
    return type(exc).__name__


def _connection_reason(exc: requests.exceptions.RequestException) -> str:
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    # urllib3 nests the socket error in several reprs; keep the `[Errno n] text` part.
    found: list[str] = re.findall(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    if found:
        return found[-1]
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "cannot connect"
    return type(exc).__name__
