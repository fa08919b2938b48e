"""`penguinmails dev` as a subprocess, in a temporary data dir, on free ports: it starts,
prints what the README shows, keeps its state across a restart and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from uuid import uuid4

import pytest

from devstack.ports import DevPorts, free_dev_ports
from devstack.stack import SERVICE_URL_VARS
from tests.e2e.devrun import (
    CONSOLE_SCRIPT,
    ROOT,
    dev_env,
    http,
    processes_of,
    start_stack,
)

pytestmark = pytest.mark.e2e


async def _create_state(env: dict[str, str], workflow_id: str, message_id: str) -> None:
    import aiosmtplib
    import asyncpg
    import redis.asyncio as aioredis
    from temporalio.client import Client
    from temporalio.common import (
        SearchAttributeKey,
        SearchAttributePair,
        TypedSearchAttributes,
    )

    from penguinmails.secrets import SecretStore

    conn = await asyncpg.connect(env["DATABASE_URL"])
    await conn.execute("CREATE TABLE devstack_probe (value text)")
    await conn.execute("INSERT INTO devstack_probe VALUES ('kept')")
    await conn.close()

    r = aioredis.from_url(env["REDIS_URL"])
    await r.set("devstack:probe", "kept")
    await r.aclose()

    client = await Client.connect(env["TEMPORAL_ADDRESS"])
    # No worker polls this queue: the workflow stays running across the restart.
    await client.start_workflow(
        "DevstackProbe",
        id=workflow_id,
        task_queue="devstack-probe",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(SearchAttributeKey.for_keyword("TenantId"), "tenant-probe")]
        ),
    )

    await SecretStore(env["VAULT_ADDR"], env["VAULT_TOKEN"]).write("probe", {"value": "kept"})

    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["To"] = "b@example.test"
    msg["Subject"] = "probe"
    msg["Message-ID"] = message_id
    msg.set_content("probe")
    await aiosmtplib.send(msg, hostname=env["SMTP_SINK_HOST"], port=int(env["SMTP_SINK_PORT"]))


async def _assert_state(env: dict[str, str], workflow_id: str, message_id: str) -> None:
    import asyncpg
    import redis.asyncio as aioredis
    from temporalio.client import Client, WorkflowExecutionStatus

    from devstack.smtp_sink import has_message_id
    from penguinmails.secrets import SecretStore

    conn = await asyncpg.connect(env["DATABASE_URL"])
    assert await conn.fetchval("SELECT value FROM devstack_probe") == "kept"
    await conn.close()

    r = aioredis.from_url(env["REDIS_URL"])
    assert await r.get("devstack:probe") == b"kept"
    await r.aclose()

    client = await Client.connect(env["TEMPORAL_ADDRESS"])
    described = await client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    listed = [w.id async for w in client.list_workflows("TenantId = 'tenant-probe'")]
    assert workflow_id in listed

    assert await SecretStore(env["VAULT_ADDR"], env["VAULT_TOKEN"]).read("probe") == {
        "value": "kept"
    }
    assert has_message_id(Path(env["SMTP_SINK_DIR"]), message_id)


def test_dev_stack_stops_cleanly_and_keeps_its_state(data_dir: Path) -> None:
    ports = free_dev_ports()  # one reservation, the API's port included
    api_port = int(ports["API_PORT"])
    workflow_id = f"devstack-probe-{uuid4().hex}"
    message_id = f"<{uuid4().hex}@penguinmails.test>"

    run = start_stack(data_dir, ports, api_port)
    try:
        run.wait_ready()
        env = run.healthz()
        assert env["DATA_DIR"] == str(data_dir)
        assert env["DATABASE_URL"].endswith(f":{ports['PM_DEV_PG_PORT']}/penguinmails")
        assert env["SMTP_SINK_PORT"] == ports["PM_DEV_SMTP_PORT"]
        asyncio.run(_create_state(env, workflow_id, message_id))
    finally:
        code = run.interrupt(signal.SIGINT)
    output = "".join(run.lines)
    assert code == 0, output
    assert "Traceback" not in output
    assert not processes_of(data_dir), output
    print(f"first start: ready in {run.ready_seconds} s")

    run = start_stack(data_dir, ports, api_port)
    try:
        run.wait_ready()
        env2 = run.healthz()
        assert env2["VAULT_TOKEN"] == env["VAULT_TOKEN"]  # same initialised OpenBao
        asyncio.run(_assert_state(env2, workflow_id, message_id))
    finally:
        code = run.interrupt(signal.SIGTERM)
    assert code == 0, "".join(run.lines)
    assert not processes_of(data_dir), "".join(run.lines)
    print(f"restart: ready in {run.ready_seconds} s")


def _printed_rows(output: str, count: int) -> list[tuple[str, str]]:
    """The summary `penguinmails dev` printed: `count` lines from the API's (one write, so
    no log line of a child lands inside it)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"^API\s+http", line))
    return [
        tuple(re.split(r"\s{2,}", line.rstrip(), maxsplit=1))  # type: ignore[misc]
        for line in lines[start : start + count]
    ]


def _readme_rows_for(ports: dict[str, str], data_dir: Path) -> list[tuple[str, str]]:
    """README.md's printed block, for this stack's ports and data folder."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```text make-run-output\n", 1)[1].split("```", 1)[0]
    defaults = DevPorts()
    moved = {
        f":{getattr(defaults, field)}": f":{ports[var]}" for field, var in DevPorts.ENV.items()
    }
    rows = []
    for line in block.splitlines():
        if line.startswith("ready in "):
            continue
        name, value = re.split(r"\s{2,}", line, maxsplit=1)
        value = re.sub(r":\d+", lambda m: moved.get(m.group(0), m.group(0)), value)
        if value.startswith(".data"):  # the test's data folder is outside the checkout
            value = str(data_dir) + value.removeprefix(".data")
        rows.append((name, value))
    return rows


async def _provisioning_decoded_by_codec(
    env: dict[str, str], tenant_id: str, credential: str
) -> str:
    """What the Temporal UI does: find the workflow by TenantId, read its (encrypted) input,
    ask the codec endpoint to decode it. Returns the decoded input."""
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads
    from temporalio.client import Client, WorkflowExecutionStatus

    client = await Client.connect(env["TEMPORAL_ADDRESS"])  # no codec: the server's view
    for _ in range(150):
        # The tenant has other workflows too (its active mailbox's inbox runs for good).
        query = f"TenantId = '{tenant_id}' AND WorkflowType = 'TenantProvisioningWorkflow'"
        found = [w async for w in client.list_workflows(query)]
        if found and found[0].status == WorkflowExecutionStatus.COMPLETED:
            break
        await asyncio.sleep(0.2)
    assert found and found[0].status == WorkflowExecutionStatus.COMPLETED, found
    history = await client.get_workflow_handle(found[0].id).fetch_history()
    sealed = history.events[0].workflow_execution_started_event_attributes.input
    assert tenant_id.encode() not in sealed.SerializeToString()
    body = json.loads(json_format.MessageToJson(sealed))
    status, decoded = http(
        "POST", f"{env['PUBLIC_BASE_URL']}/staff/codec/{credential}/decode", body
    )
    assert status == 200, decoded
    plain = json_format.ParseDict(decoded, Payloads())
    return plain.payloads[0].data.decode()


def test_dev_stack_with_the_real_api_and_worker(data_dir: Path) -> None:
    """The issue's journey: ready, sign-up returns a key, the key creates and lists
    companies, the provisioning workflow is found by TenantId and decoded by the codec
    endpoint the Temporal UI is configured with."""
    ports = free_dev_ports()
    api_port = int(ports["API_PORT"])
    run = start_stack(data_dir, ports, api_port, standins=False)
    try:
        run.wait_ready()
        run.healthz()
        output = "".join(run.lines)
        readme_rows = _readme_rows_for(ports, data_dir)
        assert _printed_rows(output, len(readme_rows)) == readme_rows, output
        api = f"http://127.0.0.1:{api_port}"
        env = dev_env(data_dir)

        status, signed = http(
            "POST", f"{api}/v1/tenants", {"name": "Acme", "owner_email": "ops@acme.example.com"}
        )
        assert status == 201, signed
        key = signed["api_key"]
        status, company = http("POST", f"{api}/v1/companies", {"name": "Sales EU"}, key)
        assert status == 201, company
        status, listed = http("GET", f"{api}/v1/companies", key=key)
        assert company["id"] in {c["id"] for c in listed["items"]}

        # Add domain -> the dev DNS publishes its records -> the workflow verifies it.
        status, domain = http("POST", f"{api}/v1/domains", {"domain": "acme-mail.test"}, key)
        assert status == 201, domain
        for _ in range(60):
            http("POST", f"{api}/v1/domains/{domain['id']}/verify", key=key)
            time.sleep(1)
            status, domain = http("GET", f"{api}/v1/domains/{domain['id']}", key=key)
            if domain["verification_status"] == "verified":
                break
        assert domain["verification_status"] == "verified", domain

        # A mailbox on the dev servers: its login test passes against the sink and Dovecot.
        imap_port = int(ports["PM_DEV_IMAP_PORT"])
        smtp_port = int(ports["PM_DEV_SMTP_PORT"])
        status, mailbox = http(
            "POST",
            f"{api}/v1/email-accounts",
            {
                "email": "ada@acme-mail.test",
                "password": "dev-password",
                "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none"},
                "imap": {"host": "127.0.0.1", "port": imap_port, "security": "none"},
            },
            key,
        )
        assert status == 201, mailbox
        for _ in range(30):
            status, tested = http("POST", f"{api}/v1/email-accounts/{mailbox['id']}/test", {}, key)
            if tested.get("status") == "active":
                break
            time.sleep(1)
        assert tested.get("status") == "active", tested

        # The operator command finds the running stack through its data folder, from any
        # working directory.
        cli = subprocess.run(
            [str(CONSOLE_SCRIPT), "tenant", "create", "Beta", "boss@beta.example.com"],
            cwd=data_dir.parent,
            env={
                **{k: v for k, v in os.environ.items() if k not in SERVICE_URL_VARS},
                "DATA_DIR": str(data_dir),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        cli_key = re.search(r"api_key\s+(\S+)", cli.stdout)
        assert cli_key, cli.stdout
        assert http("GET", f"{api}/v1/tenants/me", key=cli_key.group(1))[1]["name"] == "Beta"

        # The Temporal UI was started with a codec-only token, never an API key: neither its
        # settings nor any command line of the stack shows one.
        codec_token = (data_dir / "dev-codec.token").read_text().strip()
        ui = f"http://127.0.0.1:{ports['PM_DEV_TEMPORAL_UI_PORT']}/api/v1/settings"
        with urllib.request.urlopen(ui, timeout=10) as response:
            ui_settings = json.loads(response.read())
        endpoint = ui_settings["Codec"]["Endpoint"]
        assert endpoint == f"{env['PUBLIC_BASE_URL']}/staff/codec/{codec_token}"
        assert not re.search(r"pm_[0-9a-f]{12}_", json.dumps(ui_settings))
        cmdlines = " ".join(processes_of(data_dir))
        assert "temporal" in cmdlines and codec_token in cmdlines
        assert not re.search(r"pm_[0-9a-f]{12}_", cmdlines), cmdlines
        # The token opens the codec endpoint and nothing else.
        assert http("GET", f"{api}/v1/companies", key=codec_token)[0] == 401
        # The browser asks first (CORS preflight) from the UI's origin.
        preflight = urllib.request.Request(f"{endpoint}/decode", method="OPTIONS")
        ui_origin = f"http://127.0.0.1:{ports['PM_DEV_TEMPORAL_UI_PORT']}"
        preflight.add_header("Origin", ui_origin)
        preflight.add_header("Access-Control-Request-Method", "POST")
        preflight.add_header("Access-Control-Request-Headers", "content-type,x-namespace")
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.status == 200
            assert response.headers["access-control-allow-origin"] == ui_origin
        decoded = asyncio.run(_provisioning_decoded_by_codec(env, signed["tenant_id"], codec_token))
        assert signed["tenant_id"] in decoded
    finally:
        code = run.interrupt(signal.SIGINT)
    output = "".join(run.lines)
    assert code == 0, output
    assert not processes_of(data_dir)
    assert not (data_dir / "dev.env").exists()
    # Requests are logged once, by the API itself, with the codec key redacted.
    assert "uvicorn.access" not in output
    assert "/staff/codec/<redacted>/decode" in output
    assert codec_token not in output and key not in output
    print(f"ready in {run.ready_seconds} s")
