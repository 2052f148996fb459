"""The dispatcher's queue: order, filters, pages, marks, and nothing sealed on it."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline.accounts import add_user
from hotline.tables import audit_log, tip_entities, tips
from hotline.verdict import PRIORITY
from tests.dashboard_helpers import PASSWORD, sign_in
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp

ROW_ID = re.compile(r'<tr data-tip-id="([0-9a-f-]+)"')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">Next page</a>')
NOW = datetime.now(UTC)


async def add_tip(
    app: HotlineApp,
    *,
    urgency: str = "high",
    age: timedelta = timedelta(minutes=1),
    override: str | None = None,
    **columns: Any,
) -> uuid.UUID:
    """A tip row as intake and triage leave it (its text sealed), ``age`` old."""
    board = app.state.dashboard
    tip_id = uuid.uuid4()
    created = datetime.now(UTC) - age
    row = {
        "id": tip_id,
        "reference": f"T-{tip_id.hex[:10].upper()}",
        "channel": "web",
        "lang": "en",
        "created_at": created,
        "updated_at": created,
        "dispatched_at": created,  # already paged: the relay leaves it alone
        "status": "new",
        "assessed": True,
        "urgency": urgency,
        "urgency_override": override,
        "priority": PRIORITY[override or urgency],
        "category": "labor_trafficking",
        "minors": False,
        "indicator_ids": [],
        "body_sealed": board.sealer.seal(b"sealed words", tip_id=tip_id, field="body"),
        **columns,
    }
    async with board.engine.begin() as conn:
        await conn.execute(sa.insert(tips).values(**row))
    return tip_id


def ids_on(page: httpx.Response) -> list[uuid.UUID]:
    assert page.status_code == 200, page.status_code
    return [uuid.UUID(found) for found in ROW_ID.findall(page.text)]


def row_of(page: httpx.Response, tip_id: uuid.UUID) -> str:
    found = re.search(rf'<tr data-tip-id="{tip_id}".*?</tr>', page.text, re.DOTALL)
    assert found, f"tip {tip_id} is on the page"
    return found.group(0)


async def test_a_critical_tip_comes_before_an_older_high_one_and_older_first_within_one(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    older_high = await add_tip(app, urgency="high", age=timedelta(hours=3))
    newer_high = await add_tip(app, urgency="high", age=timedelta(hours=1))
    critical = await add_tip(app, urgency="critical", age=timedelta(minutes=2))
    low = await add_tip(app, urgency="low", age=timedelta(days=3))
    medium = await add_tip(app, urgency="medium", age=timedelta(days=1))

    page = await board_client.get("/dashboard/")

    assert ids_on(page) == [critical, older_high, newer_high, medium, low]


async def test_an_override_moves_a_tip_and_the_row_says_it_was_overridden(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    critical = await add_tip(app, urgency="critical")
    raised = await add_tip(app, urgency="low", override="critical", age=timedelta(hours=2))
    lowered = await add_tip(app, urgency="critical", override="low", age=timedelta(hours=5))
    high = await add_tip(app, urgency="high")

    page = await board_client.get("/dashboard/")

    assert ids_on(page) == [raised, critical, high, lowered]
    assert "overridden" in row_of(page, raised)
    assert "urgency-critical" in row_of(page, raised)
    assert "urgency-low" in row_of(page, lowered)
    assert "overridden" not in row_of(page, critical)


async def test_closed_tips_are_not_in_the_queue(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    open_tip = await add_tip(app)
    closed = await add_tip(app, status="closed", closed_at=NOW, close_reason="resolved")

    page = await board_client.get("/dashboard/")

    assert ids_on(page) == [open_tip]
    assert str(closed) not in page.text


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("urgency=critical", "critical"),
        ("status=in_progress", "in_progress"),
        ("status=referred", "referred"),
        ("status=escalated", "escalated"),
        ("channel=sms", "sms"),
        ("category=sex_trafficking", "sex"),
        ("lang=es", "spanish"),
        ("holder=me", "mine"),
        ("holder=unclaimed", "unclaimed"),
        ("minors=1", "minors"),
        ("urgency=critical&minors=1", "critical_minors"),
    ],
)
async def test_each_filter_keeps_only_the_tips_it_names(
    app: HotlineApp, board_client: httpx.AsyncClient, query: str, wanted: str
) -> None:
    me = await sign_in(app, board_client)
    someone = await add_user(app.state.dashboard.engine, "someone-else", PASSWORD, "dispatcher")
    made = {
        "critical": await add_tip(app, urgency="critical", claimed_by=someone),
        "in_progress": await add_tip(app, status="in_progress", claimed_by=someone),
        "referred": await add_tip(app, status="referred", claimed_by=someone),
        "escalated": await add_tip(app, status="escalated", claimed_by=someone),
        "sms": await add_tip(app, channel="sms", claimed_by=someone),
        "sex": await add_tip(app, category="sex_trafficking", claimed_by=someone),
        "spanish": await add_tip(app, lang="es", claimed_by=someone),
        "mine": await add_tip(app, claimed_by=me.user_id),
        "minors": await add_tip(app, minors=True, claimed_by=someone),
        "critical_minors": await add_tip(app, urgency="critical", minors=True, claimed_by=someone),
        "unclaimed": await add_tip(app, urgency="low"),
    }
    await add_tip(app, urgency="critical", status="closed", minors=True, lang="es")
    expected = {
        "critical": {"critical", "critical_minors"},
        "minors": {"minors", "critical_minors"},
    }.get(wanted, {wanted})

    page = await board_client.get(f"/dashboard/?{query}")

    assert set(ids_on(page)) == {made[name] for name in expected}
    # The form shows the filter in force.
    name, _, value = query.split("&")[0].partition("=")
    assert re.search(rf'name="{name}"', page.text)
    assert f'value="{value}" selected' in page.text or f'value="{value}" checked' in page.text


async def test_a_value_that_is_no_choice_is_ignored_not_an_error(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    tip_id = await add_tip(app)

    page = await board_client.get("/dashboard/?urgency=panic&status=closed&after=nonsense")

    assert ids_on(page) == [tip_id]


async def test_pages_visit_every_open_tip_exactly_once_in_queue_order(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    size = app.state.dashboard.settings.dashboard_page_size
    made = []
    same_moment = timedelta(minutes=7)  # ties on created_at: the id breaks them
    for index in range(size * 2 + 7):
        urgency = ("critical", "high", "medium", "low")[index % 4]
        age = same_moment if index % 3 == 0 else timedelta(minutes=index)
        made.append(await add_tip(app, urgency=urgency, age=age))
    for _ in range(5):
        await add_tip(app, status="closed")

    seen: list[uuid.UUID] = []
    url: str | None = "/dashboard/"
    pages = 0
    while url is not None:
        page = await board_client.get(url)
        seen += ids_on(page)
        pages += 1
        if pages > 1:
            assert "First page" in page.text
        found = NEXT.search(page.text)
        url = html.unescape(found.group(1)) if found else None

    assert pages == 3
    assert len(seen) == len(set(seen)) == len(made)
    assert set(seen) == set(made)
    async with app.state.dashboard.engine.connect() as conn:
        in_order = (
            await conn.execute(
                sa.select(tips.c.id)
                .where(tips.c.status != "closed")
                .order_by(tips.c.priority, tips.c.created_at, tips.c.id)
            )
        ).scalars()
        assert seen == list(in_order)


@pytest.mark.parametrize(
    ("query", "matching", "other"),
    [
        ("channel=sms", {"channel": "sms"}, {"channel": "web"}),
        ("urgency=medium", {"urgency": "medium"}, {"urgency": "critical"}),
        ("urgency=low", {"urgency": "low"}, {"urgency": "medium"}),
    ],
)
async def test_pages_keep_the_filter(
    app: HotlineApp,
    board_client: httpx.AsyncClient,
    query: str,
    matching: dict[str, str],
    other: dict[str, str],
) -> None:
    await sign_in(app, board_client)
    size = app.state.dashboard.settings.dashboard_page_size
    wanted = {await add_tip(app, age=timedelta(minutes=i), **matching) for i in range(size + 3)}
    for index in range(5):
        await add_tip(app, age=timedelta(minutes=index * 20), **other)

    first = await board_client.get(f"/dashboard/?{query}")
    found = NEXT.search(first.text)
    assert found
    assert query in found.group(1)
    second = await board_client.get(html.unescape(found.group(1)))

    assert len(ids_on(first)) == size
    assert set(ids_on(first)) | set(ids_on(second)) == wanted
    assert NEXT.search(second.text) is None


async def test_an_unclaimed_tip_past_its_target_is_overdue_and_a_claimed_one_is_not(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    me = await sign_in(app, board_client)
    late = await add_tip(app, urgency="critical", age=timedelta(minutes=12))
    held = await add_tip(app, urgency="critical", age=timedelta(minutes=13), claimed_by=me.user_id)
    fresh = await add_tip(app, urgency="high", age=timedelta(minutes=12))

    page = await board_client.get("/dashboard/")

    assert "12 min · target 5 min" in row_of(page, late)
    assert 'class="overdue"' in row_of(page, late)
    assert "overdue-row" in row_of(page, late)
    assert "overdue" not in row_of(page, held)
    assert "12 min · target 30 min" in row_of(page, fresh)
    assert "overdue" not in row_of(page, fresh)


async def test_the_row_names_who_holds_the_tip(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    holder = await add_user(app.state.dashboard.engine, "maria.dispatch", PASSWORD, "dispatcher")
    held = await add_tip(app, claimed_by=holder, status="in_progress")
    free = await add_tip(app)

    page = await board_client.get("/dashboard/")

    assert "maria.dispatch" in row_of(page, held)
    assert "In progress" in row_of(page, held)
    assert "unclaimed" in row_of(page, free)


async def test_the_row_counts_the_other_tips_that_share_an_entity(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    first, second, third, alone = [await add_tip(app) for _ in range(4)]
    closed = await add_tip(app, status="closed")
    phone, plate = b"p" * 32, b"v" * 32
    links = [
        (first, "phone", phone),
        (second, "phone", phone),
        (closed, "phone", phone),
        (first, "plate", plate),
        (third, "plate", plate),
        (second, "plate", plate),
        (alone, "phone", b"x" * 32),
    ]
    async with app.state.dashboard.engine.begin() as conn:
        await conn.execute(
            sa.insert(tip_entities),
            [{"tip_id": tip_id, "kind": kind, "digest": digest} for tip_id, kind, digest in links],
        )

    page = await board_client.get("/dashboard/")

    def linked(tip_id: uuid.UUID) -> int:
        found = re.search(r'<td class="num">(\d+)</td>', row_of(page, tip_id))
        assert found
        return int(found.group(1))

    # first shares the phone with second and closed, the plate with third and second.
    assert linked(first) == 3
    assert linked(second) == 3
    assert linked(third) == 2
    assert linked(alone) == 0


async def test_the_row_flags_minors_and_names_the_indicators_that_fired(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    minors = await add_tip(app, minors=True, indicator_ids=["NOW", "O2"])
    adults = await add_tip(app, minors=False)

    page = await board_client.get("/dashboard/")

    assert "flag-minors" in row_of(page, minors)
    assert "flag-minors" not in row_of(page, adults)
    assert "happening now" in row_of(page, minors)
    assert "a minor in commercial sex" in row_of(page, minors)
    assert "NOW" not in row_of(page, minors)


async def test_the_top_of_the_page_counts_open_tips_per_urgency(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    for urgency, count in (("critical", 2), ("high", 3), ("low", 1)):
        for _ in range(count):
            await add_tip(app, urgency=urgency)
    await add_tip(app, urgency="critical", status="closed")
    await add_tip(app, urgency="low", override="critical")

    page = await board_client.get("/dashboard/")

    totals = dict(re.findall(r'data-total="(\w+)">(\d+)<', page.text))
    assert totals == {"critical": "3", "high": "3", "medium": "0", "low": "1", "open": "7"}


async def test_the_queue_is_a_whole_page_without_javascript(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    tip_id = await add_tip(app)

    page = await board_client.get("/dashboard/")

    assert page.headers["content-type"].startswith("text/html")
    assert "no-store" in page.headers["cache-control"]
    assert ids_on(page) == [tip_id]
    assert f'href="/dashboard/tips/{tip_id}"' in page.text
    assert '<a href="/dashboard/" id="queue-refresh">Refresh</a>' in page.text
    assert re.search(r'<label for="f-urgency">Urgency</label>', page.text)
    assert 'aria-live="polite"' in page.text
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["content-security-policy"])
    assert nonce
    assert f'<script src="/static/queue-live.js" nonce="{nonce.group(1)}"' in page.text
    assert "<script>" not in page.text
    assert " style=" not in page.text


async def test_the_rows_fragment_is_only_the_table_body(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    tip_id = await add_tip(app, urgency="critical")
    await add_tip(app, urgency="low")

    fragment = await board_client.get("/dashboard/?urgency=critical&fragment=rows")

    assert fragment.text.lstrip().startswith('<tbody id="queue-rows"')
    assert fragment.text.rstrip().endswith("</tbody>")
    assert ids_on(fragment) == [tip_id]
    assert 'data-total-critical="1"' in fragment.text


async def test_the_queue_shows_no_tip_text_and_writes_no_audit_entry(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    words = "Zanzibar-orchid warehouse 4471 behind the quarry, they keep the girls locked in"
    await submit_and_read_receipt(client, words)
    await sign_in(app, board_client)
    engine = app.state.dashboard.engine
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(tips.c.id, tips.c.reference))).one()

    page = await board_client.get("/dashboard/")
    fragment = await board_client.get("/dashboard/?fragment=rows")

    assert ids_on(page) == [stored.id]
    assert stored.reference in page.text
    for shown in (page.text, fragment.text):
        for word in ("Zanzibar", "orchid", "4471", "quarry"):
            assert word not in shown
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar() == 0


async def test_a_visitor_without_a_session_is_sent_to_sign_in(
    board_client: httpx.AsyncClient,
) -> None:
    page = await board_client.get("/dashboard/")
    events = await board_client.get("/dashboard/events")

    assert page.status_code == events.status_code == 303
    assert page.headers["location"] == events.headers["location"] == "/dashboard/login"
