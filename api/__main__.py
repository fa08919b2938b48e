"""`python -m api`: the one way to start the API server, configured by Settings.

- `API_HOST`, `API_PORT`, `API_WORKERS` (processes; one per core by default).
- `FORWARDED_ALLOW_IPS`: the proxies whose X-Forwarded-* headers are believed, passed to
  uvicorn explicitly (its own default believes 127.0.0.1, and so anything on the host).
  Empty (the default): proxy headers are off and the client is the connecting address.
- Every service is reached once before any worker starts: an unreachable one is one line
  and exit status 1, instead of each worker failing on its own.
- A request uvicorn cannot parse is answered with the API's error envelope
  (`api.server.ApiHttpProtocol`); uvicorn's access log is off (the API logs each request).
"""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn

from api.app import build_services
from api.server import ApiHttpProtocol
from penguinmails.checks import ServiceUnavailable
from penguinmails.logging import configure_logging
from penguinmails.secrets import SecretStoreUnavailable
from penguinmails.settings import Settings, get_settings

log = logging.getLogger("penguinmails.api")


async def _check(settings: Settings) -> None:
    services = await build_services(settings)
    await services.close()


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    try:
        asyncio.run(_check(settings))
    except (ServiceUnavailable, SecretStoreUnavailable) as exc:
        log.error("%s", exc)
        return 1
    trusted = settings.forwarded_allow_ips.strip()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
        http=ApiHttpProtocol,
        access_log=False,
        log_config=None,  # configure_logging's handler, here and in each worker
        log_level=settings.log_level.lower(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
