"""Every dashboard form refuses a POST without this session's CSRF token, or with a wrong one.

The routes come from the live app, so a route added tomorrow is covered without editing
this file: the guard's check, the sign-in form's cookie-bound token, and the second-step
pages' own check are all held to the same answer, 403.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pyotp

from hotline import accounts
from tests.conftest import CLIENT_ADDRESS
from tests.dashboard_helpers import sign_in, walk
from web.app import HotlineApp
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE, sign_token

# Fields a form might want, so a 403 cannot come from a missing field instead.
FIELDS = {
    "username": "someone",
    "password": "a long enough password",
    "code": "123456",
    "text": "words",
    "role": "dispatcher",
}
WRONG_TOKEN = "d3JvbmcgdG9rZW4gZm9yIHRoaXMgc2Vzc2lvbiBhdCBhbGw"


def dashboard_posts(app: HotlineApp) -> list[str]:
    return sorted(
        {
            path
            for path, route in walk(app.routes)
            if path.startswith("/dashboard") and "POST" in (route.methods or ())
        }
    )


def board(app: HotlineApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


def give_session(app: HotlineApp, client: httpx.AsyncClient, token: str) -> None:
    value = sign_token(app.state.dashboard.hasher, token)
    # The cookie jar files a dotless host's cookies under ``<host>.local``.
    client.cookies.set(SESSION_COOKIE, value, domain="testserver.local", path=COOKIE_PATH)
    # A sign-in form's cookie too, so /dashboard/login is refused for its token alone.
    client.cookies.set(
        "hotline_login", secrets.token_urlsafe(32), domain="testserver.local", path=COOKIE_PATH
    )


async def test_every_dashboard_post_without_a_csrf_token_or_with_a_wrong_one_is_refused(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    state = app.state.dashboard
    paths = dashboard_posts(app)
    assert {"/dashboard/login", "/dashboard/enrol", "/dashboard/totp", "/dashboard/logout"} <= set(
        paths
    )

    await sign_in(app, board_client, role="admin")
    full = next(c.value for c in board_client.cookies.jar if c.name == SESSION_COOKIE)
    enrolling = await accounts.add_user(state.engine, "half-enrol", "a long password!", "admin")
    enrolled = await accounts.add_user(state.engine, "half-totp", "a long password!", "admin")
    secret = await accounts.begin_enrolment(state.engine, state.sealer, state.opener, enrolled)
    assert await accounts.confirm_enrolment(
        state.engine, state.opener, enrolled, pyotp.TOTP(secret).now()
    )

    refused: list[str] = []
    async with board(app) as admin, board(app) as enrol, board(app) as second:
        admin.cookies.set(SESSION_COOKIE, full or "", domain="testserver.local", path=COOKIE_PATH)
        admin.cookies.set(
            "hotline_login", secrets.token_urlsafe(32), domain="testserver.local", path=COOKIE_PATH
        )
        give_session(app, enrol, await state.sessions.create(enrolling, "password"))
        give_session(app, second, await state.sessions.create(enrolled, "password"))
        sessions = {"full admin": admin, "password stage, enrolling": enrol, "at TOTP": second}
        for path in paths:
            for who, client in sessions.items():
                attempts = {
                    "no token": await client.post(path, data=FIELDS),
                    "wrong field": await client.post(
                        path, data={**FIELDS, "csrf": WRONG_TOKEN, "login_csrf": WRONG_TOKEN}
                    ),
                    "wrong header": await client.post(
                        path, data=FIELDS, headers={"X-CSRF-Token": WRONG_TOKEN}
                    ),
                }
                refused.extend(
                    f"POST {path} as {who} with {how}: {answer.status_code}"
                    for how, answer in attempts.items()
                    if answer.status_code != 403
                )
    assert not refused, "\n".join(refused)


async def test_the_same_forms_with_the_right_token_are_not_refused_as_forgeries(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    """The control: the 403s above come from the token, not from something else."""
    admin = await sign_in(app, board_client, role="admin")
    full = next(c.value for c in board_client.cookies.jar if c.name == SESSION_COOKIE)
    board_client.cookies.set(
        SESSION_COOKIE, full or "", domain="testserver.local", path=COOKIE_PATH
    )
    unlocked = await board_client.post(
        f"/dashboard/users/{admin.user_id}/unlock", data={"csrf": admin.csrf}
    )
    assert unlocked.status_code == 303
    async with board(app) as visitor:
        page = await visitor.get("/dashboard/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert token
        answer = await visitor.post(
            "/dashboard/login", data={**FIELDS, "login_csrf": token.group(1)}
        )
        assert answer.status_code == 400  # a wrong password, not a forgery
