"""Where paging meets people on the dashboard: the alert block, acknowledging, the banner,
and a tip's pages. Chains are written straight into the database: no paging engine runs."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from hotline import rota
from hotline.accounts import add_user
from hotline.tables import audit_log, pages, tip_events, tips
from hotline.verdict import PRIORITY
from hotline.worklist import read_change_stamp
from tests.dashboard_helpers import CHEAP_PASSWORDS, PASSWORD, SignedIn, sign_in
from web.app import HotlineApp

BANNER = re.compile(r'<div class="unreachable" role="alert">.*?</div>', re.DOTALL)
ALERTS = re.compile(r'<section class="alerts".*?</section>', re.DOTALL)


async def add_tip(app: HotlineApp, *, urgency: str = "critical", **columns: Any) -> uuid.UUID:
    """A tip row as intake and triage leave it, a few minutes old."""
    board = app.state.dashboard
    tip_id = uuid.uuid4()
    created = datetime.now(UTC) - timedelta(minutes=3)
    row = {
        "id": tip_id,
        "reference": f"P-{tip_id.hex[:10].upper()}",
        "channel": "web",
        "lang": "en",
        "created_at": created,
        "updated_at": created,
        "dispatched_at": created,
        "status": "new",
        "assessed": True,
        "urgency": urgency,
        "priority": PRIORITY[urgency],
        "indicator_ids": [],
        "body_sealed": board.sealer.seal(b"sealed words", tip_id=tip_id, field="body"),
        **columns,
    }
    async with board.engine.begin() as conn:
        await conn.execute(sa.insert(tips).values(**row))
    return tip_id


async def add_page(
    app: HotlineApp,
    tip_id: uuid.UUID,
    *,
    step: int,
    layer: str,
    user_id: int | None,
    status: str,
    code: str = "4821",
    ago: timedelta = timedelta(minutes=2),
) -> None:
    at = datetime.now(UTC) - ago
    async with app.state.engine.begin() as conn:
        await conn.execute(
            sa.insert(pages).values(
                id=uuid.uuid4(),
                tip_id=tip_id,
                step=step,
                layer=layer,
                user_id=user_id,
                code=code,
                status=status,
                created_at=at,
                sent_at=at if status == "sent" else None,
            )
        )


async def add_user_named(app: HotlineApp, username: str, role: str = "dispatcher") -> int:
    return await add_user(
        app.state.engine,
        username,
        PASSWORD,
        role,  # type: ignore[arg-type]
        hasher=CHEAP_PASSWORDS,
    )


async def put_on_call(app: HotlineApp, user_id: int, layer: str = "primary") -> None:
    now = datetime.now(UTC)
    await rota.add_shift(
        app.state.engine,
        layer=layer,
        user_id=user_id,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=8),
        tz="UTC",
        override=False,
        created_by=None,
    )


async def tip_row(app: HotlineApp, tip_id: uuid.UUID) -> Any:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(sa.select(tips).where(tips.c.id == tip_id))).one()


async def acknowledged_events(app: HotlineApp, tip_id: uuid.UUID) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(tip_events).where(
                    tip_events.c.tip_id == tip_id, tip_events.c.kind == "acknowledged"
                )
            )
        ).all()


async def audit_entries(app: HotlineApp, tip_id: uuid.UUID) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.tip_id == tip_id).order_by(audit_log.c.id)
            )
        ).all()


async def acknowledge(
    client: httpx.AsyncClient, who: SignedIn, tip_id: uuid.UUID, back: str = "queue"
) -> httpx.Response:
    return await client.post(f"/dashboard/tips/{tip_id}/ack", data={"csrf": who.csrf, "back": back})


async def test_the_queue_lists_every_active_chain_with_who_was_paged_and_an_ack_form(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    bob = await add_user_named(app, "bob-on-backup")
    paged = await add_tip(app, page_state="active")
    await add_page(app, paged, step=0, layer="primary", user_id=None, status="no_number")
    await add_page(app, paged, step=1, layer="backup", user_id=bob, status="sent")
    quiet = await add_tip(app, page_state="acknowledged")
    never = await add_tip(app, urgency="high")
    page = await board_client.get("/dashboard/")
    assert page.status_code == 200
    alerts = ALERTS.search(page.text)
    assert alerts, "the alert block is on the page, without any script"
    block = alerts.group(0)
    reference = (await tip_row(app, paged)).reference
    assert reference in block
    assert "Backup: bob-on-backup" in block
    assert "step 2" in block
    assert f'action="/dashboard/tips/{paged}/ack"' in block
    assert f'name="csrf" value="{who.csrf}"' in block
    for other in (quiet, never):
        assert str(other) not in block
    # The alert block stands above the queue's table.
    assert page.text.index('id="queue-alerts"') < page.text.index('<table id="queue"')
    fragment = await board_client.get("/dashboard/", params={"fragment": "alerts"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="queue-alerts"')
    assert f'data-critical="{paged}"' in fragment.text
    assert "<html" not in fragment.text


async def test_acknowledging_from_the_dashboard_stops_the_chain_is_audited_and_clears_the_alert(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    tip_id = await add_tip(app, page_state="active")
    await add_page(app, tip_id, step=0, layer="primary", user_id=who.user_id, status="sent")
    stamp = await read_change_stamp(app.state.engine)
    answer = await acknowledge(board_client, who, tip_id)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/"
    row = await tip_row(app, tip_id)
    assert row.page_state == "acknowledged"
    assert row.acknowledged_by == who.user_id
    assert row.acknowledged_at is not None
    # The live queue's change stamp moved: open streams wake and fetch the alerts again.
    assert await read_change_stamp(app.state.engine) != stamp
    (event,) = await acknowledged_events(app, tip_id)
    assert event.detail == {"via": "dashboard"}
    (entry,) = await audit_entries(app, tip_id)
    assert entry.action in ("acknowledge", "claim")
    assert entry.detail == {"ack": "dashboard"}
    assert entry.user_id == who.user_id
    page = await board_client.get("/dashboard/")
    assert not ALERTS.search(page.text), "no chain is escalating: no alert block"
    assert f"/dashboard/tips/{tip_id}/ack" not in page.text
    # A second acknowledgement changes nothing and audits nothing.
    again = await acknowledge(board_client, who, tip_id, back="tip")
    assert again.status_code == 303
    assert again.headers["location"] == f"/dashboard/tips/{tip_id}"
    assert len(await audit_entries(app, tip_id)) == 1
    assert len(await acknowledged_events(app, tip_id)) == 1


async def test_an_acknowledgement_without_the_csrf_token_changes_nothing(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    tip_id = await add_tip(app, page_state="active")
    answer = await board_client.post(f"/dashboard/tips/{tip_id}/ack", data={"back": "queue"})
    assert answer.status_code == 403
    assert (await tip_row(app, tip_id)).page_state == "active"


async def test_claiming_a_paged_tip_acknowledges_it_in_the_same_request(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    tip_id = await add_tip(app, page_state="active")
    await add_page(app, tip_id, step=0, layer="primary", user_id=who.user_id, status="sent")
    answer = await board_client.post(f"/dashboard/tips/{tip_id}/claim", data={"csrf": who.csrf})
    assert answer.status_code == 303
    row = await tip_row(app, tip_id)
    assert (row.claimed_by, row.page_state, row.acknowledged_by) == (
        who.user_id,
        "acknowledged",
        who.user_id,
    )
    (event,) = await acknowledged_events(app, tip_id)
    assert event.detail == {"via": "claim"}
    (entry,) = await audit_entries(app, tip_id)
    assert (entry.action, entry.detail) == ("claim", {"ack": "claim"})


async def test_claiming_a_tip_that_was_never_paged_acknowledges_nothing(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    tip_id = await add_tip(app, urgency="medium")
    answer = await board_client.post(f"/dashboard/tips/{tip_id}/claim", data={"csrf": who.csrf})
    assert answer.status_code == 303
    row = await tip_row(app, tip_id)
    assert (row.claimed_by, row.page_state, row.acknowledged_at) == (who.user_id, None, None)
    assert await acknowledged_events(app, tip_id) == []
    (entry,) = await audit_entries(app, tip_id)
    assert (entry.action, entry.detail) == ("claim", None)


async def test_the_banner_shows_while_nobody_is_on_call_in_the_primary_layer(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    page = await board_client.get("/dashboard/")
    banner = BANNER.search(page.text)
    assert banner, "the banner is on the page"
    assert 'id="banner-nobody-on-call"' in banner.group(0)
    backup = await add_user_named(app, "only-backup")
    await put_on_call(app, backup, "backup")
    page = await board_client.get("/dashboard/")
    assert 'id="banner-nobody-on-call"' in page.text  # a backup alone is not enough
    primary = await add_user_named(app, "the-primary")
    await put_on_call(app, primary, "primary")
    page = await board_client.get("/dashboard/")
    assert not BANNER.search(page.text)
    assert 'role="alert"' not in page.text


async def test_the_banner_names_an_open_tip_whose_chain_ended_unanswered_until_claimed(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    await put_on_call(app, who.user_id)
    exhausted = await add_tip(app, page_state="exhausted")
    for step, layer in enumerate(rota.LAYERS):
        await add_page(app, exhausted, step=step, layer=layer, user_id=who.user_id, status="sent")
    closed = await add_tip(app, page_state="nobody", status="closed")
    page = await board_client.get("/dashboard/")
    banner = BANNER.search(page.text)
    assert banner
    text = banner.group(0)
    assert (await tip_row(app, exhausted)).reference in text
    assert "with no one acknowledging" in text
    assert (await tip_row(app, closed)).reference not in text
    assert 'id="banner-nobody-on-call"' not in text
    assert 'id="banner-pages-failing"' not in text
    claimed = await board_client.post(f"/dashboard/tips/{exhausted}/claim", data={"csrf": who.csrf})
    assert claimed.status_code == 303
    page = await board_client.get("/dashboard/")
    assert not BANNER.search(page.text)


async def test_the_banner_shows_when_the_last_pages_all_reached_no_one(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    await put_on_call(app, who.user_id)
    earlier = await add_tip(app, page_state="acknowledged")
    await add_page(
        app,
        earlier,
        step=0,
        layer="primary",
        user_id=who.user_id,
        status="sent",
        ago=timedelta(minutes=30),
    )
    page = await board_client.get("/dashboard/")
    assert not BANNER.search(page.text)
    failing = await add_tip(app, page_state="active")
    await add_page(
        app,
        failing,
        step=0,
        layer="primary",
        user_id=who.user_id,
        status="failed",
        ago=timedelta(minutes=12),
    )
    await add_page(
        app,
        failing,
        step=1,
        layer="backup",
        user_id=None,
        status="nobody",
        ago=timedelta(minutes=7),
    )
    page = await board_client.get("/dashboard/")
    assert not BANNER.search(page.text)  # one page in the last three still reached someone
    await add_page(
        app,
        failing,
        step=2,
        layer="supervisor",
        user_id=None,
        status="no_number",
        ago=timedelta(minutes=1),
    )
    page = await board_client.get("/dashboard/")
    banner = BANNER.search(page.text)
    assert banner
    assert 'id="banner-pages-failing"' in banner.group(0)


async def test_the_tip_view_lists_its_pages_and_who_acknowledged_them(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    who = await sign_in(app, board_client)
    carol = await add_user_named(app, "carol-primary")
    dave = await add_user_named(app, "dave-backup")
    tip_id = await add_tip(app, page_state="active")
    await add_page(
        app,
        tip_id,
        step=0,
        layer="primary",
        user_id=carol,
        status="no_number",
        ago=timedelta(minutes=20),
    )
    await add_page(
        app,
        tip_id,
        step=1,
        layer="backup",
        user_id=dave,
        status="opted_out",
        ago=timedelta(minutes=15),
    )
    await add_page(
        app,
        tip_id,
        step=2,
        layer="supervisor",
        user_id=None,
        status="nobody",
        ago=timedelta(minutes=10),
    )
    await add_page(
        app, tip_id, step=3, layer="primary", user_id=carol, status="sent", ago=timedelta(minutes=5)
    )
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200
    section = re.search(
        r'<section aria-labelledby="pages-heading">.*?</section>', page.text, re.DOTALL
    )
    assert section
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section.group(0)))
    assert "Paging: waiting for an acknowledgement" in text
    assert "1 Primary carol-primary Not sent: no pager number" in text
    assert "2 Backup dave-backup Not sent: the number opted out" in text
    assert "3 Supervisor nobody on call Nobody on call in this layer" in text
    assert "4 Primary carol-primary Sent" in text
    assert f'action="/dashboard/tips/{tip_id}/ack"' in section.group(0)
    answer = await acknowledge(board_client, who, tip_id, back="tip")
    assert answer.headers["location"] == f"/dashboard/tips/{tip_id}"
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    section = re.search(
        r'<section aria-labelledby="pages-heading">.*?</section>', page.text, re.DOTALL
    )
    assert section
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section.group(0)))
    assert f"Acknowledged by {who.username} on the dashboard" in text
    assert "/ack" not in section.group(0)
    assert "Page acknowledged" in page.text  # in the history, too


async def test_a_tip_never_paged_shows_no_pages_section(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    tip_id = await add_tip(app, urgency="low")
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200
    assert 'id="pages-heading"' not in page.text


async def test_the_sound_script_is_loaded_with_the_nonce_and_makes_its_own_sound(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    page = await board_client.get("/dashboard/")
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce
    assert f'<script src="/static/alerts.js" nonce="{nonce.group(1)}" defer></script>' in page.text
    assert '<p id="alert-sound" class="alert-sound" hidden>' in page.text
    assert "style=" not in page.text
    script = await board_client.get("/static/alerts.js")
    assert script.status_code == 200
    assert "createOscillator" in script.text
    assert "localStorage" in script.text
    assert "http" not in script.text  # nothing fetched from anywhere
