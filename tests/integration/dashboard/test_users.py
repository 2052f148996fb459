"""The users page: admins add, disable, enable, unlock users and reset their second factor."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import sqlalchemy as sa

from hotline import accounts
from hotline.tables import audit_log, user_recovery_codes, users
from tests.conftest import CLIENT_ADDRESS
from tests.dashboard_helpers import csrf_of, sign_in
from web.app import HotlineApp

PASSWORD = "a long enough password"
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


def board(app: HotlineApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def post_password(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await client.get("/dashboard/login")
    found = LOGIN_CSRF.search(page.text)
    assert found
    return await client.post(
        "/dashboard/login",
        data={"login_csrf": found.group(1), "username": username, "password": password},
    )


async def user_changes(app: HotlineApp) -> list[dict[str, Any]]:
    async with app.state.dashboard.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.detail)
                .where(audit_log.c.action == "user_change")
                .order_by(audit_log.c.id)
            )
        ).scalars()
        return list(rows)


async def test_the_users_page_lists_each_user_with_role_second_factor_and_status(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.dashboard.engine
    await sign_in(app, board_client, role="admin")
    locked_id = await accounts.add_user(engine, "locked-lou", PASSWORD, "supervisor")
    off_id = await accounts.add_user(engine, "off-olga", PASSWORD, "dispatcher")
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == locked_id)
            .values(failed_logins=6, locked_until=datetime.now(UTC) + timedelta(minutes=5))
        )
    await accounts.disable_user(engine, off_id)

    page = await board_client.get("/dashboard/users")
    assert page.status_code == 200
    lou = page.text.split("locked-lou", 1)[1].split("</tr>", 1)[0]
    assert "supervisor" in lou
    assert "not set up" in lou
    assert ">locked<" in lou.replace("\n", "").replace(" ", "")
    assert f"/dashboard/users/{locked_id}/unlock" in lou
    olga = page.text.split("off-olga", 1)[1].split("</tr>", 1)[0]
    assert "disabled" in olga
    assert f"/dashboard/users/{off_id}/enable" in olga


async def test_an_admin_adds_a_user_who_can_then_sign_in_with_the_temporary_password(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client, role="admin")
    page = await board_client.get("/dashboard/users")
    answer = await board_client.post(
        "/dashboard/users",
        data={
            "csrf": csrf_of(page),
            "username": "new-nina",
            "role": "supervisor",
            "password": "temporary password 1",
        },
    )
    assert answer.status_code == 303
    added = await accounts.find_user_by_name(app.state.dashboard.engine, "new-nina")
    assert added is not None
    assert added.role == "supervisor"
    assert {"user_id": added.id, "change": "add", "role": "supervisor"} in await user_changes(app)

    async with board(app) as nina:
        signed = await post_password(nina, "new-nina", "temporary password 1")
        assert signed.status_code == 303
        assert signed.headers["location"] == "/dashboard/enrol"


async def test_adding_a_user_with_a_short_password_or_a_taken_name_is_refused(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    short = await board_client.post(
        "/dashboard/users",
        data={"csrf": admin.csrf, "username": "shorty", "role": "dispatcher", "password": "short"},
    )
    assert short.status_code == 400
    assert "at least 12 characters" in short.text
    assert await accounts.find_user_by_name(app.state.dashboard.engine, "shorty") is None

    taken = await board_client.post(
        "/dashboard/users",
        data={
            "csrf": admin.csrf,
            "username": admin.username,
            "role": "dispatcher",
            "password": "long enough password",
        },
    )
    assert taken.status_code == 409
    assert "taken" in taken.text


async def test_disabling_and_enabling_a_user_is_audited_and_takes_effect(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.dashboard.engine
    admin = await sign_in(app, board_client, role="admin")
    user_id = await accounts.add_user(engine, "toggle-tom", PASSWORD, "dispatcher")

    off = await board_client.post(f"/dashboard/users/{user_id}/disable", data={"csrf": admin.csrf})
    assert off.status_code == 303
    async with board(app) as tom:
        assert (await post_password(tom, "toggle-tom", PASSWORD)).status_code == 403
        on = await board_client.post(
            f"/dashboard/users/{user_id}/enable", data={"csrf": admin.csrf}
        )
        assert on.status_code == 303
        assert (await post_password(tom, "toggle-tom", PASSWORD)).status_code == 303
    changes = await user_changes(app)
    assert {"user_id": user_id, "change": "disable"} in changes
    assert {"user_id": user_id, "change": "enable"} in changes


async def test_resetting_the_second_factor_ends_sessions_and_asks_for_enrolment_again(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    state = app.state.dashboard
    admin = await sign_in(app, board_client, role="admin")
    async with board(app) as victim:
        who = await sign_in(app, victim, role="supervisor")
        # sign_in marks the user enrolled without a secret: enrol for real, then reset.
        async with state.engine.begin() as conn:
            await conn.execute(
                sa.update(users).where(users.c.id == who.user_id).values(totp_confirmed_at=None)
            )
        secret = await accounts.begin_enrolment(
            state.engine, state.sealer, state.opener, who.user_id
        )
        codes = await accounts.confirm_enrolment(
            state.engine, state.opener, who.user_id, pyotp.TOTP(secret).now()
        )
        assert codes

        reset = await board_client.post(
            f"/dashboard/users/{who.user_id}/reset-2fa", data={"csrf": admin.csrf}
        )
        assert reset.status_code == 303
        assert (await victim.get("/dashboard/users")).headers["location"] == "/dashboard/login"
    async with state.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(users.c.totp_sealed, users.c.totp_confirmed_at).where(
                    users.c.id == who.user_id
                )
            )
        ).one()
        left = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(user_recovery_codes)
                .where(user_recovery_codes.c.user_id == who.user_id)
            )
        ).scalar_one()
    assert row.totp_sealed is None
    assert row.totp_confirmed_at is None
    assert left == 0
    assert {"user_id": who.user_id, "change": "reset_2fa"} in await user_changes(app)


async def test_an_admin_cannot_disable_their_own_account_from_the_page(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    answer = await board_client.post(
        f"/dashboard/users/{admin.user_id}/disable", data={"csrf": admin.csrf}
    )
    assert answer.status_code == 409
    assert (await board_client.get("/dashboard/users")).status_code == 200


async def test_a_change_to_a_user_that_does_not_exist_is_not_found(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    answer = await board_client.post("/dashboard/users/987654/unlock", data={"csrf": admin.csrf})
    assert answer.status_code == 404
    assert await user_changes(app) == []
