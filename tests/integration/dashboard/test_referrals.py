"""The referral directory: admins keep it, dispatchers refer tips to it, the trail says so."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline import referrals
from hotline.demo import DEMO_SERVICES, seed_referrals
from hotline.referrals import ServiceDraft
from hotline.tables import audit_log, referral_services, tip_events, tip_referrals, tips
from tests.dashboard_helpers import SignedIn, sign_in
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp
from web.dashboard.core import CSRF_FIELD
from web.dashboard.referrals import tip_panel

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

SHELTER = {
    "kind": "shelter",
    "name": "Harbor House",
    "region": "Riverside County",
    "languages": "en, ES",
    "hours": "24 hours",
    "contact": "555-0142",
    "description": "Safe housing.\nChildren welcome.",
    "active": "on",
}


async def add_service(client: httpx.AsyncClient, who: SignedIn, **fields: str) -> httpx.Response:
    return await client.post(
        "/dashboard/referrals/new", data={**SHELTER, **fields, CSRF_FIELD: who.csrf}
    )


def service_id_of(answer: httpx.Response) -> int:
    assert answer.status_code == 303, answer.text
    found = re.search(r"#service-(\d+)$", answer.headers["location"])
    assert found, answer.headers["location"]
    return int(found.group(1))


async def rows(app: HotlineApp, query: Any) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return list((await conn.execute(query)).all())


def dashboard_of(app: HotlineApp) -> Any:
    return app.state.dashboard


async def file_tip(app: HotlineApp, client: httpx.AsyncClient) -> uuid.UUID:
    """A real tip through the public form; its id from the tips table."""
    await submit_and_read_receipt(client, "Workers at the car wash never leave; a man keeps IDs")
    (row,) = await rows(app, sa.select(tips.c.id))
    return uuid.UUID(str(row.id))


# --- admins keep the directory ----------------------------------------------------------


async def test_an_admin_adds_a_service_and_everyone_sees_it_in_the_directory(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    form = await board_client.get("/dashboard/referrals/new")
    assert form.status_code == 200
    assert '<label for="field-name">' in form.text
    assert f'name="{CSRF_FIELD}" value="{admin.csrf}"' in form.text

    service_id = service_id_of(await add_service(board_client, admin))

    service = await referrals.get_service(app.state.engine, service_id)
    assert service is not None
    assert service.languages == ("en", "es")  # codes tidied
    assert (service.active, service.public) == (True, False)
    page = await board_client.get("/dashboard/referrals")
    assert page.status_code == 200
    assert "Harbor House" in page.text
    assert "Riverside County" in page.text
    assert "Spanish (es)" in page.text
    assert "555-0142" in page.text
    assert "Safe housing.<br>Children welcome." in page.text
    assert "Staff only" in page.text
    assert f'href="/dashboard/referrals/{service_id}/edit"' in page.text
    (entry,) = await rows(app, sa.select(audit_log).where(audit_log.c.action == "referral"))
    assert entry.user_id == admin.user_id
    assert entry.detail == {"service_id": service_id, "change": "create"}


async def test_an_admin_edits_a_service_and_deactivating_it_hides_it_from_the_directory(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    service_id = service_id_of(await add_service(board_client, admin))
    form = await board_client.get(f"/dashboard/referrals/{service_id}/edit")
    assert form.status_code == 200
    assert 'value="Harbor House"' in form.text
    assert 'value="en, es"' in form.text

    changed = {**SHELTER, "name": "Harbor House North", "public": "on", CSRF_FIELD: admin.csrf}
    del changed["active"]  # an unticked box is not sent
    answer = await board_client.post(f"/dashboard/referrals/{service_id}/edit", data=changed)
    assert answer.status_code == 303

    service = await referrals.get_service(app.state.engine, service_id)
    assert service is not None
    assert (service.name, service.public, service.active) == ("Harbor House North", True, False)
    assert "Harbor House North" not in (await board_client.get("/dashboard/referrals")).text
    inactive = await board_client.get("/dashboard/referrals?status=inactive")
    assert "Harbor House North" in inactive.text
    assert "Inactive" in inactive.text
    details = [r.detail for r in await rows(app, sa.select(audit_log.c.detail))]
    assert {"service_id": service_id, "change": "update"} in details


async def test_editing_a_service_that_does_not_exist_is_a_404(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    assert (await board_client.get("/dashboard/referrals/999/edit")).status_code == 404
    assert (await board_client.get(f"/dashboard/referrals/{10**30}/edit")).status_code == 404
    answer = await board_client.post(
        "/dashboard/referrals/999/edit", data={**SHELTER, CSRF_FIELD: admin.csrf}
    )
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "n" * 201, "At most 200 characters."),
        ("description", "d" * 1001, "At most 1000 characters."),
        ("contact", "5" * 301, "At most 300 characters."),
        ("languages", "english, es", "two- or three-letter codes"),
        ("languages", "e1", "two- or three-letter codes"),
        ("languages", "", "at least one language"),
        ("kind", "spa", "Choose a kind of service"),
        ("name", "   ", "A name is required."),
    ],
)
async def test_an_invalid_service_is_refused_with_a_message_and_not_saved(
    app: HotlineApp, board_client: httpx.AsyncClient, field: str, value: str, message: str
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    answer = await add_service(board_client, admin, **{field: value})
    assert answer.status_code == 400
    assert message in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert await rows(app, sa.select(referral_services.c.id)) == []

    service_id = service_id_of(await add_service(board_client, admin))
    edited = await board_client.post(
        f"/dashboard/referrals/{service_id}/edit",
        data={**SHELTER, field: value, CSRF_FIELD: admin.csrf},
    )
    assert edited.status_code == 400
    assert message in edited.text
    service = await referrals.get_service(app.state.engine, service_id)
    assert service is not None
    assert service.name == "Harbor House"


async def test_a_dispatcher_sees_the_directory_but_cannot_add_or_edit_services(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    service_id = await referrals.create_service(
        app.state.engine, ServiceDraft(kind="legal", name="Open Door Legal Aid", languages="en")
    )
    dispatcher = await sign_in(app, board_client, role="dispatcher")
    page = await board_client.get("/dashboard/referrals")
    assert page.status_code == 200
    assert "Open Door Legal Aid" in page.text
    assert "/dashboard/referrals/new" not in page.text
    assert "/edit" not in page.text
    assert (await board_client.get("/dashboard/referrals/new")).status_code == 403
    assert (await board_client.get(f"/dashboard/referrals/{service_id}/edit")).status_code == 403
    data = {**SHELTER, CSRF_FIELD: dispatcher.csrf}
    assert (await board_client.post("/dashboard/referrals/new", data=data)).status_code == 403
    edit = await board_client.post(f"/dashboard/referrals/{service_id}/edit", data=data)
    assert edit.status_code == 403
    assert len(await rows(app, sa.select(referral_services.c.id))) == 1


async def test_the_directory_filters_by_kind_region_language_and_status(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.engine
    for draft in (
        ServiceDraft(kind="shelter", name="Shelter North", region="North Valley", languages="en"),
        ServiceDraft(kind="shelter", name="Shelter South", region="South Bay", languages="es,en"),
        ServiceDraft(kind="medical", name="Clinic South", region="south bay", languages="vi"),
        ServiceDraft(kind="medical", name="Clinic Closed", region="South Bay", languages="es"),
        ServiceDraft(kind="legal", name="Percent 100%", region="100% _any_", languages="fr"),
    ):
        service_id = await referrals.create_service(engine, draft)
    await referrals.set_active(engine, service_id - 1, False)
    await sign_in(app, board_client, role="dispatcher")

    async def names(query: str) -> list[str]:
        page = await board_client.get(f"/dashboard/referrals?{query}")
        assert page.status_code == 200
        return re.findall(r"(Shelter \w+|Clinic \w+|Percent 100%)", page.text)

    assert await names("kind=shelter") == ["Shelter North", "Shelter South"]
    assert await names("region=SOUTH") == ["Shelter South", "Clinic South"]
    assert await names("language=es") == ["Shelter South"]
    assert await names("language=ES&kind=shelter&region=bay") == ["Shelter South"]
    assert await names("status=inactive") == ["Clinic Closed"]
    assert await names("status=all&language=es") == ["Shelter South", "Clinic Closed"]
    assert await names("region=_any") == ["Percent 100%"]
    assert await names("region=%25") == ["Percent 100%"]  # a literal "%", not a wildcard
    assert await names("kind=nonsense&status=nonsense") == [
        "Shelter North",
        "Shelter South",
        "Clinic South",
        "Percent 100%",
    ]
    page = await board_client.get("/dashboard/referrals?kind=medical")
    assert '<label for="filter-kind">' in page.text
    assert '<option value="medical" selected>' in page.text


# --- dispatchers refer tips -------------------------------------------------------------


async def test_a_dispatcher_attaches_and_detaches_a_service_on_a_real_tip(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.engine
    tip_id = await file_tip(app, client)
    (before,) = await rows(app, sa.select(tips.c.updated_at).where(tips.c.id == tip_id))
    service_id = await referrals.create_service(
        engine,
        ServiceDraft(kind="medical", name="Maple Clinic", languages="en", contact="555-0167"),
    )
    dispatcher = await sign_in(app, board_client, role="dispatcher")

    answer = await board_client.post(
        f"/dashboard/tips/{tip_id}/referrals",
        data={"service_id": str(service_id), CSRF_FIELD: dispatcher.csrf},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard/tips/{tip_id}"

    (link,) = await rows(app, sa.select(tip_referrals))
    assert (link.tip_id, link.service_id, link.user_id) == (tip_id, service_id, dispatcher.user_id)
    (event,) = await rows(app, sa.select(tip_events).where(tip_events.c.kind == "referral"))
    assert event.tip_id == tip_id
    assert event.user_id == dispatcher.user_id
    assert event.detail == {"service_id": service_id, "change": "attach"}
    (after,) = await rows(app, sa.select(tips.c.updated_at).where(tips.c.id == tip_id))
    assert after.updated_at > before.updated_at
    (entry,) = await rows(app, sa.select(audit_log).where(audit_log.c.action == "referral"))
    assert (entry.tip_id, entry.user_id) == (tip_id, dispatcher.user_id)
    assert entry.detail == {"service_id": service_id, "change": "attach"}

    view = await board_client.get(answer.headers["location"])  # the tip view, with the panel
    assert view.status_code == 200
    assert "Maple Clinic" in view.text
    assert f'action="/dashboard/tips/{tip_id}/referrals/{service_id}/detach"' in view.text
    panel = await tip_panel(dashboard_of(app), tip_id)
    (attached,) = panel["attached_referrals"]
    assert (attached["name"], attached["contact"]) == ("Maple Clinic", "555-0167")
    assert attached["username"] == dispatcher.username
    assert attached["attached_at"] <= datetime.now(UTC)
    assert panel["referral_choices"] == []  # the only service is already attached

    # Attaching it again changes nothing.
    again = await board_client.post(
        f"/dashboard/tips/{tip_id}/referrals",
        data={"service_id": str(service_id), CSRF_FIELD: dispatcher.csrf},
    )
    assert again.status_code == 303
    assert len(await rows(app, sa.select(tip_referrals))) == 1
    assert len(await rows(app, sa.select(tip_events).where(tip_events.c.kind == "referral"))) == 1

    gone = await board_client.post(
        f"/dashboard/tips/{tip_id}/referrals/{service_id}/detach",
        data={CSRF_FIELD: dispatcher.csrf},
    )
    assert gone.status_code == 303
    assert gone.headers["location"] == f"/dashboard/tips/{tip_id}"
    assert await rows(app, sa.select(tip_referrals)) == []
    events = await rows(
        app, sa.select(tip_events).where(tip_events.c.kind == "referral").order_by(tip_events.c.id)
    )
    assert [e.detail["change"] for e in events] == ["attach", "detach"]
    trail = await rows(
        app, sa.select(audit_log).where(audit_log.c.action == "referral").order_by(audit_log.c.id)
    )
    assert [e.detail for e in trail] == [
        {"service_id": service_id, "change": "attach"},
        {"service_id": service_id, "change": "detach"},
    ]
    assert all(e.tip_id == tip_id for e in trail)


async def test_the_tip_panel_offers_active_services_grouped_by_kind_in_a_labelled_form(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.engine
    tip_id = await file_tip(app, client)
    legal = await referrals.create_service(
        engine,
        ServiceDraft(kind="legal", name="Open Door", region="Statewide", languages="en,fr"),
    )
    await referrals.create_service(
        engine, ServiceDraft(kind="shelter", name="Harbor", languages="es")
    )
    closed = await referrals.create_service(
        engine, ServiceDraft(kind="shelter", name="Closed Place", languages="es")
    )
    await referrals.set_active(engine, closed, False)
    dispatcher = await sign_in(app, board_client, role="dispatcher")
    board = dashboard_of(app)
    panel = await tip_panel(board, tip_id)
    assert [g["label"] for g in panel["referral_choices"]] == ["Shelter", "Legal aid"]
    legal_option = panel["referral_choices"][1]["options"][0]
    assert legal_option == {"id": legal, "text": "Open Door — Statewide — en, fr"}

    html = render_panel(board, panel, dispatcher)
    assert '<label for="referral-service">' in html
    assert 'id="referral-service" name="service_id"' in html
    assert '<optgroup label="Shelter">' in html
    assert "Closed Place" not in html
    assert f'action="/dashboard/tips/{tip_id}/referrals"' in html
    assert f'name="{CSRF_FIELD}" value="{dispatcher.csrf}"' in html


def render_panel(board: Any, panel: dict[str, Any], who: SignedIn) -> str:
    """The panel as the tip view includes it, with what every dashboard page carries."""
    template = board.templates.get_template("dashboard/_tip_referrals.html")
    return str(template.render({**panel, "csrf": who.csrf, "csrf_field": CSRF_FIELD}))


async def test_referring_an_unknown_tip_or_to_an_inactive_or_unknown_service_is_a_404(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.engine
    tip_id = await file_tip(app, client)
    service_id = await referrals.create_service(
        engine, ServiceDraft(kind="shelter", name="Harbor", languages="en")
    )
    dispatcher = await sign_in(app, board_client, role="dispatcher")

    async def attach(tip: uuid.UUID, service: str) -> int:
        answer = await board_client.post(
            f"/dashboard/tips/{tip}/referrals",
            data={"service_id": service, CSRF_FIELD: dispatcher.csrf},
        )
        return answer.status_code

    assert await attach(uuid.uuid4(), str(service_id)) == 404
    assert await attach(tip_id, "987654") == 404
    assert await attach(tip_id, "") == 400
    assert await attach(tip_id, "1; DROP TABLE tips") == 400
    assert await attach(tip_id, "9" * 40) == 400
    await referrals.set_active(engine, service_id, False)
    assert await attach(tip_id, str(service_id)) == 404
    detach = await board_client.post(
        f"/dashboard/tips/{uuid.uuid4()}/referrals/{service_id}/detach",
        data={CSRF_FIELD: dispatcher.csrf},
    )
    assert detach.status_code == 404
    assert await rows(app, sa.select(tip_referrals)) == []
    assert await rows(app, sa.select(tip_events).where(tip_events.c.kind == "referral")) == []
    assert await rows(app, sa.select(audit_log).where(audit_log.c.action == "referral")) == []


async def test_referring_a_tip_needs_this_sessions_csrf_token(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    service_id = await referrals.create_service(
        app.state.engine, ServiceDraft(kind="shelter", name="Harbor", languages="en")
    )
    await sign_in(app, board_client, role="dispatcher")
    answer = await board_client.post(
        f"/dashboard/tips/{tip_id}/referrals",
        data={"service_id": str(service_id), CSRF_FIELD: "forged"},
    )
    assert answer.status_code == 403
    assert await rows(app, sa.select(tip_referrals)) == []


async def test_a_deactivated_service_stays_on_the_tips_referred_to_it(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    engine = app.state.engine
    tip_id = await file_tip(app, client)
    service_id = await referrals.create_service(
        engine, ServiceDraft(kind="shelter", name="Harbor", languages="en")
    )
    user = await sign_in(app, board_client, role="dispatcher")
    await referrals.attach(engine, tip_id=tip_id, service_id=service_id, user_id=user.user_id)
    await referrals.set_active(engine, service_id, False)
    panel = await tip_panel(dashboard_of(app), tip_id)
    (attached,) = panel["attached_referrals"]
    assert (attached["name"], attached["active"]) == ("Harbor", False)
    assert "(no longer active)" in render_panel(dashboard_of(app), panel, user)


# --- escaping ---------------------------------------------------------------------------


async def test_hostile_text_in_a_service_is_escaped_on_every_dashboard_page(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    admin = await sign_in(app, board_client, role="admin")
    service_id = service_id_of(
        await add_service(
            board_client, admin, name=HOSTILE, description=HOSTILE, contact=HOSTILE[:50]
        )
    )
    tip_id = await file_tip(app, client)
    await referrals.attach(
        app.state.engine, tip_id=tip_id, service_id=service_id, user_id=admin.user_id
    )
    board = dashboard_of(app)
    pages = [
        (await board_client.get("/dashboard/referrals")).text,
        (await board_client.get(f"/dashboard/referrals/{service_id}/edit")).text,
        (await add_service(board_client, admin, name=HOSTILE, languages="!!")).text,
        render_panel(board, await tip_panel(board, tip_id), admin),
    ]
    for html in pages:
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html


# --- demo data --------------------------------------------------------------------------


async def test_demo_services_fill_an_empty_directory_once(app: HotlineApp) -> None:
    engine = app.state.engine
    assert await seed_referrals(engine) == len(DEMO_SERVICES)
    assert await seed_referrals(engine) == 0
    services = await referrals.list_services(engine, active=None)
    assert len(services) == len(DEMO_SERVICES)
    assert {s.kind for s in services} == set(referrals.KINDS)
    assert sum(not s.public for s in services) == 1
    assert all("555-01" in s.contact for s in services)


async def test_demo_services_are_not_added_to_a_directory_that_has_entries(
    app: HotlineApp,
) -> None:
    engine = app.state.engine
    await referrals.create_service(engine, ServiceDraft(kind="legal", name="Real", languages="en"))
    assert await seed_referrals(engine) == 0
    assert [s.name for s in await referrals.list_services(engine)] == ["Real"]
