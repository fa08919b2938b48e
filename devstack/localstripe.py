"""localstripe, the stateful fake Stripe server of development and the tests, and what the
platform needs from it: its Plans for the seeded plans (created on first use by the
adapter), the API key and webhook secret in Vault, and its webhook pointed at the API.

localstripe keeps its state in one fixed pickle file shared by every instance
on the host, and listens on every interface. `python -m devstack.localstripe --port N
[--state FILE]` runs it on loopback with its state in FILE (the dev stack's data folder),
or in memory only without `--state` (the tests).
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devstack import process as proc
from devstack.ports import wait_for_port
from penguinmails.secrets import SecretStore

# Development only: localstripe accepts any key that looks like a test key.
DEV_API_KEY = "sk_test_penguinmails_dev"


@dataclass
class LocalStripe:
    process: subprocess.Popen[bytes]
    port: int
    pid_file: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        proc.stop(self.process, timeout=10, pid_file=self.pid_file)


def start_localstripe(
    port: int, state: Path | None = None, log_path: Path | None = None
) -> LocalStripe:
    args = [sys.executable, "-m", "devstack.localstripe", "--port", str(port)]
    pid_file = None
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state)]
        pid_file = state.parent / "localstripe.pid"
        proc.end_leftover(pid_file, Path(sys.executable))
    process = proc.spawn(args, log_path=log_path, pid_file=pid_file)
    server = LocalStripe(process, port, pid_file)
    try:
        wait_for_port(port, 30, "localstripe")
    except BaseException:
        server.stop()
        raise
    return server


def register_webhook(base_url: str, target: str, secret: str, name: str = "penguinmails") -> None:
    """localstripe's own endpoint for webhooks (it has no WebhookEndpoint API)."""
    import requests

    response = requests.post(
        f"{base_url}/_config/webhooks/{name}",
        data={"url": target, "secret": secret},
        timeout=10,
    )
    response.raise_for_status()


async def configure_dev_stripe(
    store: SecretStore, path: str, api_base: str, webhook_url: str
) -> None:
    import asyncio
    import secrets

    record = await store.read(path) or {}
    wanted = {
        "api_key": DEV_API_KEY,
        "webhook_secret": record.get("webhook_secret") or f"whsec_{secrets.token_hex(24)}",
    }
    if record != wanted:
        await store.write(path, wanted)
    await asyncio.to_thread(register_webhook, api_base, webhook_url, wanted["webhook_secret"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.localstripe")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args(argv)

    from aiohttp import web
    from localstripe import resources, server  # type: ignore[import-untyped]

    state: Path | None = args.state

    def load(self: dict[str, object]) -> None:
        if state is not None and state.exists():
            with state.open("rb") as f:
                self.clear()
                self.update(pickle.load(f))  # noqa: S301 — its own file, written below

    def dump(self: dict[str, object]) -> None:
        if state is not None:
            tmp = state.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(state)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = dump
    resources.store.try_load_from_disk()
    web.run_app(server.app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
