"""``ACK <code>`` by text: from a registered pager it acknowledges the page; from anyone
else it is an ordinary reporter's message, and says nothing of paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from hotline import keys, rota
from hotline.accounts import add_user, disable_user
from hotline.settings import Settings
from hotline.tables import pages, sms_messages, sms_threads, tip_events, tips
from tests.dashboard_helpers import CHEAP_PASSWORDS, PASSWORD
from tests.sms_helpers import PHONE, PHONE_FORMS, REFERENCE, count, text
from web.app import HotlineApp

PAGER = "+14155550199"
PAGER_FORMS = ("+14155550199", "14155550199", "4155550199", "555-0199", "5550199")
CODE = "4821"


async def register_pager(app: HotlineApp, settings: Settings, number: str = PAGER) -> int:
    engine = app.state.engine
    user_id = await add_user(
        engine, f"pager-{uuid.uuid4().hex[:8]}", PASSWORD, "dispatcher", hasher=CHEAP_PASSWORDS
    )
    await rota.set_contact(
        engine,
        keys.load_sealer(settings.keys_dir),
        keys.load_hash_key(settings.keys_dir),
        user_id,
        number,
        region=settings.phone_region,
    )
    return user_id


async def paged_tip(app: HotlineApp, *, code: str = CODE, state: str = "active") -> dict[str, Any]:
    """A critical tip whose chain paged the primary with ``code``."""
    tip_id = uuid.uuid4()
    now = datetime.now(UTC) - timedelta(minutes=1)
    tip = {
        "id": tip_id,
        "reference": f"ACK{tip_id.hex[:7].upper()}",
        "channel": "web",
        "lang": "en",
        "created_at": now,
        "updated_at": now,
        "dispatched_at": now,
        "status": "new",
        "assessed": True,
        "urgency": "critical",
        "priority": 0,
        "body_sealed": b"sealed",
        "page_state": state,
    }
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.insert(tips).values(**tip))
        await conn.execute(
            sa.insert(pages).values(
                id=uuid.uuid4(),
                tip_id=tip_id,
                step=0,
                layer="primary",
                user_id=None,
                code=code,
                status="sent",
                created_at=now,
                sent_at=now,
            )
        )
    return tip


async def tip_state(app: HotlineApp, tip_id: uuid.UUID) -> Any:
    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(tips.c.page_state, tips.c.acknowledged_by).where(tips.c.id == tip_id)
            )
        ).one()


async def stored(app: HotlineApp) -> tuple[int, int, int]:
    engine = app.state.engine
    return (
        await count(engine, tips),
        await count(engine, sms_threads),
        await count(engine, sms_messages),
    )


async def test_ack_from_a_registered_pager_acknowledges_the_page_and_stores_no_message(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    user_id = await register_pager(sms_app, sms_settings)
    tip = await paged_tip(sms_app)
    before = await stored(sms_app)
    reply = await text(sms_client, f"  ack  {CODE} ", sender=PAGER)
    assert reply == f"Acknowledged: tip {tip['reference']}."
    state = await tip_state(sms_app, tip["id"])
    assert (state.page_state, state.acknowledged_by) == ("acknowledged", user_id)
    async with sms_app.state.engine.connect() as conn:
        (event,) = (
            await conn.execute(
                sa.select(tip_events).where(
                    tip_events.c.tip_id == tip["id"], tip_events.c.kind == "acknowledged"
                )
            )
        ).all()
    assert (event.user_id, event.detail) == (user_id, {"via": "sms"})
    # The dispatcher's number made no thread, no message and no tip.
    assert await stored(sms_app) == before
    # Once acknowledged, the code opens nothing.
    assert await text(sms_client, f"ACK {CODE}", sender=PAGER) == "No open page with that code."
    assert await stored(sms_app) == before


async def test_a_pager_with_a_wrong_code_is_told_so_and_nothing_changes(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    await register_pager(sms_app, sms_settings)
    tip = await paged_tip(sms_app)
    ended = await paged_tip(sms_app, code="5555", state="exhausted")
    before = await stored(sms_app)
    assert await text(sms_client, "ACK 9999", sender=PAGER) == "No open page with that code."
    assert await text(sms_client, "ACK5555", sender=PAGER) == "No open page with that code."
    assert (await tip_state(sms_app, tip["id"])).page_state == "active"
    assert (await tip_state(sms_app, ended["id"])).page_state == "exhausted"
    assert await stored(sms_app) == before


async def test_a_disabled_users_pager_acknowledges_nothing(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    user_id = await register_pager(sms_app, sms_settings)
    await disable_user(sms_app.state.engine, user_id)
    tip = await paged_tip(sms_app)
    before = await stored(sms_app)
    assert await text(sms_client, f"ACK {CODE}", sender=PAGER) == "No open page with that code."
    assert (await tip_state(sms_app, tip["id"])).page_state == "active"
    assert await stored(sms_app) == before


async def test_ack_from_an_unregistered_number_is_an_ordinary_reporters_message(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    await register_pager(sms_app, sms_settings)
    tip = await paged_tip(sms_app)
    before = await stored(sms_app)
    reply = await text(sms_client, f"ACK {CODE}", sender=PHONE)
    # A reporter's first message: a new tip, a thread, its reference in the answer.
    found = REFERENCE.search(reply)
    assert found, "the reporter got the first-reply text with a reference"
    assert found.group(1) != tip["reference"]
    assert "cknowledged" not in reply
    assert "page" not in reply.lower()
    assert await stored(sms_app) == (before[0] + 1, before[1] + 1, before[2] + 1)
    state = await tip_state(sms_app, tip["id"])
    assert (state.page_state, state.acknowledged_by) == ("active", None)


async def test_other_texts_from_a_pager_are_handled_as_before(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    await register_pager(sms_app, sms_settings)
    tip = await paged_tip(sms_app)
    reply = await text(sms_client, f"acknowledge {CODE} please", sender=PAGER)
    assert REFERENCE.search(reply), "not an ACK: an ordinary message"
    assert (await tip_state(sms_app, tip["id"])).page_state == "active"


async def test_no_number_reaches_the_logs_on_an_acknowledgement(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    capture_logs: list[str],
) -> None:
    await register_pager(sms_app, sms_settings)
    tip = await paged_tip(sms_app)
    assert (await text(sms_client, f"ACK {CODE}", sender=PAGER)).startswith("Acknowledged")
    await text(sms_client, f"ACK {CODE}", sender=PHONE)
    logged = "\n".join(capture_logs)
    assert "page_acknowledged" in logged
    assert str(tip["id"]) in logged
    for form in (*PAGER_FORMS, *PHONE_FORMS):
        assert form not in logged
