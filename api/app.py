"""`create_app()`: the ASGI application, its lifespan and its middleware."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import install_error_handlers
from api.middleware import ApiMiddleware
from api.openapi import install_openapi
from api.ratelimit import RateLimiter
from api.routes import (
    analytics,
    api_keys,
    billing,
    campaigns,
    codec,
    companies,
    domains,
    email_accounts,
    health,
    imports,
    inbound_webhook,
    inbox,
    ip_addresses,
    lead_lists,
    lead_signals,
    leads,
    notifications,
    staff_audit,
    staff_config,
    staff_flags,
    staff_ip_pool,
    staff_notifications,
    staff_plans,
    staff_tenants,
    stripe_webhooks,
    suppressions,
    tags,
    template_folders,
    templates,
    tenants,
    unsubscribe,
    users,
    vps_instances,
    warmups,
    webhooks,
)
from api.services import Services
from api.tracking import TrackingHandler, is_tracking_path
from api.validation import install_unstorable_handler
from penguinmails.checks import (
    ServiceUnavailable,
    check_postgres,
    check_redis,
    check_temporal,
)
from penguinmails.codec import EncryptionCodec
from penguinmails.db import Database
from penguinmails.logging import configure_logging
from penguinmails.runtime import secret_store
from penguinmails.secrets import SecretStoreUnavailable
from penguinmails.settings import Settings, get_settings
from penguinmails.temporal import connect

log = logging.getLogger("penguinmails.api")


class TrackingFront:
    """In front of the whole middleware stack (Starlette's error layer included): the
    tracking paths (`/t/o/`, `/t/c/`) go to their raw handler (api/tracking.py), everything
    else to the stack."""

    def __init__(self, stack: ASGIApp, tracking: TrackingHandler) -> None:
        self.stack = stack
        self.tracking = tracking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_tracking_path(scope["path"]):
            await self.tracking(scope, receive, send)
            return
        await self.stack(scope, receive, send)


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes into the application's own table. `include_router` keeps each
    router as a nested branch that every request walks and matches twice (FastAPI 0.16x),
    about 7% of an authenticated read's work. Our routers carry their prefixes and tags on
    their routes and are included with no options of their own, so the routes are the
    same either way (tests/api/test_openapi.py compares the documents)."""
    app.router.routes.extend(router.routes)


async def build_services(settings: Settings) -> Services:
    """Reach every service once at start; an unreachable one fails with one clear line."""
    await check_postgres(settings.app_database_url())
    await check_redis(settings.redis_url or "")
    await check_temporal(settings.temporal_address or "")
    store = secret_store(settings)
    key = await store.get_or_create_codec_key(settings.codec_key_path)
    redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
    return Services(
        settings=settings,
        db=Database(settings),
        redis=redis,
        temporal=await connect(settings, key),
        codec=EncryptionCodec(key),
        limiter=RateLimiter(redis),
        secrets=store,
    )


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is None:
            configure_logging(settings.log_level)
            try:
                app.state.services = await build_services(settings)
            except (ServiceUnavailable, SecretStoreUnavailable) as exc:
                # One line naming the service. Any exception raised here would reach uvicorn,
                # which prints the lifespan's traceback; nothing is bound or open yet, so the
                # process can simply end.
                log.error("%s", exc)
                logging.shutdown()
                os._exit(1)
        # What start-up built (modules, engines, clients) lives as long as the process: out
        # of the collector's sight, a full collection no longer walks it (~200k objects, a
        # pause of a tenth of a second or more, every few thousand requests).
        gc.collect()
        gc.freeze()
        yield
        await tracking.close()
        if services is None:
            await app.state.services.close()

    # /docs and /redoc with Swagger UI and ReDoc served by the API itself (no CDN: they work
    # offline and behind a strict egress policy).
    app = FastAPIOffline(
        title="PenguinMails API",
        version="1.0.0",
        lifespan=lifespan,
        description="Multi-tenant cold e-mail campaigns. Authenticate with `Authorization: Bearer <api key>`.",
        # No OpenTelemetry here (requests are traced by their id in the log lines): said
        # once, instead of FastAPI asking OpenTelemetry's global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if services is not None:  # injected (tests): usable even without running the lifespan
        app.state.services = services
    tracking = TrackingHandler(app.state)
    build_stack = app.build_middleware_stack
    # Starlette builds the stack on the first request; the tracking front goes around it.
    app.build_middleware_stack = lambda: TrackingFront(build_stack(), tracking)  # type: ignore[method-assign]
    install_error_handlers(app)
    install_unstorable_handler(app)
    for router in (health, tenants, api_keys, companies, users, codec, domains, email_accounts):
        add_routes(app, router.router)
    for router in (templates, template_folders, tags):
        add_routes(app, router.router)
    for router in (lead_lists, imports, leads, suppressions):
        add_routes(app, router.router)
    for router in (campaigns, lead_signals, analytics, webhooks, inbox, notifications):
        add_routes(app, router.router)
    for router in (vps_instances, ip_addresses, warmups):
        add_routes(app, router.router)
    for router in (billing, staff_plans, staff_flags, staff_config, stripe_webhooks):
        add_routes(app, router.router)
    for router in (staff_tenants, staff_notifications, staff_audit, staff_ip_pool):
        add_routes(app, router.router)
    add_routes(app, unsubscribe.router)  # public, signed: /u/{token}
    add_routes(app, inbound_webhook.router)  # a mail relay's, shared secret
    # /t/o/ and /t/c/ (public, signed) are answered in front of all this: TrackingFront.
    install_openapi(app)
    # Request id, CORS, unexpected errors, body limit, per-IP limit, unstorable text: one
    # layer (api/middleware.py).
    app.add_middleware(
        ApiMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.lead_import_max_bytes,
        inbound_max_bytes=settings.inbound_webhook_max_bytes,
        cors_origins=settings.cors_origins,
    )
    return app
