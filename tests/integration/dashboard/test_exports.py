"""Hand-off exports: the whole case as JSON or PDF, for supervisors, audited first."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import sqlalchemy as sa

from hotline import casework
from hotline.tables import audit_log, tips
from tests.dashboard_helpers import SignedIn, sign_in
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp

UTC_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HEBREW_NOTE = "דיברנו עם המקלט ליד המחסן"
PAGE = re.compile(rb"/Type /Page\b(?!s)")
# Cyrillic, Arabic, Greek and Chinese on purpose (the font has no Chinese: drawn as boxes).
NON_LATIN = "Свидетель видел мужчин у склада. شاهدت رجالا عند المستودع. Ελληνικά. 在仓库附近看到"  # noqa: RUF001


async def _file_tip(app: HotlineApp, client: httpx.AsyncClient, text: str) -> tuple[uuid.UUID, str]:
    """A real tip through the public form; its id and reference."""
    await submit_and_read_receipt(client, text)
    async with app.state.dashboard.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(tips.c.id, tips.c.reference).order_by(tips.c.created_at.desc()).limit(1)
            )
        ).one()
    return row.id, row.reference


async def _exports_of(app: HotlineApp, tip_id: uuid.UUID) -> list[sa.Row[tuple[object, ...]]]:
    async with app.state.dashboard.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(audit_log.c.username, audit_log.c.detail).where(
                        audit_log.c.tip_id == tip_id, audit_log.c.action == "export_tip"
                    )
                )
            ).all()
        )


async def _export(
    client: httpx.AsyncClient, who: SignedIn, tip_id: uuid.UUID, chosen: str
) -> httpx.Response:
    return await client.post(
        f"/dashboard/tips/{tip_id}/export", data={"csrf": who.csrf, "format": chosen}
    )


async def test_a_supervisor_exports_a_tip_as_json_with_the_whole_case(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, reference = await _file_tip(
        app, client, "Two girls are kept in the back room of the nail salon on Elm Street"
    )
    boss = await sign_in(app, board_client, role="supervisor", username="export-boss")
    board = app.state.dashboard
    actor = casework.Actor(boss.user_id, supervisor=True)
    await casework.add_note(board.engine, board.sealer, tip_id, actor, text="Called the shelter")
    await casework.override_urgency(
        board.engine, board.sealer, tip_id, actor, to="low", reason="Old news, already raided"
    )
    await casework.reply(
        board.engine, board.committer, board.sealer, tip_id, actor, text="Thank you, we act."
    )

    answer = await _export(board_client, boss, tip_id, "json")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="hotline-{reference}.json"'
    )
    assert answer.headers["cache-control"] == "no-store"
    bundle = json.loads(answer.content)
    assert bundle["format"] == "hotline-handoff"
    assert bundle["version"] == 1
    assert bundle["exported_by"] == "export-boss"
    assert UTC_ISO.match(bundle["exported_at"])
    tip = bundle["tip"]
    assert tip["reference"] == reference
    assert tip["channel"] == "web"
    assert tip["urgency"] == "low"
    assert tip["override"] == "low"
    assert tip["triage_urgency"] in ("critical", "high", "medium", "low")
    assert UTC_ISO.match(tip["created_at"])
    assert all(set(indicator) == {"id", "label"} for indicator in tip["indicators"])
    assert "Two girls are kept in the back room" in bundle["report"]
    assert [note["text"] for note in bundle["notes"]] == ["Called the shelter"]
    assert bundle["notes"][0]["username"] == "export-boss"
    assert bundle["overrides"][0]["reason"] == "Old news, already raided"
    assert bundle["overrides"][0]["to"] == "low"
    assert [m["text"] for m in bundle["messages"]] == ["Thank you, we act."]
    assert bundle["messages"][0]["author"] == "hotline"
    assert {"note", "override", "reply"} <= {event["kind"] for event in bundle["events"]}
    assert bundle["referrals"] == []
    assert str(tip_id) not in answer.text

    entries = await _exports_of(app, tip_id)
    assert [(entry.username, entry.detail) for entry in entries] == [
        ("export-boss", {"format": "json"})
    ]


async def test_a_pdf_export_is_a_pdf_whose_pages_grow_with_the_text(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    short_id, reference = await _file_tip(app, client, "A van picks up workers at 5 a.m.")
    long_id, _ = await _file_tip(app, client, "They never let the workers leave. " * 140)
    boss = await sign_in(app, board_client, role="supervisor")
    board = app.state.dashboard
    for _ in range(3):
        await casework.add_note(
            board.engine,
            board.sealer,
            long_id,
            casework.Actor(boss.user_id, supervisor=True),
            text="Follow-up with the labour inspectorate about the site. " * 80,
        )

    short = await _export(board_client, boss, short_id, "pdf")
    long = await _export(board_client, boss, long_id, "pdf")

    assert short.status_code == 200
    assert short.headers["content-type"] == "application/pdf"
    assert short.headers["content-disposition"] == f'attachment; filename="hotline-{reference}.pdf"'
    assert short.headers["cache-control"] == "no-store"
    for answer in (short, long):
        assert answer.content.startswith(b"%PDF-")
        assert answer.content.rstrip().endswith(b"%%EOF")
    assert len(PAGE.findall(short.content)) == 1
    assert len(PAGE.findall(long.content)) >= 4
    assert [entry.detail for entry in await _exports_of(app, long_id)] == [{"format": "pdf"}]


async def test_non_latin_text_exports_to_pdf_and_to_json_exactly(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    capture_logs: list[str],
) -> None:
    tip_id, _ = await _file_tip(app, client, NON_LATIN)
    boss = await sign_in(app, board_client, role="supervisor")
    board = app.state.dashboard
    actor = casework.Actor(boss.user_id, supervisor=True)
    await casework.add_note(board.engine, board.sealer, tip_id, actor, text=HEBREW_NOTE)

    pdf = await _export(board_client, boss, tip_id, "pdf")
    bundle = await _export(board_client, boss, tip_id, "json")

    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert b"DejaVuSans" in pdf.content  # the embedded Unicode font, not a core font
    assert NON_LATIN in json.loads(bundle.content)["report"]
    assert json.loads(bundle.content)["notes"][0]["text"] == HEBREW_NOTE
    logged = "\n".join(capture_logs)
    for fragment in ("Свидетель", "المستودع", "仓库", "Ελληνικά", "המחסן"):
        assert fragment not in logged


async def test_the_export_form_warns_that_the_file_leaves_the_system(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, reference = await _file_tip(app, client, "Someone is locked in a basement")
    await sign_in(app, board_client, role="supervisor")
    page = await board_client.get(f"/dashboard/tips/{tip_id}/export")
    assert page.status_code == 200
    assert "This file leaves the system" in page.text
    assert "recorded in the audit log" in page.text
    assert reference in page.text
    assert 'name="csrf"' in page.text
    assert "style=" not in page.text
    assert "locked in a basement" not in page.text  # the form decrypts nothing
    assert await _exports_of(app, tip_id) == []


async def test_an_unknown_format_is_refused_and_not_recorded(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, _ = await _file_tip(app, client, "Workers sleep in the factory")
    boss = await sign_in(app, board_client, role="supervisor")
    answer = await _export(board_client, boss, tip_id, "docx")
    assert answer.status_code == 400
    assert "Choose PDF or JSON" in answer.text
    assert await _exports_of(app, tip_id) == []


async def test_a_dispatcher_cannot_export_a_tip(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, _ = await _file_tip(app, client, "A man takes their passports")
    who = await sign_in(app, board_client, role="dispatcher")
    assert (await board_client.get(f"/dashboard/tips/{tip_id}/export")).status_code == 403
    answer = await _export(board_client, who, tip_id, "json")
    assert answer.status_code == 403
    assert "passports" not in answer.text
    assert await _exports_of(app, tip_id) == []


async def test_an_unknown_tip_is_not_found(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    boss = await sign_in(app, board_client, role="supervisor")
    missing = uuid.uuid4()
    assert (await board_client.get(f"/dashboard/tips/{missing}/export")).status_code == 404
    assert (await _export(board_client, boss, missing, "pdf")).status_code == 404
    assert await _exports_of(app, missing) == []


async def test_an_export_without_the_forms_token_is_refused(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, _ = await _file_tip(app, client, "Girls are brought across the border at night")
    await sign_in(app, board_client, role="supervisor")
    answer = await board_client.post(f"/dashboard/tips/{tip_id}/export", data={"format": "json"})
    assert answer.status_code == 403
    assert await _exports_of(app, tip_id) == []


async def test_nothing_is_decrypted_when_the_export_cannot_be_recorded(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id, _ = await _file_tip(app, client, "They keep the women above the warehouse")
    boss = await sign_in(app, board_client, role="supervisor")
    async with app.state.dashboard.engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE audit_log"))  # the trail cannot take the entry
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", cookies=board_client.cookies
    ) as other:
        answer = await _export(other, boss, tip_id, "json")
    assert answer.status_code >= 400  # the audit's own error (409 once its retries give up)
    assert "warehouse" not in answer.text
    assert "attachment" not in answer.headers.get("content-disposition", "")
