"""``hotline user``: add, list, disable, reset-2fa and unlock dashboard accounts."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
import sqlalchemy as sa
import structlog

from hotline import accounts, cli
from hotline.settings import Settings
from hotline.tables import audit_log, users
from tests.conftest import CLIENT_ADDRESS
from web.app import HotlineApp

PASSWORD = "a password from the environment"
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


@pytest.fixture
def hotline_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HOTLINE_USER_PASSWORD", PASSWORD)


async def run(*argv: str) -> int:
    """``hotline ARGV`` in this process; the logging it configured is put back afterwards
    (it writes to the stderr of the moment, which pytest closes after the test)."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return await asyncio.to_thread(cli.main, list(argv))
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


async def post_password(app: HotlineApp, username: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        page = await client.get("/dashboard/login")
        found = LOGIN_CSRF.search(page.text)
        assert found
        return await client.post(
            "/dashboard/login",
            data={"login_csrf": found.group(1), "username": username, "password": password},
        )


@pytest.mark.usefixtures("hotline_env")
async def test_user_add_makes_an_account_that_signs_in_with_that_password(
    app: HotlineApp, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("user", "add", "cli-carla", "--role", "supervisor") == 0
    account = await accounts.find_user_by_name(app.state.dashboard.engine, "cli-carla")
    assert account is not None
    assert account.role == "supervisor"
    assert PASSWORD not in capsys.readouterr().out

    answer = await post_password(app, "cli-carla", PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/enrol"

    assert await run("user", "list") == 0
    listed = capsys.readouterr().out
    assert "cli-carla\tsupervisor\tno-2fa\tactive" in listed
    async with app.state.dashboard.engine.connect() as conn:
        details = (
            await conn.execute(
                sa.select(audit_log.c.detail).where(audit_log.c.action == "user_change")
            )
        ).scalars()
        assert {"user_id": account.id, "change": "add", "by": "cli"} in list(details)


@pytest.mark.usefixtures("hotline_env")
async def test_user_add_refuses_a_short_password_or_a_taken_name_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await run("user", "add", "cli-dora") == 0
    capsys.readouterr()
    assert await run("user", "add", "cli-dora") == 1
    assert capsys.readouterr().err.strip().splitlines() == ["hotline: that username is taken"]
    monkeypatch.setenv("HOTLINE_USER_PASSWORD", "short")
    assert await run("user", "add", "cli-eddy") == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.usefixtures("hotline_env")
async def test_user_disable_ends_sessions_and_stops_sign_in(app: HotlineApp) -> None:
    state = app.state.dashboard
    user_id = await accounts.add_user(state.engine, "cli-fred", PASSWORD, "dispatcher")
    token = await state.sessions.create(user_id, "full")
    assert await run("user", "disable", "cli-fred") == 0
    assert await state.sessions.find(token) is None
    assert (await post_password(app, "cli-fred", PASSWORD)).status_code == 403


@pytest.mark.usefixtures("hotline_env")
async def test_user_reset_2fa_forgets_the_authenticator_so_sign_in_enrols_again(
    app: HotlineApp,
) -> None:
    state = app.state.dashboard
    user_id = await accounts.add_user(state.engine, "cli-gwen", PASSWORD, "dispatcher")
    secret = await accounts.begin_enrolment(state.engine, state.sealer, state.opener, user_id)
    assert await accounts.confirm_enrolment(
        state.engine, state.opener, user_id, pyotp.TOTP(secret).now()
    )
    token = await state.sessions.create(user_id, "full")
    assert (await post_password(app, "cli-gwen", PASSWORD)).headers["location"] == (
        "/dashboard/totp"
    )

    assert await run("user", "reset-2fa", "cli-gwen") == 0
    assert await state.sessions.find(token) is None
    assert (await post_password(app, "cli-gwen", PASSWORD)).headers["location"] == (
        "/dashboard/enrol"
    )


@pytest.mark.usefixtures("hotline_env")
async def test_user_unlock_lets_a_locked_account_in_again(app: HotlineApp) -> None:
    engine = app.state.dashboard.engine
    user_id = await accounts.add_user(engine, "cli-hugo", PASSWORD, "dispatcher")
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(failed_logins=6, locked_until=datetime.now(UTC) + timedelta(minutes=30))
        )
    assert (await post_password(app, "cli-hugo", PASSWORD)).status_code == 403
    assert await run("user", "unlock", "cli-hugo") == 0
    assert (await post_password(app, "cli-hugo", PASSWORD)).status_code == 303


@pytest.mark.usefixtures("hotline_env")
async def test_a_change_to_an_unknown_user_fails_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run("user", "disable", "nobody-at-all") == 1
    assert capsys.readouterr().err.strip().splitlines() == ["hotline: no user by that name"]
