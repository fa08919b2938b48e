"""The dev stack's OpenBao: persistent storage, initialised once, unsealed at every start."""

import json
import stat

import hvac

from devstack.openbao import start_openbao
from devstack.ports import free_port, port_open


def _read(client: hvac.Client, path: str) -> dict:
    return client.secrets.kv.v2.read_secret_version(
        path=path, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]


def test_secrets_survive_a_restart(tmp_path) -> None:
    data = tmp_path / "openbao"
    port = free_port()

    server = start_openbao(data, port, cluster_port=free_port())
    try:
        init_file = data / "init.json"
        assert stat.S_IMODE(init_file.stat().st_mode) == 0o600
        init = json.loads(init_file.read_text())
        assert len(init["keys_base64"]) == 1
        assert server.token == init["root_token"]
        client = server.client()
        assert client.sys.list_mounted_secrets_engines()["data"]["secret/"]["options"] == {
            "version": "2"
        }
        client.secrets.kv.v2.create_or_update_secret(
            path="penguinmails/dkim/example.test", secret={"private_key": "k"}, mount_point="secret"
        )
    finally:
        server.stop()
    assert not port_open(port)

    # Same folder, a different port: unsealed again, same token, the secret is still there.
    server = start_openbao(data, free_port(), cluster_port=free_port())
    try:
        assert server.token == init["root_token"]
        client = server.client()
        assert not client.sys.is_sealed()
        assert _read(client, "penguinmails/dkim/example.test") == {"private_key": "k"}
    finally:
        server.stop()
