"""Signing in to the dashboard: password, authenticator enrolment, codes, lockout, sessions."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import accounts
from hotline.settings import Settings
from hotline.tables import audit_log, dashboard_sessions, users
from tests.conftest import CLIENT_ADDRESS, make_settings, stored_bytes
from tests.dashboard_helpers import csrf_of, sign_in
from web.app import HotlineApp, create_app
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE

PASSWORD = "a long enough password"
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')
SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>")
WRONG = "That username and password do not match an account."
LOCKED = "This account is locked"


def board(app: HotlineApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def post_password(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/dashboard/login")
    assert page.status_code == 200
    found = LOGIN_CSRF.search(page.text)
    assert found, "the sign-in form carries its CSRF token"
    return await client.post(
        "/dashboard/login",
        data={"login_csrf": found.group(1), "username": username, "password": password},
    )


async def post_code(client: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await client.get("/dashboard/totp")
    assert page.status_code == 200, page.text
    return await client.post("/dashboard/totp", data={"csrf": csrf_of(page), "code": code})


async def enrolled_user(app: HotlineApp, username: str) -> tuple[int, str, list[str]]:
    """A user who set up an authenticator a moment ago: id, TOTP secret, recovery codes."""
    state = app.state.dashboard
    user_id = await accounts.add_user(state.engine, username, PASSWORD, "dispatcher")
    secret = await accounts.begin_enrolment(state.engine, state.sealer, state.opener, user_id)
    codes = await accounts.confirm_enrolment(
        state.engine, state.opener, user_id, pyotp.TOTP(secret).now()
    )
    assert codes is not None
    return user_id, secret, codes


def next_code(secret: str) -> str:
    """The code of the next time step: inside the window, and never used at enrolment."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return {part.strip().lower() for part in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie set")


async def user_row(app: HotlineApp, user_id: int) -> sa.Row[tuple[int, datetime | None]]:
    async with app.state.dashboard.engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(users.c.failed_logins, users.c.locked_until).where(users.c.id == user_id)
            )
        ).one()


async def test_a_new_admin_signs_in_enrols_an_authenticator_and_opens_the_users_page(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    state = app.state.dashboard
    user_id = await accounts.add_user(state.engine, "ada", PASSWORD, "admin")

    answer = await post_password(board_client, "ada", PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/enrol"
    # Half signed in: nothing but the second step opens.
    assert (await board_client.get("/dashboard/users")).headers["location"] == "/dashboard/login"

    page = await board_client.get("/dashboard/enrol")
    assert page.status_code == 200
    assert '<img src="data:image/svg+xml' in page.text
    found = SECRET.search(page.text)
    assert found
    secret = found.group(1).replace(" ", "")
    again = await board_client.get("/dashboard/enrol")
    assert SECRET.search(again.text).group(1).replace(" ", "") == secret  # type: ignore[union-attr]

    done = await board_client.post(
        "/dashboard/enrol", data={"csrf": csrf_of(again), "code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 200
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert 'href="/dashboard/"' in done.text

    listing = await board_client.get("/dashboard/users")
    assert listing.status_code == 200
    assert "ada" in listing.text
    async with state.engine.connect() as conn:
        actions = (
            await conn.execute(sa.select(audit_log.c.action).where(audit_log.c.user_id == user_id))
        ).scalars()
        assert "sign_in" in list(actions)


async def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await accounts.add_user(app.state.dashboard.engine, "bea", PASSWORD, "dispatcher")
    wrong_password = await post_password(board_client, "bea", "not the password at all")
    no_such_user = await post_password(board_client, "nobody-here", "not the password at all")
    assert wrong_password.status_code == no_such_user.status_code == 400
    assert WRONG in wrong_password.text
    assert WRONG in no_such_user.text


async def test_a_disabled_user_cannot_sign_in(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.dashboard.engine
    user_id = await accounts.add_user(engine, "cyd", PASSWORD, "dispatcher")
    await accounts.disable_user(engine, user_id)
    answer = await post_password(board_client, "cyd", PASSWORD)
    assert answer.status_code == 403
    assert "hotline_session" not in answer.headers.get("set-cookie", "")


async def test_the_sixth_wrong_password_locks_the_account_until_an_admin_unlocks_it(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.dashboard.engine
    user_id = await accounts.add_user(engine, "dee", PASSWORD, "dispatcher")
    for attempt in range(1, 6):
        answer = await post_password(board_client, "dee", f"wrong password {attempt}")
        assert answer.status_code == 400
        assert WRONG in answer.text
    assert (await user_row(app, user_id)).locked_until is None

    sixth = await post_password(board_client, "dee", "wrong password 6")
    assert WRONG in sixth.text  # a stranger is not told the account exists, nor that it locked
    assert (await user_row(app, user_id)).locked_until is not None

    refused = await post_password(board_client, "dee", PASSWORD)
    assert refused.status_code == 403
    assert LOCKED in refused.text
    assert "ask an admin" in refused.text.lower()

    async with board(app) as admin_client:
        admin = await sign_in(app, admin_client, role="admin")
        unlocked = await admin_client.post(
            f"/dashboard/users/{user_id}/unlock", data={"csrf": admin.csrf}
        )
        assert unlocked.status_code == 303, unlocked.text
    answer = await post_password(board_client, "dee", PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/enrol"


async def test_a_lock_that_ran_out_lets_the_right_password_in(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.dashboard.engine
    user_id = await accounts.add_user(engine, "eli", PASSWORD, "dispatcher")
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(failed_logins=6, locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await post_password(board_client, "eli", PASSWORD)).status_code == 303
    # A wrong password after a lapsed lock starts counting afresh.
    await post_password(board_client, "eli", "wrong once more!")
    row = await user_row(app, user_id)
    assert row.failed_logins == 1
    assert row.locked_until is None


@pytest.fixture
async def strict_app(data_dir: Path, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    settings = make_settings(
        data_dir, key_passphrase="test passphrase", login_failures_per_minute=3
    )
    application = create_app(settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


async def test_a_flood_of_wrong_passwords_makes_sign_in_answer_429_for_everyone(
    strict_app: HotlineApp,
) -> None:
    engine = strict_app.state.dashboard.engine
    await accounts.add_user(engine, "fay", PASSWORD, "dispatcher")
    async with board(strict_app) as attacker, board(strict_app) as colleague:
        for attempt in range(3):
            answer = await post_password(attacker, f"guess-{attempt}", "some password guess")
            assert answer.status_code == 400
        assert (await post_password(attacker, "guess-4", "some password guess")).status_code == 429
        refused = await post_password(colleague, "fay", PASSWORD)
        assert refused.status_code == 429
        assert "hotline_session" not in refused.headers.get("set-cookie", "")


async def test_a_totp_code_works_once_and_its_replay_is_refused(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    _user_id, secret, _codes = await enrolled_user(app, "gil")
    code = next_code(secret)
    assert (await post_password(board_client, "gil", PASSWORD)).headers[
        "location"
    ] == "/dashboard/totp"
    signed = await post_code(board_client, code)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/dashboard/"

    async with board(app) as thief:
        await post_password(thief, "gil", PASSWORD)
        replay = await post_code(thief, code)
        assert replay.status_code == 400
        assert "hotline_session" not in replay.headers.get("set-cookie", "")
        # An older step than the last one accepted is refused too.
        assert (await post_code(thief, pyotp.TOTP(secret).at(time.time() - 30))).status_code == 400


async def test_a_recovery_code_signs_in_once(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    _user_id, _secret, codes = await enrolled_user(app, "hal")
    await post_password(board_client, "hal", PASSWORD)
    first = await post_code(board_client, codes[3].upper())  # as someone might type it
    assert first.status_code == 303
    assert first.headers["location"] == "/dashboard/"

    async with board(app) as again:
        await post_password(again, "hal", PASSWORD)
        assert (await post_code(again, codes[3])).status_code == 400
        assert (await post_code(again, codes[4])).status_code == 303


async def test_wrong_codes_count_toward_the_lock(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    user_id, secret, _codes = await enrolled_user(app, "ivy")
    await post_password(board_client, "ivy", PASSWORD)
    for attempt in range(5):
        assert (await post_code(board_client, f"00000{attempt}")).status_code == 400
    assert (await user_row(app, user_id)).failed_logins == 5
    page = await board_client.get("/dashboard/totp")
    locked = await board_client.post(
        "/dashboard/totp", data={"csrf": csrf_of(page), "code": "kkkk-kkkk-kkkk"}
    )
    assert locked.status_code == 403
    assert LOCKED in locked.text
    assert (await user_row(app, user_id)).locked_until is not None
    # The half-made session ended with the lock; the right password no longer gets in either.
    assert (await board_client.get("/dashboard/totp")).headers["location"] == "/dashboard/login"
    refused = await post_password(board_client, "ivy", PASSWORD)
    assert refused.status_code == 403
    assert next_code(secret)  # the right code would not be asked for


async def test_the_session_cookie_is_httponly_secure_strict_and_scoped_to_the_dashboard(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await accounts.add_user(app.state.dashboard.engine, "jan", PASSWORD, "dispatcher")
    page = await board_client.get("/dashboard/login")
    expected = {"httponly", "secure", "samesite=strict", "path=/dashboard"}
    assert expected <= cookie_attributes(page, "hotline_login")
    answer = await post_password(board_client, "jan", PASSWORD)
    assert expected <= cookie_attributes(answer, "hotline_session")


async def test_an_idle_session_sends_you_back_to_the_sign_in_page(
    app: HotlineApp, board_client: httpx.AsyncClient, settings: Settings
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    assert (await board_client.get("/dashboard/users")).status_code == 200
    idle = timedelta(minutes=settings.session_idle_minutes, seconds=5)
    async with app.state.dashboard.engine.begin() as conn:
        await conn.execute(
            sa.update(dashboard_sessions)
            .where(dashboard_sessions.c.user_id == admin.user_id)
            .values(last_seen_at=datetime.now(UTC) - idle)
        )
    answer = await board_client.get("/dashboard/users")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"


async def test_signing_out_revokes_the_session_so_the_old_cookie_opens_nothing(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    old_cookie = next(c.value for c in board_client.cookies.jar if c.name == SESSION_COOKIE)
    answer = await board_client.post("/dashboard/logout", data={"csrf": admin.csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"
    async with app.state.dashboard.engine.connect() as conn:
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars()
        assert "sign_out" in list(actions)

    async with board(app) as replayer:
        replayer.cookies.set(
            SESSION_COOKIE, old_cookie or "", domain="testserver.local", path=COOKIE_PATH
        )
        again = await replayer.get("/dashboard/users")
        assert again.status_code == 303
        assert again.headers["location"] == "/dashboard/login"


async def test_disabling_a_user_ends_their_live_session(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    async with board(app) as dispatcher_client:
        dispatcher = await sign_in(app, dispatcher_client, role="dispatcher")
        # Signed in, but not an admin: refused, not sent to sign in.
        assert (await dispatcher_client.get("/dashboard/users")).status_code == 403
        disabled = await board_client.post(
            f"/dashboard/users/{dispatcher.user_id}/disable", data={"csrf": admin.csrf}
        )
        assert disabled.status_code == 303
        answer = await dispatcher_client.get("/dashboard/users")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/dashboard/login"


async def test_the_totp_secret_and_recovery_codes_never_reach_the_database_file_in_clear(
    app: HotlineApp, board_client: httpx.AsyncClient, settings: Settings
) -> None:
    await accounts.add_user(app.state.dashboard.engine, "kit", PASSWORD, "dispatcher")
    await post_password(board_client, "kit", PASSWORD)
    page = await board_client.get("/dashboard/enrol")
    found = SECRET.search(page.text)
    assert found
    secret = found.group(1).replace(" ", "")
    done = await board_client.post(
        "/dashboard/enrol", data={"csrf": csrf_of(page), "code": pyotp.TOTP(secret).now()}
    )
    codes = RECOVERY.findall(done.text)
    assert codes

    stored = stored_bytes(settings.data_dir)
    assert stored
    for needle in (secret, secret.lower(), *codes, *(c.replace("-", "") for c in codes)):
        assert needle.encode("ascii") not in stored
