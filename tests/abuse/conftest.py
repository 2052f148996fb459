"""Fixtures and helpers of the abuse suite: an app with the SMS channel and the dashboard in
one process, and a client that keeps cookies the way a browser does on a local server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import db
from hotline.tables import tips
from tests.conftest import (
    CLIENT_ADDRESS,
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
    make_settings,
)
from tests.dashboard_helpers import csrf_of
from web.app import HotlineApp, create_app

LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')
TOTP_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


@pytest.fixture
async def channel_app(
    data_dir: Path, redis: aioredis.Redis, twilio_api: Any
) -> AsyncIterator[HotlineApp]:
    """Public site, SMS webhook and dashboard in one app: every door an attacker may try."""
    settings = make_settings(
        data_dir,
        key_passphrase="test passphrase",
        public_url=SMS_PUBLIC_URL,
        twilio_account_sid=TWILIO_ACCOUNT_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from=TWILIO_FROM,
        twilio_api_url=twilio_api.url,
    )
    application = create_app(settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def channel_client(channel_app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=channel_app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as c:
        yield c


class CookieKeeper:
    """Sends back the cookies a server set, Secure ones included, as Chromium does for
    127.0.0.1; httpx's jar keeps Secure cookies for https only."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.jar: dict[str, str] = {}

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        answer = await self.client.request(method, url, headers=headers, **kwargs)
        for header in answer.headers.get_list("set-cookie"):
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        return answer

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)


async def sign_in_first_time(browser: CookieKeeper, username: str, password: str) -> None:
    """The whole first sign-in over HTTP: password, authenticator enrolment, recovery codes."""
    page = await browser.get("/dashboard/login")
    found = LOGIN_CSRF.search(page.text)
    assert found, page.text
    answer = await browser.post(
        "/dashboard/login",
        data={"login_csrf": found.group(1), "username": username, "password": password},
    )
    assert answer.status_code == 303, answer.status_code
    enrol = await browser.get("/dashboard/enrol")
    secret = TOTP_SECRET.search(enrol.text)
    assert secret, "the enrolment page shows the key"
    done = await browser.post(
        "/dashboard/enrol",
        data={"csrf": csrf_of(enrol), "code": pyotp.TOTP(secret.group(1).replace(" ", "")).now()},
    )
    assert done.status_code == 200, done.status_code
    queue = await browser.get("/dashboard/")
    assert queue.status_code == 200, queue.status_code


async def stored_tip_ids(data_dir: Path) -> list[str]:
    """The ids of the tips a server on ``data_dir`` stored, oldest first, read from outside
    it (on whichever database the tests run)."""
    engine = db.create_engine(make_settings(data_dir, key_passphrase="test passphrase"))
    try:
        async with engine.connect() as conn:
            query = sa.select(tips.c.id).order_by(tips.c.created_at, tips.c.id)
            return [str(tip_id) for tip_id in (await conn.execute(query)).scalars()]
    finally:
        await engine.dispose()
