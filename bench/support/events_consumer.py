"""One events consumer as a process of its own (bench/tracking.py kills and restarts it):
the settings from the environment, no Temporal client (the bench's events ask for no
signal)."""

from __future__ import annotations

import asyncio
import signal

from redis.asyncio import Redis

from activities.events import EventsConsumer
from penguinmails.db import Database
from penguinmails.settings import get_settings


async def main() -> None:
    settings = get_settings()
    db = Database(settings)
    redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await EventsConsumer(db, redis, None, settings, name="bench-consumer").run(stop)
    await redis.aclose()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
