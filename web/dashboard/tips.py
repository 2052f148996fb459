"""One tip: the audited view, and what a dispatcher does with it.

Reading a tip writes ``view_tip`` to the audit trail *before* anything is decrypted; if
the trail cannot be written, nothing is shown. Triage's explanation is recomputed in
memory from the decrypted text, and the words that fired are highlighted by splitting
the text into segments the template escapes one by one: reporter text is never marked
safe. Actions are small POST forms that change the tip through :mod:`hotline.casework`,
are audited, and answer 303 back to the tip. The tip's on-call pages are shown beside it,
and its page chain is acknowledged here (claiming the tip acknowledges it too).
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from arq.connections import create_pool
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import triage
from hotline import audit, casework, logs, paging
from hotline.casefile import (
    load_attachments,
    load_case,
    load_linked_tips,
    open_attachment,
)
from hotline.errors import HotlineError, NotFoundError, SealError, StorageUnavailableError
from hotline.queue import ArqReplyDelivery, redis_settings
from hotline.replies import ReplyDelivery
from hotline.sessions import Principal
from hotline.tables import tips
from hotline.verdict import URGENCIES
from web.dashboard import referrals
from web.dashboard.alerts import tip_paging_context
from web.dashboard.core import Dashboard, dashboard, refuse, render, role_allows, signed_in

log = logs.get_logger(__name__)

NOT_AUDITED = "Reading this tip could not be recorded in the audit trail, so it is not shown."
CLOSE_REASON_LABELS = {
    "resolved": "Resolved",
    "duplicate": "Duplicate",
    "not_trafficking": "Not trafficking",
    "not_enough_information": "Not enough information",
}
STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "referred": "Referred",
    "escalated": "Escalated to law enforcement",
    "closed": "Closed",
}
EVENT_LABELS = {
    "dispatched": "Dispatched",
    "claimed": "Claimed",
    "released": "Released",
    "status": "Status changed",
    "override": "Urgency overridden",
    "override_cleared": "Override cleared",
    "note": "Note added",
    "reply": "Reply sent",
    "merged": "Merged into another tip",
    "merged_from": "Another tip merged into this one",
    "reporter_added": "Reporter added information",
    "reporter_key_set": "Reporter came back",
    "reporter_deleted": "Reporter deleted their texts",
    "sms_joined": "Reporter texted again",
    "reassessed": "Re-assessed",
    "acknowledged": "Page acknowledged",
    "paging_ended": "Paging ended",
    "paging_started": "Paging started: the tip became urgent",
}
# The audit action of an acknowledgement from the dashboard: its own once the trail knows
# it, a claim (with detail {"ack": "dashboard"}) until then.
ACK_AUDIT_ACTION = "acknowledge" if "acknowledge" in audit.ACTIONS else "claim"


# -- triage's explanation, as escaped segments ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of the reporter's text; ``marked`` runs matched indicators named in ``label``."""

    text: str
    marked: bool
    label: str


def highlight(text: str, marks: list[tuple[int, int, str]]) -> list[Segment]:
    """Cut ``text`` at every mark's edges; each piece knows which marks cover it."""
    size = len(text)
    spans = [(max(0, a), min(size, b), label) for a, b, label in marks if min(size, b) > max(0, a)]
    edges = sorted({0, size, *(a for a, _, _ in spans), *(b for _, b, _ in spans)})
    segments: list[Segment] = []
    for start, end in itertools.pairwise(edges):
        labels = "; ".join(dict.fromkeys(c for a, b, c in spans if a <= start and end <= b))
        piece = text[start:end]
        if segments and segments[-1].label == labels:
            piece = segments.pop().text + piece  # the same marks go on: one segment
        segments.append(Segment(piece, bool(labels), labels))
    return segments


def explain(text: str, region: str) -> dict[str, Any]:
    """Re-run triage on the decrypted text, in memory, and shape its evidence for the page."""
    try:
        assessment = triage.assess(text, None, default_region=region)
    except Exception as exc:  # noqa: BLE001 - a triage bug must not hide the tip itself
        log.error("triage_failed", status=type(exc).__name__)
        return {"explained": False, "segments": [Segment(text, False, "")]}

    def words(spans: tuple[tuple[int, int], ...]) -> list[str]:
        return [text[a:b] for a, b in spans if 0 <= a < b <= len(text)]

    marks = [
        (a, b, f"{indicator.label} ({indicator.rule_id})")
        for indicator in assessment.indicators
        for a, b in indicator.spans
    ]
    return {
        "explained": True,
        "assessment": assessment,
        "segments": highlight(text, marks),
        "fired": [
            {
                "rule_id": i.rule_id,
                "label": i.label,
                "weight": f"{i.weight:+g}",
                "words": words(i.spans),
            }
            for i in assessment.indicators
        ],
        "skipped": [
            {"rule_id": s.rule_id, "label": s.label, "reason": s.reason, "words": words(s.spans)}
            for s in assessment.skipped
        ],
        "rule_overrides": list(assessment.overrides),
        "triage_notes": list(assessment.notes),
    }


# -- helpers --------------------------------------------------------------------------------


def _actor(user: Principal) -> casework.Actor:
    return casework.Actor(user.user_id, supervisor=role_allows(user.role, "supervisor"))


def _tip_url(tip_id: uuid.UUID) -> str:
    return f"/dashboard/tips/{tip_id}"


async def _exists(state: Dashboard, tip_id: uuid.UUID) -> bool:
    async with state.engine.connect() as conn:
        found = await conn.execute(sa.select(tips.c.id).where(tips.c.id == tip_id))
        return found.first() is not None


def _refusal(request: Request, user: Principal, exc: HotlineError) -> Response:
    status = exc.status_code if exc.status_code in (400, 404, 409, 503) else 500
    messages = {
        400: "That form was not filled in as needed",
        404: "There is no such tip",
        409: "That cannot be done to this tip as it stands now",
        503: "That could not be done right now; try again in a moment",
    }
    # A core error's text carries ids and levels only, never what anyone wrote.
    message = f"{messages.get(status, 'Something went wrong')}: {exc}."
    return refuse(request, status, message, user=user)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


# -- the view ----------------------------------------------------------------------------


@signed_in("dispatcher")
async def view_tip(request: Request, user: Principal) -> Response:
    state = dashboard(request)
    tip_id: uuid.UUID = request.path_params["tip_id"]
    if not await _exists(state, tip_id):
        return refuse(request, 404, "There is no such tip.", user=user)
    # The audit entry first: if it cannot be written, nothing is decrypted or shown.
    try:
        await state.audit(user, "view_tip", tip_id=tip_id)
    except (HotlineError, SQLAlchemyError) as exc:
        log.error("audit_failed", tip_id=str(tip_id), status=type(exc).__name__)
        return refuse(request, 503, NOT_AUDITED, user=user)
    try:
        case = await load_case(state.engine, state.opener, tip_id)
    except NotFoundError:
        return refuse(request, 404, "There is no such tip.", user=user)
    explanation = explain(case.text, state.settings.phone_region)
    actor = _actor(user)
    merged_into_reference = (
        await casework.reference_of(state.engine, case.merged_into) if case.merged_into else None
    )
    context: dict[str, Any] = {
        "case": case,
        "explanation": explanation,
        "attachments": await load_attachments(state.engine, tip_id),
        "linked": await load_linked_tips(state.engine, tip_id),
        "merged_from": await casework.merged_from(state.engine, tip_id),
        "merged_into_reference": merged_into_reference,
        "next_statuses": casework.allowed_statuses(case.status, supervisor=actor.supervisor),
        "status_labels": STATUS_LABELS,
        "close_reasons": CLOSE_REASON_LABELS,
        "event_labels": EVENT_LABELS,
        "urgencies": URGENCIES,
        "holds_it": case.claimed_by == user.username,
        "is_supervisor": actor.supervisor,
        "tip_url": _tip_url(tip_id),
    }
    context.update(await referrals.tip_panel(state, tip_id))
    context.update(await tip_paging_context(state.engine, tip_id))
    return render(request, "dashboard/tip.html", context, user=user)


@signed_in("dispatcher")
async def view_attachment(request: Request, user: Principal) -> Response:
    state = dashboard(request)
    tip_id: uuid.UUID = request.path_params["tip_id"]
    media_id: uuid.UUID = request.path_params["media_id"]
    known = {item.id: item for item in await load_attachments(state.engine, tip_id)}
    if media_id not in known or known[media_id].refused:
        return refuse(request, 404, "There is no such attachment.", user=user)
    try:
        await state.audit(
            user, "view_attachment", tip_id=tip_id, detail={"media_id": str(media_id)}
        )
    except (HotlineError, SQLAlchemyError) as exc:
        log.error("audit_failed", tip_id=str(tip_id), status=type(exc).__name__)
        return refuse(request, 503, NOT_AUDITED, user=user)
    try:
        content_type, data = await open_attachment(state.engine, state.opener, tip_id, media_id)
    except (NotFoundError, SealError):
        return refuse(request, 404, "This attachment cannot be opened.", user=user)
    return Response(
        data,
        media_type=content_type,
        headers={
            "content-disposition": "inline",
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


# -- actions -------------------------------------------------------------------------------

Action = Callable[[Dashboard, uuid.UUID, casework.Actor, dict[str, str]], Awaitable[Any]]


def _action(name: str, audit_action: str, act: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint: run ``act``, audit it, and go back to the tip."""

    async def endpoint(request: Request, user: Principal) -> Response:
        state = dashboard(request)
        tip_id: uuid.UUID = request.path_params["tip_id"]
        form = await _form(request)
        try:
            detail = await act(state, tip_id, _actor(user), form)
        except HotlineError as exc:
            return _refusal(request, user, exc)
        await state.audit(user, audit_action, tip_id=tip_id, detail=detail)
        log.info("tip_action", tip_id=str(tip_id), status=name, user_id=user.user_id)
        return RedirectResponse(_tip_url(tip_id), status_code=303)

    endpoint.__name__ = f"tip_{name}"
    return signed_in("dispatcher")(endpoint)


async def _do_claim(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, _form: dict[str, str]
) -> dict[str, Any] | None:
    acknowledged = await casework.claim(state.engine, tip_id, actor)
    return {"ack": "claim"} if acknowledged else None


@signed_in("dispatcher")
async def acknowledge_page(request: Request, user: Principal) -> Response:
    """Stop the tip's page chain: someone has it. Back to the queue or to the tip."""
    state = dashboard(request)
    tip_id: uuid.UUID = request.path_params["tip_id"]
    form = await _form(request)
    if not await _exists(state, tip_id):
        return refuse(request, 404, "There is no such tip.", user=user)
    now = datetime.now(UTC)
    acknowledged = await paging.acknowledge(
        state.engine, tip_id, user_id=user.user_id, via="dashboard", now=now
    )
    if acknowledged:
        await state.audit(user, ACK_AUDIT_ACTION, tip_id=tip_id, detail={"ack": "dashboard"})
        log.info("page_acknowledged", tip_id=str(tip_id), status="dashboard", user_id=user.user_id)
    # Nothing was escalating (someone acknowledged a moment before): nothing to undo either.
    back = "/dashboard/" if form.get("back") == "queue" else _tip_url(tip_id)
    return RedirectResponse(back, status_code=303)


async def _do_release(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, _form: dict[str, str]
) -> dict[str, Any] | None:
    await casework.release(state.engine, tip_id, actor)
    return None


async def _do_status(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, form: dict[str, str]
) -> dict[str, Any] | None:
    to = form.get("status", "")
    reason = form.get("close_reason") or None
    await casework.change_status(
        state.engine, tip_id, actor, to=to, close_reason=reason if to == "closed" else None
    )
    return {"to": to, **({"reason": reason} if to == "closed" else {})}


async def _do_override(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, form: dict[str, str]
) -> dict[str, Any] | None:
    to = form.get("urgency", "")
    override_id = await casework.override_urgency(
        state.engine,
        state.sealer,
        tip_id,
        actor,
        to=to,
        reason=form.get("reason", ""),
        paged_urgencies=state.settings.paged_urgencies,
    )
    return {"to": to, "override_id": str(override_id)}


async def _do_clear_override(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, _form: dict[str, str]
) -> dict[str, Any] | None:
    await casework.clear_override(state.engine, tip_id, actor)
    return {"cleared": True}


async def _do_note(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, form: dict[str, str]
) -> dict[str, Any] | None:
    note_id = await casework.add_note(
        state.engine, state.sealer, tip_id, actor, text=form.get("text", "")
    )
    return {"note_id": str(note_id)}


@contextlib.asynccontextmanager
async def _sms_delivery(state: Dashboard) -> AsyncIterator[ReplyDelivery]:
    """The SMS hand-off: the app's, when it wired one, else a Redis pool for this reply."""
    wired = state.extras.get("reply_delivery")
    if wired is not None:
        yield wired
        return
    if not state.settings.redis_url:
        raise StorageUnavailableError("no queue to hand the SMS reply to")
    redis = await create_pool(redis_settings(state.settings.redis_url, conn_retries=0))
    try:
        yield ArqReplyDelivery(redis)
    finally:
        await redis.aclose()


async def _do_reply(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, form: dict[str, str]
) -> dict[str, Any] | None:
    text = form.get("text", "")
    if await casework.reply_channel(state.engine, tip_id) != "sms":
        message_id = await casework.reply(
            state.engine, state.committer, state.sealer, tip_id, actor, text=text
        )
        return {"message_id": str(message_id)}
    try:
        async with _sms_delivery(state) as delivery:
            message_id = await casework.reply(
                state.engine,
                state.committer,
                state.sealer,
                tip_id,
                actor,
                text=text,
                delivery=delivery,
            )
    except (OSError, RedisError) as exc:
        log.error("sms_reply_not_queued", tip_id=str(tip_id), status=type(exc).__name__)
        raise StorageUnavailableError(f"reply on tip {tip_id} not queued for sending") from None
    return {"message_id": str(message_id), "channel": "sms"}


async def _do_merge(
    state: Dashboard, tip_id: uuid.UUID, actor: casework.Actor, form: dict[str, str]
) -> dict[str, Any] | None:
    into = await casework.merge(state.engine, tip_id, actor, into_reference=form.get("into", ""))
    return {"into": str(into)}


_PREFIX = "/dashboard/tips/{tip_id:uuid}"
routes: list[BaseRoute] = [
    Route(_PREFIX, view_tip, methods=["GET"]),
    Route(_PREFIX + "/media/{media_id:uuid}", view_attachment, methods=["GET"]),
    Route(_PREFIX + "/claim", _action("claim", "claim", _do_claim), methods=["POST"]),
    Route(_PREFIX + "/ack", acknowledge_page, methods=["POST"]),
    Route(_PREFIX + "/release", _action("release", "release", _do_release), methods=["POST"]),
    Route(_PREFIX + "/status", _action("status", "status", _do_status), methods=["POST"]),
    Route(_PREFIX + "/override", _action("override", "override", _do_override), methods=["POST"]),
    Route(
        _PREFIX + "/override/clear",
        _action("clear_override", "override", _do_clear_override),
        methods=["POST"],
    ),
    Route(_PREFIX + "/notes", _action("note", "note", _do_note), methods=["POST"]),
    Route(_PREFIX + "/reply", _action("reply", "reply", _do_reply), methods=["POST"]),
    Route(_PREFIX + "/merge", _action("merge", "merge", _do_merge), methods=["POST"]),
]
