"""What a dispatcher does to a tip: claim, release, status, override, notes, merge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline import audit
from hotline.settings import Settings
from hotline.tables import audit_log, tip_events, tip_notes, tip_overrides, tips
from hotline.verdict import PRIORITY
from tests.conftest import CLIENT_ADDRESS, ON_POSTGRESQL, stored_bytes
from tests.dashboard_helpers import SignedIn, sign_in
from tests.helpers import submit
from web.app import HotlineApp

REPORT = "They took our passports and the girls are locked in the basement at night."
MARKER = "zebra-quartz-7731 secret note"


@pytest.fixture
async def other_client(app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    """A second dashboard browser, for a second person."""
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


async def file_tip(app: HotlineApp, client: httpx.AsyncClient, what: str = REPORT) -> uuid.UUID:
    answer = await submit(client, what)
    assert answer.status_code == 303
    async with app.state.engine.connect() as conn:
        found = await conn.execute(sa.select(tips.c.id).order_by(tips.c.created_at.desc()))
        return uuid.UUID(str(found.scalars().first()))


async def act(
    client: httpx.AsyncClient, who: SignedIn, tip_id: uuid.UUID, action: str, **fields: str
) -> httpx.Response:
    return await client.post(
        f"/dashboard/tips/{tip_id}/{action}", data={"csrf": who.csrf, **fields}
    )


async def tip_row(app: HotlineApp, tip_id: uuid.UUID) -> Any:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(sa.select(tips).where(tips.c.id == tip_id))).one()


async def events(app: HotlineApp, tip_id: uuid.UUID) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(tip_events)
                    .where(tip_events.c.tip_id == tip_id, tip_events.c.user_id.is_not(None))
                    .order_by(tip_events.c.id)
                )
            ).all()
        )


async def audited(app: HotlineApp, action: str) -> list[Any]:
    async with app.state.engine.connect() as conn:
        return list(
            (await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))).all()
        )


def files_at_rest(data_dir: Path) -> tuple[list[str], bytes]:
    """The names and bytes of every file in the data directory but the keys."""
    files = [p for p in data_dir.rglob("*") if p.is_file() and "keys" not in p.parts]
    return [p.name for p in files], b"".join(p.read_bytes() for p in files)


def assert_back_to_tip(answer: httpx.Response, tip_id: uuid.UUID) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/dashboard/tips/{tip_id}"


async def test_claiming_holds_the_tip_sets_in_progress_and_is_audited_and_recorded(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    before: datetime = (await tip_row(app, tip_id)).updated_at
    who = await sign_in(app, board_client)
    assert_back_to_tip(await act(board_client, who, tip_id, "claim"), tip_id)
    row = await tip_row(app, tip_id)
    assert row.claimed_by == who.user_id
    assert row.status == "in_progress"
    assert row.claimed_at is not None
    assert row.first_claimed_at == row.claimed_at
    assert row.updated_at > before
    (event,) = await events(app, tip_id)
    assert (event.kind, event.user_id) == ("claimed", who.user_id)
    (entry,) = await audited(app, "claim")
    assert (entry.tip_id, entry.user_id) == (tip_id, who.user_id)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert f'class="holder">{who.username}<' in page.text


async def test_a_tip_held_by_another_dispatcher_cannot_be_claimed(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
) -> None:
    tip_id = await file_tip(app, client)
    first = await sign_in(app, board_client)
    second = await sign_in(app, other_client, username="second-dispatcher")
    assert_back_to_tip(await act(board_client, first, tip_id, "claim"), tip_id)
    refused = await act(other_client, second, tip_id, "claim")
    assert refused.status_code == 409
    released = await act(other_client, second, tip_id, "release")
    assert released.status_code == 409
    assert (await tip_row(app, tip_id)).claimed_by == first.user_id
    assert len(await audited(app, "claim")) == 1


async def test_a_supervisor_takes_over_and_releases_a_held_tip(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
) -> None:
    tip_id = await file_tip(app, client)
    dispatcher = await sign_in(app, board_client)
    supervisor = await sign_in(app, other_client, role="supervisor", username="the-supervisor")
    await act(board_client, dispatcher, tip_id, "claim")
    first_claim = (await tip_row(app, tip_id)).first_claimed_at
    assert_back_to_tip(await act(other_client, supervisor, tip_id, "claim"), tip_id)
    row = await tip_row(app, tip_id)
    assert row.claimed_by == supervisor.user_id
    assert row.first_claimed_at == first_claim
    takeover = (await events(app, tip_id))[-1]
    assert takeover.detail == {"took_over_from": dispatcher.user_id}
    assert_back_to_tip(await act(other_client, supervisor, tip_id, "release"), tip_id)
    assert (await tip_row(app, tip_id)).claimed_by is None
    assert len(await audited(app, "release")) == 1


async def test_status_moves_only_along_the_allowed_transitions(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    who = await sign_in(app, board_client)
    assert (await act(board_client, who, tip_id, "status", status="referred")).status_code == 409
    assert (await act(board_client, who, tip_id, "status", status="bogus")).status_code == 400
    assert_back_to_tip(await act(board_client, who, tip_id, "status", status="in_progress"), tip_id)
    assert_back_to_tip(await act(board_client, who, tip_id, "status", status="escalated"), tip_id)
    assert (await tip_row(app, tip_id)).status == "escalated"
    # Closing needs a reason.
    assert (await act(board_client, who, tip_id, "status", status="closed")).status_code == 400
    closed = await act(
        board_client, who, tip_id, "status", status="closed", close_reason="not_trafficking"
    )
    assert_back_to_tip(closed, tip_id)
    row = await tip_row(app, tip_id)
    assert (row.status, row.close_reason) == ("closed", "not_trafficking")
    assert row.closed_at is not None
    # A dispatcher cannot reopen.
    reopen = await act(board_client, who, tip_id, "status", status="in_progress")
    assert reopen.status_code == 409
    kinds = [(e.kind, e.detail) for e in await events(app, tip_id)]
    assert kinds == [
        ("status", {"from": "new", "to": "in_progress"}),
        ("status", {"from": "in_progress", "to": "escalated"}),
        ("status", {"from": "escalated", "to": "closed", "reason": "not_trafficking"}),
    ]
    assert len(await audited(app, "status")) == 3


async def test_a_supervisor_reopens_a_closed_tip(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    who = await sign_in(app, board_client, role="supervisor")
    await act(board_client, who, tip_id, "status", status="closed", close_reason="resolved")
    assert_back_to_tip(await act(board_client, who, tip_id, "status", status="in_progress"), tip_id)
    row = await tip_row(app, tip_id)
    assert (row.status, row.closed_at, row.close_reason) == ("in_progress", None, None)


async def test_an_override_is_kept_beside_triage_and_moves_the_priority(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    triage_row = await tip_row(app, tip_id)
    assert triage_row.urgency == "critical"
    who = await sign_in(app, board_client)
    refused = await act(board_client, who, tip_id, "override", urgency="low", reason="   ")
    assert refused.status_code == 400
    answer = await act(
        board_client, who, tip_id, "override", urgency="low", reason="Known hoax caller"
    )
    assert_back_to_tip(answer, tip_id)
    row = await tip_row(app, tip_id)
    assert (row.urgency, row.urgency_override, row.priority) == ("critical", "low", PRIORITY["low"])
    async with app.state.engine.connect() as conn:
        override = (await conn.execute(sa.select(tip_overrides))).one()
    assert (override.from_urgency, override.to_urgency) == ("critical", "low")
    assert override.indicator_ids == triage_row.indicator_ids
    assert override.user_id == who.user_id
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert 'id="urgency-in-force">low<' in page.text
    assert 'id="urgency-triage">critical<' in page.text
    assert "Known hoax caller" in page.text

    assert_back_to_tip(await act(board_client, who, tip_id, "override/clear"), tip_id)
    row = await tip_row(app, tip_id)
    assert (row.urgency_override, row.priority) == (None, PRIORITY["critical"])
    assert [e.detail["to"] for e in await events(app, tip_id)] == ["low", "critical"]
    assert len(await audited(app, "override")) == 2


async def test_notes_and_override_reasons_are_sealed_at_rest(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    settings: Settings,
) -> None:
    tip_id = await file_tip(app, client)
    who = await sign_in(app, board_client)
    assert_back_to_tip(await act(board_client, who, tip_id, "notes", text=MARKER), tip_id)
    answer = await act(board_client, who, tip_id, "override", urgency="high", reason=MARKER)
    assert_back_to_tip(answer, tip_id)
    page = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.text.count(MARKER) >= 2  # the note and the override reason, opened
    async with app.state.engine.connect() as conn:
        note = (await conn.execute(sa.select(tip_notes))).one()
    assert note.user_id == who.user_id
    assert MARKER.encode() not in note.body_sealed
    names, at_rest = files_at_rest(Path(settings.data_dir))
    if ON_POSTGRESQL:
        at_rest += stored_bytes(settings.data_dir)  # the rows live in the server
    else:
        assert any(name.endswith("-wal") for name in names)  # the write-ahead log is read too
    assert MARKER.encode() not in at_rest
    assert "zebra-quartz".encode("utf-16-le") not in at_rest
    (entry,) = await audited(app, "note")
    assert entry.detail == {"note_id": str(note.id)}
    board = app.state.dashboard
    assert (await audit.verify(board.engine, board.hasher)).intact


async def test_a_duplicate_is_merged_and_both_pages_show_the_link(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    original = await file_tip(app, client)
    duplicate = await file_tip(app, client, "Again: they took our passports at the basement.")
    original_reference = (await tip_row(app, original)).reference
    duplicate_reference = (await tip_row(app, duplicate)).reference
    who = await sign_in(app, board_client)
    assert (await act(board_client, who, duplicate, "merge", into="ZZZZZ-ZZZZZ")).status_code == 404
    assert (
        await act(board_client, who, duplicate, "merge", into=duplicate_reference)
    ).status_code == 409
    merged = await act(board_client, who, duplicate, "merge", into=original_reference.lower())
    assert_back_to_tip(merged, duplicate)
    row = await tip_row(app, duplicate)
    assert (row.status, row.close_reason, row.merged_into) == ("closed", "duplicate", original)
    duplicate_page = await board_client.get(f"/dashboard/tips/{duplicate}")
    assert f'<a href="/dashboard/tips/{original}">{original_reference}</a>' in duplicate_page.text
    original_page = await board_client.get(f"/dashboard/tips/{original}")
    assert f'<a href="/dashboard/tips/{duplicate}">{duplicate_reference}</a>' in original_page.text
    (entry,) = await audited(app, "merge")
    assert entry.detail == {"into": str(original)}


async def test_nothing_can_be_merged_into_a_closed_tip(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    closed = await file_tip(app, client)
    other = await file_tip(app, client, "Another report: they took our passports.")
    who = await sign_in(app, board_client)
    await act(board_client, who, closed, "status", status="closed", close_reason="resolved")
    reference = (await tip_row(app, closed)).reference
    assert (await act(board_client, who, other, "merge", into=reference)).status_code == 409
    assert (await tip_row(app, other)).status == "new"


async def test_an_action_without_the_csrf_token_changes_nothing(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    tip_id = await file_tip(app, client)
    await sign_in(app, board_client)
    answer = await board_client.post(f"/dashboard/tips/{tip_id}/claim", data={"csrf": "forged"})
    assert answer.status_code == 403
    assert (await tip_row(app, tip_id)).claimed_by is None
