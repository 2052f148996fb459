"""The rota page, adding and removing shifts, and each user's own pager number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from hotline import accounts, rota
from hotline.tables import audit_log, oncall_contacts, rota_shifts
from tests.conftest import stored_bytes
from tests.dashboard_helpers import PASSWORD, sign_in
from web.app import HotlineApp

NUMBER_E164 = "+12025550167"
# The same number as people write it: none of these may be found in the database files.
NUMBER_FORMS = ("12025550167", "2025550167", "202-555-0167", "202 555 0167", "(202) 555-0167")


async def add_user(app: HotlineApp, name: str, role: str = "dispatcher") -> int:
    board = app.state.dashboard
    return await accounts.add_user(board.engine, name, PASSWORD, role)  # type: ignore[arg-type]


async def add_shift(
    app: HotlineApp, user_id: int, layer: str, *, hours: int = 8, override: bool = False
) -> int:
    now = datetime.now(UTC)
    return await rota.add_shift(
        app.state.dashboard.engine,
        layer=layer,
        user_id=user_id,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=hours),
        tz="Europe/Madrid",
        override=override,
        created_by=None,
    )


async def rota_audit(app: HotlineApp) -> list[Any]:
    async with app.state.dashboard.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log.c.user_id, audit_log.c.action, audit_log.c.detail)
                .where(audit_log.c.action == "user_change")
                .order_by(audit_log.c.id)
            )
        ).all()
    return [row for row in rows if row.detail and "rota" in row.detail]


async def shift_rows(app: HotlineApp) -> list[Any]:
    async with app.state.dashboard.engine.connect() as conn:
        return list((await conn.execute(sa.select(rota_shifts).order_by(rota_shifts.c.id))).all())


def shift_form(csrf: str, user_id: int, **changes: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "layer": "primary",
        "user_id": str(user_id),
        "start_date": "2026-12-01",
        "start_time": "22:00",
        "end_date": "2026-12-02",
        "end_time": "06:00",
        "tz": "Europe/Madrid",
        **changes,
    }


async def test_the_rota_page_shows_who_is_on_call_and_warns_for_an_empty_layer_and_no_pager(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    board = app.state.dashboard
    await sign_in(app, board_client, role="dispatcher")
    paged = await add_user(app, "paula")
    unpaged = await add_user(app, "bruno")
    stand_in = await add_user(app, "olga")
    await rota.set_contact(
        board.engine, board.sealer, board.hasher, paged, NUMBER_E164, region="US"
    )
    await add_shift(app, paged, "primary")
    await add_shift(app, stand_in, "backup")
    await add_shift(app, unpaged, "backup", hours=3, override=True)

    page = await board_client.get("/dashboard/rota")

    assert page.status_code == 200
    text = page.text
    now_table = text[text.index("On call now") : text.index("Shifts in the next 14 days")]
    assert "paula" in now_table
    assert "bruno" in now_table  # the override wins over olga's regular shift
    assert "olga" not in now_table
    assert "override" in now_table
    assert "Nobody is on call as <strong>supervisor</strong>" in text
    assert "bruno (backup) has no pager number and cannot be paged." in text
    assert "paula (primary) has no pager number" not in text
    # The end of the shift, in its own zone and in UTC.
    assert "CET" in now_table or "CEST" in now_table
    assert "UTC" in now_table
    # Nobody's number is on the page, not even in part.
    assert "0167" not in text
    # The next two weeks: all three shifts, and the filter narrows them.
    shifts_table = text[text.index("Shifts in the next 14 days") :]
    assert all(name in shifts_table for name in ("paula", "bruno", "olga"))
    backups = await board_client.get("/dashboard/rota", params={"layer": "backup"})
    listed = backups.text[backups.text.index("Shifts in the next 14 days") :]
    assert "bruno" in listed
    assert "paula" not in listed


async def test_an_opted_out_holder_is_shown_as_unreachable(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    board = app.state.dashboard
    await sign_in(app, board_client, role="dispatcher")
    ana = await add_user(app, "ana")
    await rota.set_contact(board.engine, board.sealer, board.hasher, ana, NUMBER_E164, region="US")
    await rota.set_opted_out(board.engine, ana, True)
    await add_shift(app, ana, "primary")

    page = await board_client.get("/dashboard/rota")

    assert "ana (primary) has opted out of texts (STOP) and cannot be paged." in page.text


async def test_a_dispatcher_can_view_the_rota_but_cannot_add_or_remove_shifts(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    dispatcher = await sign_in(app, board_client, role="dispatcher")
    ana = await add_user(app, "ana")
    shift_id = await add_shift(app, ana, "primary")

    page = await board_client.get("/dashboard/rota")
    added = await board_client.post("/dashboard/rota", data=shift_form(dispatcher.csrf, ana))
    removed = await board_client.post(
        f"/dashboard/rota/{shift_id}/remove", data={"csrf": dispatcher.csrf}
    )

    assert page.status_code == 200
    assert "Add a shift" not in page.text
    assert f"/dashboard/rota/{shift_id}/remove" not in page.text
    assert (added.status_code, removed.status_code) == (403, 403)
    assert [row.id for row in await shift_rows(app)] == [shift_id]
    assert await rota_audit(app) == []


async def test_a_supervisor_adds_a_madrid_shift_at_the_right_instant_and_removes_it_audited(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    supervisor = await sign_in(app, board_client, role="supervisor")
    ana = await add_user(app, "ana")

    added = await board_client.post(
        "/dashboard/rota", data=shift_form(supervisor.csrf, ana, override="on")
    )

    assert added.status_code == 303
    assert added.headers["location"] == "/dashboard/rota?done=added"
    [row] = await shift_rows(app)
    assert row.starts_at == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert row.ends_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert (row.layer, row.user_id, row.tz, row.override) == (
        "primary",
        ana,
        "Europe/Madrid",
        True,
    )
    assert row.created_by == supervisor.user_id

    removed = await board_client.post(
        f"/dashboard/rota/{row.id}/remove", data={"csrf": supervisor.csrf}
    )

    assert removed.status_code == 303
    assert await shift_rows(app) == []
    entries = await rota_audit(app)
    assert [(e.user_id, e.detail) for e in entries] == [
        (supervisor.user_id, {"rota": "add", "shift_id": row.id, "layer": "primary"}),
        (supervisor.user_id, {"rota": "remove", "shift_id": row.id, "layer": "primary"}),
    ]
    again = await board_client.post(
        f"/dashboard/rota/{row.id}/remove", data={"csrf": supervisor.csrf}
    )
    assert again.status_code == 404


async def test_a_new_york_shift_across_the_spring_change_lands_at_the_right_instants(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    supervisor = await sign_in(app, board_client, role="supervisor")
    ana = await add_user(app, "ana")
    form = shift_form(
        supervisor.csrf,
        ana,
        start_date="2027-03-13",
        start_time="22:00",
        end_date="2027-03-14",
        end_time="06:00",
        tz="America/New_York",
    )

    added = await board_client.post("/dashboard/rota", data=form)

    assert added.status_code == 303
    [row] = await shift_rows(app)
    assert row.starts_at == datetime(2027, 3, 14, 3, 0, tzinfo=UTC)  # EST, -5
    assert row.ends_at == datetime(2027, 3, 14, 10, 0, tzinfo=UTC)  # EDT, -4


async def test_a_shift_starting_in_the_spring_gap_is_refused_with_a_clear_message(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    supervisor = await sign_in(app, board_client, role="supervisor")
    ana = await add_user(app, "ana")
    form = shift_form(
        supervisor.csrf,
        ana,
        start_date="2027-03-28",
        start_time="02:30",
        end_date="2027-03-28",
        end_time="09:00",
    )

    page = await board_client.post("/dashboard/rota", data=form)

    assert page.status_code == 400
    assert "2027-03-28 02:30 does not exist in Europe/Madrid" in page.text
    assert await shift_rows(app) == []
    assert await rota_audit(app) == []
    # The form keeps what was typed.
    assert 'value="2027-03-28"' in page.text
    assert "<option selected>Europe/Madrid</option>" in page.text


async def test_the_supervisor_layer_refuses_a_dispatcher_and_bad_input_is_refused(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    supervisor = await sign_in(app, board_client, role="supervisor")
    ana = await add_user(app, "ana")
    cases = [
        ({"layer": "supervisor"}, "only a supervisor or an admin"),
        ({"end_date": "2026-12-01", "end_time": "21:00"}, "end after it starts"),
        ({"end_date": "2027-01-05"}, "at most 31 days"),
        ({"tz": "Europe/Nowhere"}, "IANA"),
        ({"start_time": "late"}, "HH:MM"),
        ({"layer": "tertiary"}, "Choose a layer"),
        ({"user_id": "someone"}, "Choose who is on call"),
    ]
    for change, message in cases:
        page = await board_client.post(
            "/dashboard/rota", data={**shift_form(supervisor.csrf, ana), **change}
        )
        assert page.status_code == 400, change
        assert message in page.text, change
    missing = await board_client.post("/dashboard/rota", data=shift_form(supervisor.csrf, 99999))
    assert missing.status_code == 404
    assert await shift_rows(app) == []


async def test_a_pager_number_is_stored_only_sealed_and_hashed_and_shown_masked(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    board = app.state.dashboard
    me = await sign_in(app, board_client, role="dispatcher")

    saved = await board_client.post(
        "/dashboard/pager", data={"csrf": me.csrf, "number": "(202) 555-0167"}
    )

    assert saved.status_code == 303
    page = await board_client.get("/dashboard/pager")
    assert "+1 •••• ••67" in page.text
    assert not any(form in page.text for form in NUMBER_FORMS)
    assert "0167" not in page.text
    # Sealed to this user, found by its keyed hash.
    assert await rota.contact_number(board.engine, board.opener, me.user_id) == (
        NUMBER_E164,
        False,
    )
    assert await rota.user_for_phone(board.engine, board.hasher, NUMBER_E164) == me.user_id
    async with board.engine.connect() as conn:
        row = (await conn.execute(sa.select(oncall_contacts))).one()
    assert row.phone_hash == rota.phone_digest(board.hasher, NUMBER_E164)
    assert NUMBER_E164.encode() not in row.phone_sealed
    # Not in the database file, nor in its write-ahead log, in any form.
    stored = stored_bytes(board.settings.data_dir)
    assert b"user_change" in stored  # the scan reads the rows (here, the audit entry)
    for form in NUMBER_FORMS:
        assert form.encode() not in stored, form
    # The audit trail says that the number changed, not what it is.
    async with board.engine.connect() as conn:
        details = (
            await conn.execute(
                sa.select(audit_log.c.detail).where(audit_log.c.action == "user_change")
            )
        ).scalars()
        assert list(details) == [{"pager": "set", "user_id": me.user_id, "by": "self"}]


async def test_a_bad_pager_number_is_refused_without_being_shown_back(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    me = await sign_in(app, board_client, role="supervisor")

    page = await board_client.post(
        "/dashboard/pager", data={"csrf": me.csrf, "number": "555 01 987 12"}
    )

    assert page.status_code == 400
    assert "not a valid phone number" in page.text
    assert "987" not in page.text
    assert await rota.contact_states(app.state.dashboard.engine) == {}


async def test_a_user_clears_their_pager_number_and_the_rota_warns(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    board = app.state.dashboard
    me = await sign_in(app, board_client, role="dispatcher", username="dee")
    await board_client.post("/dashboard/pager", data={"csrf": me.csrf, "number": NUMBER_E164})
    await add_shift(app, me.user_id, "primary")
    before = await board_client.get("/dashboard/rota")
    assert "dee (primary) has no pager number" not in before.text

    cleared = await board_client.post("/dashboard/pager/clear", data={"csrf": me.csrf})

    assert cleared.status_code == 303
    assert await rota.contact_number(board.engine, board.opener, me.user_id) == (None, False)
    page = await board_client.get("/dashboard/pager")
    assert "You have no pager number" in page.text
    after = await board_client.get("/dashboard/rota")
    assert "dee (primary) has no pager number and cannot be paged." in after.text


async def test_the_rota_and_pager_pages_need_a_session(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    for path in ("/dashboard/rota", "/dashboard/pager"):
        page = await board_client.get(path)
        assert page.status_code == 303
        assert page.headers["location"] == "/dashboard/login"
    refused = await board_client.post("/dashboard/pager", data={"number": NUMBER_E164})
    assert refused.status_code == 403
