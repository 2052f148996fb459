"""The tip view: audited before anything is decrypted, explained, escaped."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from hotline import audit
from hotline.tables import audit_log, sms_media, sms_messages, tip_entities, tips
from tests.dashboard_helpers import SignedIn
from tests.dashboard_helpers import sign_in as sign_in_helper
from tests.helpers import submit
from web.app import HotlineApp
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE

REPORT = "They took our passports and the girls are locked in the basement at night. She is 15."


async def sign_in(app: HotlineApp, client: httpx.AsyncClient, **options: str) -> SignedIn:
    """``sign_in``, with the cookie also under ``testserver.local``: the cookie jar files a
    dotless host's cookies there, and sends none set for plain ``testserver``."""
    who = await sign_in_helper(app, client, **options)
    value = next(c.value for c in client.cookies.jar if c.name == SESSION_COOKIE)
    host = httpx.URL(str(client.base_url)).host
    client.cookies.set(SESSION_COOKIE, value, domain=f"{host}.local", path=COOKIE_PATH)
    return who


async def file_tip(app: HotlineApp, client: httpx.AsyncClient, what: str) -> uuid.UUID:
    """File a tip through the public form; return its id."""
    answer = await submit(client, what)
    assert answer.status_code == 303
    async with app.state.engine.connect() as conn:
        return uuid.UUID(
            str(
                (
                    await conn.execute(
                        sa.select(tips.c.id).order_by(tips.c.created_at.desc()).limit(1)
                    )
                ).scalar_one()
            )
        )


async def audit_entries(app: HotlineApp, action: str) -> list[sa.Row[tuple[object, ...]]]:
    async with app.state.engine.connect() as conn:
        return list(
            (await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))).all()
        )


def marked_words(page: str) -> list[str]:
    text = page.split('id="tip-text">', 1)[1].split("</div>", 1)[0]
    return [
        html.unescape(word) for word in re.findall(r"<mark title=\"[^\"]*\">(.*?)</mark>", text)
    ]


async def test_viewing_a_tip_writes_one_audit_entry_naming_the_user_and_the_tip(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client, REPORT)
    who = await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200
    assert "took our passports" in page.text
    (entry,) = await audit_entries(app, "view_tip")
    assert entry.tip_id == tip_id
    assert entry.user_id == who.user_id
    assert entry.username == who.username
    board = app.state.dashboard
    assert (await audit.verify(board.engine, board.hasher)).intact


async def test_a_tip_is_not_shown_when_its_audit_entry_cannot_be_written(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client, REPORT)
    await sign_in(app, board_client)
    async with app.state.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                sa.text(
                    "CREATE FUNCTION audit_refuses() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
                )
            )
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION audit_refuses()"
                )
            )
        else:
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
                )
            )
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 503
    assert "passports" not in page.text
    assert "audit trail" in page.text
    assert await audit_entries(app, "view_tip") == []


async def test_an_unknown_tip_is_a_404_page_and_audits_nothing(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{uuid.uuid4()}")
    assert page.status_code == 404
    assert "no such tip" in page.text
    assert await audit_entries(app, "view_tip") == []


async def test_a_visitor_without_a_session_is_sent_to_sign_in(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client, REPORT)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 303
    assert page.headers["location"] == "/dashboard/login"
    assert await audit_entries(app, "view_tip") == []


async def test_the_words_that_fired_are_highlighted_with_their_indicator(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client, REPORT)
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    marked = marked_words(page.text)
    assert "took our passports" in marked
    assert "locked in" in marked
    assert "She is 15" in marked
    assert "at night" not in " ".join(marked)
    assert '<mark title="identity documents taken (DOC)">took our passports</mark>' in page.text
    # The indicators table names label, weight and rule id; the override rule is shown.
    table = page.text.split('id="indicators"', 1)[1].split("</table>", 1)[0]
    assert "<code>DOC</code>" in table
    assert "identity documents taken" in table
    assert "O1" in page.text
    # Triage's verdict is shown beside the urgency in force.
    assert 'id="urgency-in-force">critical<' in page.text


async def test_a_negated_indicator_is_listed_as_set_aside(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(
        app, client, "The boss is not holding my passport. They took our passports."
    )
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    skipped = page.text.split('id="skipped"', 1)[1].split("</table>", 1)[0]
    assert "negated" in skipped
    assert "holding my passport" in skipped
    assert "holding my passport" not in marked_words(page.text)


async def test_hostile_text_comes_out_escaped(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    hostile = "<script>alert(1)</script> took our passports <img src=x onerror=alert(1)> {{7*7}}"
    tip_id = await file_tip(app, client, hostile)
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "{{7*7}}" in page.text
    assert "49" not in page.text.split('id="tip-text">', 1)[1].split("</div>", 1)[0]


async def test_an_attachment_is_served_only_after_its_audit_entry(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client, REPORT)
    board = app.state.dashboard
    message_id, media_id, refused_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    picture = b"\x89PNG\r\n\x1a\n pretend picture"
    now = datetime.now(UTC)
    async with board.engine.begin() as conn:
        await conn.execute(
            sa.insert(sms_messages).values(
                id=message_id,
                tip_id=tip_id,
                direction="in",
                kind="tip",
                created_at=now,
                status="received",
                media_count=2,
            )
        )
        for row_id, content_type, size, sealed in (
            (media_id, "image/png", len(picture), picture),
            (refused_id, "application/pdf", 123456, None),
        ):
            await conn.execute(
                sa.insert(sms_media).values(
                    id=row_id,
                    message_id=message_id,
                    tip_id=tip_id,
                    media_sid_hash=hashlib.sha256(row_id.bytes).digest(),
                    content_type=content_type,
                    size=size,
                    body_sealed=(
                        board.sealer.seal(sealed, tip_id=tip_id, field=f"media:{row_id}")
                        if sealed
                        else None
                    ),
                    created_at=now,
                )
            )
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert f"/media/{media_id}" in page.text
    assert "refused (application/pdf, 123456 bytes)" in page.text
    assert f"/media/{refused_id}" not in page.text

    served = await board_client.get(f"/dashboard/tips/{tip_id}/media/{media_id}")
    assert served.status_code == 200
    assert served.content == picture
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"] == "inline"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "no-store"
    (entry,) = await audit_entries(app, "view_attachment")
    assert entry.tip_id == tip_id
    assert entry.detail == {"media_id": str(media_id)}

    refused = await board_client.get(f"/dashboard/tips/{tip_id}/media/{refused_id}")
    assert refused.status_code == 404
    assert len(await audit_entries(app, "view_attachment")) == 1


async def test_tips_sharing_an_entity_link_to_each_other(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    first = await file_tip(app, client, REPORT)
    second = await file_tip(app, client, "Same van again, they took our passports.")
    digest = hashlib.sha256(b"a phone number, hashed").digest()
    async with app.state.engine.begin() as conn:
        for tip_id in (first, second):
            await conn.execute(
                sa.insert(tip_entities).values(tip_id=tip_id, kind="phone", digest=digest)
            )
        second_reference = (
            await conn.execute(sa.select(tips.c.reference).where(tips.c.id == second))
        ).scalar_one()
    await sign_in(app, board_client)
    page = await board_client.get(f"/dashboard/tips/{first}")
    linked = page.text.split('id="linked"', 1)[1].split("</table>", 1)[0]
    assert f'<a href="/dashboard/tips/{second}">{second_reference}</a>' in linked
    assert "phone" in linked
    assert "New" in linked
