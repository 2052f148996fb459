"""The statistics page and its CSV: the right figures, for supervisors only, no tip named."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from hotline.tables import pages, tip_overrides, tips
from hotline.verdict import PRIORITY
from tests.dashboard_helpers import SignedIn
from tests.dashboard_helpers import sign_in as sign_in_helper
from web.app import HotlineApp
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE

PERIOD = {"from": "2026-01-05", "to": "2026-01-18"}  # ISO weeks 2026-W02 and 2026-W03


async def sign_in(app: HotlineApp, client: httpx.AsyncClient, **options: str) -> SignedIn:
    """``sign_in``, with the cookie also under ``testserver.local``: the cookie jar files a
    dotless host's cookies there, and sends none set for plain ``testserver``."""
    who = await sign_in_helper(app, client, **options)
    value = next(c.value for c in client.cookies.jar if c.name == SESSION_COOKIE)
    host = httpx.URL(str(client.base_url)).host
    client.cookies.set(SESSION_COOKIE, value, domain=f"{host}.local", path=COOKIE_PATH)
    return who


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def _tip(
    reference: str,
    created_at: datetime,
    *,
    channel: str,
    lang: str,
    category: str | None,
    urgency: str | None,
    override: str | None = None,
    claimed_after: timedelta | None = None,
    closed_after: timedelta | None = None,
) -> dict[str, Any]:
    in_force = override or urgency or "high"
    return {
        "id": uuid.uuid4(),
        "reference": reference,
        "channel": channel,
        "lang": lang,
        "created_at": created_at,
        "updated_at": created_at,
        "status": "closed" if closed_after else "new",
        "assessed": urgency is not None,
        "urgency": urgency,
        "category": category,
        "indicator_ids": ["NOW"],
        "body_sealed": b"sealed",
        "priority": PRIORITY[in_force],
        "urgency_override": override,
        "first_claimed_at": created_at + claimed_after if claimed_after else None,
        "closed_at": created_at + closed_after if closed_after else None,
        "close_reason": "resolved" if closed_after else None,
    }


SEEDED = [
    _tip(
        "STATSREF01",
        _at(5),
        channel="web",
        lang="en",
        category="sex_trafficking",
        urgency="critical",
        claimed_after=timedelta(minutes=10),
        closed_after=timedelta(hours=2),
    ),
    _tip(
        "STATSREF02",
        _at(6),
        channel="web",
        lang="es",
        category="labor_trafficking",
        urgency="high",
        override="critical",
        claimed_after=timedelta(minutes=30),
        closed_after=timedelta(hours=4),
    ),
    _tip(
        "STATSREF03",
        _at(13, 12),
        channel="sms",
        lang="en",
        category=None,
        urgency=None,
        claimed_after=timedelta(minutes=5),
    ),
    _tip(
        "STATSREF04", _at(14), channel="sms", lang="en", category="labor_trafficking", urgency="low"
    ),
    # After the period: counted nowhere.
    _tip("STATSREF05", _at(20), channel="web", lang="fr", category=None, urgency="medium"),
]


async def _seed(app: HotlineApp) -> None:
    engine = app.state.dashboard.engine
    async with engine.begin() as conn:
        await conn.execute(sa.insert(tips), SEEDED)
        overrides = [
            (SEEDED[1]["id"], _at(6, 11), "high", "critical", ["MOVE", "NOW"]),
            (SEEDED[3]["id"], _at(15), "medium", "low", ["NOW"]),
            (SEEDED[4]["id"], _at(21), "medium", "critical", ["NOW"]),  # after the period
        ]
        await conn.execute(
            sa.insert(tip_overrides),
            [
                {
                    "id": uuid.uuid4(),
                    "tip_id": tip_id,
                    "at": at,
                    "from_urgency": before,
                    "to_urgency": after,
                    "indicator_ids": fired,
                    "reason_sealed": b"sealed",
                }
                for tip_id, at, before, after, fired in overrides
            ],
        )


def _text_of(html: str) -> str:
    """The page's visible words, one space between elements."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _csv(answer: httpx.Response) -> dict[tuple[str, str, str], str]:
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    return {(row["section"], row["key"], row["measure"]): row["value"] for row in rows}


async def test_a_supervisor_sees_the_periods_figures(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await _seed(app)
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get("/dashboard/stats", params=PERIOD)
    assert page.status_code == 200
    text = _text_of(page.text)
    assert "4 tips received from 2026-01-05 to 2026-01-18" in text
    assert "2026-W02 2 " in text
    assert "2026-W03 2 " in text
    assert "web 2 " in text
    assert "sms 2 " in text
    assert "not assessed 1 " in text
    # Critical: claimed after 10 and 30 min, closed after 2 and 4 h.
    assert "critical 2 2 20 min 2 3 h 00 min" in text
    assert "high 1 1 5 min 0 —" in text
    assert "low 1 0 — 0 —" in text
    assert "happening now NOW 1 1 2" in text
    assert "being moved: transported, taken to another place MOVE 1 0 1" in text
    assert "2 urgency overrides made in the period" in text


async def test_the_page_has_svg_charts_with_names_and_no_inline_style(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await _seed(app)
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get("/dashboard/stats", params=PERIOD)
    assert page.text.count('<svg class="chart-svg') == 6
    assert page.text.count('role="img"') == 6
    assert page.text.count("<title id=") == 6
    assert page.text.count('<table class="chart-data">') == 6
    assert "style=" not in page.text
    assert "<script" not in page.text
    assert '<link rel="stylesheet" href="/static/stats.css">' in page.text
    css = await board_client.get("/static/stats.css")
    assert css.status_code == 200


async def test_the_csv_holds_the_same_figures_and_no_tip(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await _seed(app)
    await sign_in(app, board_client, role="supervisor", username="csv-supervisor")
    answer = await board_client.get("/dashboard/stats.csv", params=PERIOD)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="hotline-stats-2026-01-05-2026-01-18.csv"'
    )
    figures = _csv(answer)
    assert figures[("total", "tips", "tips")] == "4"
    assert figures[("week", "2026-W02", "tips")] == "2"
    assert figures[("channel", "sms", "tips")] == "2"
    assert figures[("category", "labor_trafficking", "tips")] == "2"
    assert figures[("urgency_triage", "not assessed", "tips")] == "1"
    assert figures[("urgency_in_force", "critical", "tips")] == "2"
    assert figures[("language", "en", "tips")] == "3"
    assert figures[("response", "critical", "median_seconds_to_claim")] == "1200"
    assert figures[("response", "critical", "median_seconds_to_close")] == "10800"
    assert figures[("response", "low", "median_seconds_to_claim")] == ""
    assert figures[("override_indicator", "NOW", "raised")] == "1"
    assert figures[("override_indicator", "NOW", "lowered")] == "1"
    assert figures[("overrides", "all", "overrides")] == "2"
    for tip in SEEDED:
        assert tip["reference"] not in answer.text
        assert str(tip["id"]) not in answer.text
        assert tip["id"].hex not in answer.text
    assert "csv-supervisor" not in answer.text


async def test_the_period_defaults_to_the_last_twelve_weeks(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get("/dashboard/stats")
    assert page.status_code == 200
    assert page.text.count('<rect class="chart-bar"') >= 12
    weeks = re.findall(r"<th scope=\"row\">(\d{4}-W\d\d)</th>", page.text)
    assert len(weeks) in (12, 13)  # a period of whole days can touch a 13th week


async def test_a_malformed_period_is_refused_with_help(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get("/dashboard/stats", params={"from": "2026-02-01", "to": "x"})
    assert page.status_code == 400
    assert "YYYY-MM-DD" in page.text
    reversed_period = {"from": "2026-02-01", "to": "2026-01-01"}
    answer = await board_client.get("/dashboard/stats.csv", params=reversed_period)
    assert answer.status_code == 400


async def test_a_dispatcher_cannot_open_the_statistics(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client, role="dispatcher")
    assert (await board_client.get("/dashboard/stats")).status_code == 403
    assert (await board_client.get("/dashboard/stats.csv")).status_code == 403


async def test_a_visitor_without_a_session_is_sent_to_sign_in(
    board_client: httpx.AsyncClient,
) -> None:
    answer = await board_client.get("/dashboard/stats.csv")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"


async def test_time_to_page_and_to_acknowledge_are_medians_per_urgency(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    created = _at(7)
    paged = [
        # urgency, [(step, status, seconds after receipt it was sent)], acknowledged after
        ("critical", [(0, "no_number", None), (1, "sent", 60)], 120),
        ("critical", [(0, "sent", 20)], 300),
        ("high", [(0, "sent", 10)], None),
        ("critical", [(0, "nobody", None)], None),  # paged no one: no time to page
    ]
    rows, page_rows = [], []
    for n, (urgency, steps, ack_after) in enumerate(paged):
        tip = _tip(
            f"PAGEDREF0{n}", created, channel="web", lang="en", category=None, urgency=urgency
        )
        tip["page_state"] = "acknowledged" if ack_after else "exhausted"
        tip["acknowledged_at"] = created + timedelta(seconds=ack_after) if ack_after else None
        rows.append(tip)
        for step, status, sent_after in steps:
            page_rows.append(
                {
                    "id": uuid.uuid4(),
                    "tip_id": tip["id"],
                    "step": step,
                    "layer": ("primary", "backup", "supervisor")[step],
                    "code": "1234",
                    "status": status,
                    "created_at": created + timedelta(seconds=step),
                    "sent_at": created + timedelta(seconds=sent_after) if sent_after else None,
                }
            )
    async with app.state.dashboard.engine.begin() as conn:
        await conn.execute(sa.insert(tips), rows)
        await conn.execute(sa.insert(pages), page_rows)
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get("/dashboard/stats", params=PERIOD)
    text = _text_of(page.text)
    # Critical: paged after 60 and 20 s (median 40 s), acknowledged after 2 and 5 min.
    assert "Median time to page and to acknowledge, by urgency" in text
    assert "critical 2 40 s 2 3 min " in text
    assert "high 1 10 s 0 — " in text
    assert "low 0 — 0 — " in text
    figures = _csv(await board_client.get("/dashboard/stats.csv", params=PERIOD))
    assert figures[("response", "critical", "paged")] == "2"
    assert figures[("response", "critical", "median_seconds_to_page")] == "40"
    assert figures[("response", "critical", "acknowledged")] == "2"
    assert figures[("response", "critical", "median_seconds_to_acknowledge")] == "210"
    assert figures[("response", "high", "median_seconds_to_page")] == "10"
    assert figures[("response", "high", "median_seconds_to_acknowledge")] == ""
