"""``/readyz``: ok while someone is on call and pages reach people; degraded otherwise;
booleans and counts only, for every role, without signing in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import rota
from hotline.accounts import add_user
from hotline.settings import Settings
from hotline.tables import pages, tips
from tests.conftest import CLIENT_ADDRESS
from tests.dashboard_helpers import CHEAP_PASSWORDS, PASSWORD
from web.app import HotlineApp, create_app

ON_CALL_NAME = "zz-oncall-person-7731"


async def put_on_call(app: HotlineApp, username: str, layer: str = "primary") -> int:
    engine = app.state.engine
    user_id = await add_user(engine, username, PASSWORD, "dispatcher", hasher=CHEAP_PASSWORDS)
    now = datetime.now(UTC)
    await rota.add_shift(
        engine,
        layer=layer,
        user_id=user_id,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        tz="UTC",
        override=False,
        created_by=None,
    )
    return user_id


async def add_failed_chain(app: HotlineApp, user_id: int) -> dict[str, Any]:
    """A tip whose last three pages all reached no one."""
    tip_id = uuid.uuid4()
    now = datetime.now(UTC)
    tip = {
        "id": tip_id,
        "reference": "RDYZREF-77",
        "channel": "web",
        "lang": "en",
        "created_at": now,
        "updated_at": now,
        "status": "new",
        "assessed": True,
        "urgency": "critical",
        "priority": 0,
        "body_sealed": b"sealed",
        "page_state": "nobody",
    }
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.insert(tips).values(**tip))
        for step, status in enumerate(("failed", "no_number", "opted_out")):
            await conn.execute(
                sa.insert(pages).values(
                    id=uuid.uuid4(),
                    tip_id=tip_id,
                    step=step,
                    layer=rota.LAYERS[step],
                    user_id=user_id,
                    code="9137",
                    status=status,
                    created_at=now + timedelta(seconds=step),
                )
            )
    return tip


async def test_readyz_is_ok_with_someone_on_call_and_nothing_failing(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await put_on_call(app, ON_CALL_NAME)
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "status": "ok",
        "checks": {
            "database": {"ok": True},
            "on_call": {"ok": True, "layers_covered": 1},
            "paging": {"ok": True},
        },
    }
    assert "set-cookie" not in answer.headers


async def test_readyz_is_degraded_with_nobody_on_call_in_the_primary_layer(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["on_call"] == {"ok": False, "layers_covered": 0}
    await put_on_call(app, "only-a-backup", layer="backup")
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["on_call"] == {"ok": False, "layers_covered": 1}


async def test_readyz_is_degraded_when_the_last_pages_failed_and_names_nothing(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    user_id = await put_on_call(app, ON_CALL_NAME)
    tip = await add_failed_chain(app, user_id)
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["on_call"]["ok"] is True
    assert body["checks"]["paging"] == {"ok": False}
    for secret in (ON_CALL_NAME, tip["reference"], str(tip["id"]), tip["id"].hex, "9137"):
        assert secret not in answer.text
    # Every value is a boolean, a count or the status word.
    checks = body["checks"].values()
    assert all(isinstance(v, bool | int) for check in checks for v in check.values())


async def test_healthz_stays_a_plain_liveness_answer(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/healthz")
    assert (answer.status_code, answer.text) == (200, "ok")


@pytest.fixture
async def public_app(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    application = create_app(settings, role="public")
    async with application.router.lifespan_context(application):
        yield application


async def test_the_public_role_answers_readyz_too(public_app: HotlineApp) -> None:
    transport = httpx.ASGITransport(app=public_app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == {"ok": True}
    assert answer.json()["checks"]["on_call"]["ok"] is False
