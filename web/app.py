"""The ASGI app factory: the web role's composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from hotline import db, keys, logs
from hotline.errors import HotlineError, StorageUnavailableError
from hotline.queue import redis_settings
from hotline.relay import Relay
from hotline.role import PublicRole
from hotline.sessions import SessionStore
from hotline.settings import Settings
from sms.channel import build_webhook
from web import public
from web.dashboard.alerts import read_reachability
from web.dashboard.core import Dashboard, build_templates
from web.dashboard.queue import end_streams
from web.dashboard.routes import all_routes as dashboard_routes
from web.i18n import WEB, Languages
from web.limits import AttemptCounter, TokenBucket
from web.security import BodyLimit, SecurityHeaders
from web.timing import RequestTiming

log = logs.get_logger(__name__)


class HotlineApp(Starlette):
    """Starlette, with the security headers outside everything, error pages included."""

    hotline_settings: Settings

    async def end_streams(self) -> None:
        """End the dashboard's live streams: the server calls this before it waits on
        connections, which it does before the lifespan's own shutdown."""
        if self.state.dashboard is not None:
            await end_streams(self.state.dashboard)

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return SecurityHeaders(
            inner,
            hsts=self.hotline_settings.hsts,
            onion_location=self.hotline_settings.onion_location,
        )


READY_TIMEOUT_SECONDS = 2.0


async def healthz(_request: Request) -> Response:
    """Liveness: the process answers."""
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Readiness: the database answers, someone is on call, pages reach people.

    No sign-in, every role: so it says booleans and counts only, never a name, a number or
    anything of a tip (not even how many are being paged). 200 when ok, 503 when degraded.
    """
    engine = request.app.state.engine
    database = on_call = paging = False
    layers_covered = 0
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            database = True
            reach = await read_reachability(engine, datetime.now(UTC))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("readiness_check_failed", status=type(exc).__name__)
        else:
            on_call = not reach.nobody_on_call
            layers_covered = sum(reach.on_call.values())
            paging = not reach.pages_failing
    ready = database and on_call and paging
    body = {
        "status": "ok" if ready else "degraded",
        "checks": {
            "database": {"ok": database},
            "on_call": {"ok": on_call, "layers_covered": layers_covered},
            "paging": {"ok": paging},
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503)


def create_app(settings: Settings, *, role: str | None = None) -> HotlineApp:
    """Build the web app for ``role`` (public, dashboard or all) from ``settings``."""
    role = role or settings.role
    engine = db.create_engine(settings)
    languages = Languages(settings.language_codes, settings.default_language)
    relay = Relay(
        engine,
        redis_settings(settings.redis_url, conn_retries=0) if settings.redis_url else None,
        sweep_interval=settings.sweep_interval_seconds,
        sweep_grace=settings.sweep_grace_seconds,
    )
    core = PublicRole.build(settings, engine, on_commit=relay.offer)
    sealer, hasher, committer = core.sealer, core.hasher, core.committer
    # The SMS webhook belongs to the public role, and only when Twilio is configured.
    sms_webhook = (
        build_webhook(settings, engine=engine, sealer=sealer, hasher=hasher, committer=committer)
        if role in ("public", "all") and settings.sms_enabled
        else None
    )
    site = public.PublicSite(
        settings=settings,
        languages=languages,
        intake=core.intake,
        followup=core.followup,
        hasher=hasher,
        intake_bucket=TokenBucket(
            per_minute=settings.intake_per_minute, burst=settings.intake_burst
        ),
        followup_failures=TokenBucket(
            per_minute=settings.followup_failures_per_minute,
            burst=settings.followup_failures_per_minute,
        ),
        code_attempts=AttemptCounter(
            limit=settings.followup_attempts_per_code, window_seconds=3600
        ),
    )

    # The dashboard role holds the private key: it reads tips, for people signed in.
    board = (
        Dashboard(
            settings=settings,
            engine=engine,
            sealer=sealer,
            opener=keys.load_opener(
                settings.keys_dir,
                settings.key_passphrase.get_secret_value() if settings.key_passphrase else None,
            ),
            hasher=hasher,
            committer=committer,
            sessions=SessionStore(
                engine,
                idle=timedelta(minutes=settings.session_idle_minutes),
                max_age=timedelta(hours=settings.session_max_hours),
            ),
            templates=build_templates(),
        )
        if role in ("dashboard", "all")
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await committer.start()
        await relay.start()
        if sms_webhook is not None:
            await sms_webhook.start()
        log.info("web_started", role=role)
        try:
            yield
        finally:
            await committer.stop()
            await relay.stop()
            if sms_webhook is not None:
                await sms_webhook.stop()
            await engine.dispose()

    async def render_error(scope: Scope, status_code: int) -> Response:
        request = Request(scope)
        return public.error_page(request, languages.choose(request), status_code)

    async def http_error(request: Request, exc: Exception) -> Response:
        status_code = exc.status_code if isinstance(exc, HTTPException) else 500
        return public.error_page(request, languages.choose(request), status_code)

    async def hotline_error(request: Request, exc: Exception) -> Response:
        status_code = exc.status_code if isinstance(exc, HotlineError) else 500
        log.warning("request_failed", status=type(exc).__name__, status_code=status_code)
        return public.error_page(request, languages.choose(request), status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("request_crashed", status=type(exc).__name__)
        return public.error_page(request, languages.choose(request), 500)

    routes: list[Any] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    if role in ("public", "all"):
        routes += public.routes
    if sms_webhook is not None:
        routes += sms_webhook.routes
    if board is not None:
        routes += dashboard_routes()
    routes.append(Mount("/static", StaticFiles(directory=WEB / "static"), name="static"))

    app = HotlineApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_error,
            HotlineError: hotline_error,
            StorageUnavailableError: hotline_error,
            Exception: server_error,
        },
    )
    app.hotline_settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, render_error=render_error)
    app.add_middleware(RequestTiming)  # latency by route template, for the internal metrics
    app.state.public = site
    app.state.dashboard = board
    app.state.relay = relay
    app.state.committer = committer
    app.state.engine = engine
    app.state.role = role
    return app
