"""The queue: open tips by urgency then age, filters, pages, and live updates (SSE).

The queue shows clear columns only: it opens nothing sealed, so it writes no audit entry.
Live updates: one broadcaster per process polls a cheap change stamp about once a second
and wakes every open ``/dashboard/events`` stream, which tells its browser to re-fetch
the rows (``?fragment=rows``) and the alerts (``?fragment=alerts``).

Above the table: every escalating page chain and the nobody-reachable banner
(:mod:`web.dashboard.alerts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from hotline import logs
from hotline.sessions import Principal
from hotline.verdict import URGENCIES
from hotline.worklist import (
    CHANNELS,
    OPEN_STATUSES,
    Cursor,
    CursorError,
    QueueFilter,
    QueueTip,
    count_open_by_urgency,
    list_open_tips,
    read_change_stamp,
)
from web.dashboard.alerts import alerts_context
from web.dashboard.core import Dashboard, dashboard, format_age, render, signed_in

log = logs.get_logger(__name__)

BROADCASTER_KEY = "queue_broadcaster"
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
STATUS_LABELS = {
    "new": "New",
    "in_progress": "In progress",
    "referred": "Referred",
    "escalated": "Escalated",
}
HOLDERS = {"anyone": "Anyone", "me": "Me", "unclaimed": "Unclaimed"}


# --- what the page shows --------------------------------------------------------------


@functools.cache
def indicator_labels() -> Mapping[str, str]:
    """Rule id → the label a dispatcher reads, from the shipped rules (built once)."""
    from triage.engine import shipped_engine

    rules = shipped_engine().rules
    labels = {rule.id: rule.label for rule in rules.rules}
    labels.update({override.id: override.label for override in rules.overrides})
    return labels


@functools.cache
def categories() -> tuple[str, ...]:
    from triage.engine import shipped_engine

    return tuple(sorted({r.category for r in shipped_engine().rules.rules if r.category}))


def format_minutes(minutes: int) -> str:
    """``5 min``, ``4 h``, ``1 d``, ``1 h 30 min``: a target, for people scanning a queue."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(part for part in parts if part) or "0 min"


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A queue tip, with what the template shows worked out."""

    tip: QueueTip
    indicators: tuple[str, ...]
    age: str
    target: str
    overdue: bool


def present(tip: QueueTip, *, targets: Mapping[str, int], now: datetime) -> QueueRow:
    target_minutes = targets.get(tip.urgency, targets["low"])
    waited = (now - tip.created_at).total_seconds() / 60
    labels = indicator_labels()
    return QueueRow(
        tip=tip,
        indicators=tuple(labels.get(rule_id, rule_id) for rule_id in tip.indicator_ids),
        age=format_age(tip.created_at, now),
        target=format_minutes(target_minutes),
        overdue=tip.claimed_by is None and waited > target_minutes,
    )


def read_filter(request: Request) -> QueueFilter:
    """The filters in the query string; a value that is not one of the choices is ignored."""
    params = request.query_params
    settings = dashboard(request).settings

    def choice(name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
        value = params.get(name, "")
        return value if value in allowed else None

    holder = params.get("holder", "anyone")
    return QueueFilter(
        urgency=choice("urgency", URGENCIES),
        status=choice("status", OPEN_STATUSES),
        channel=choice("channel", CHANNELS),
        category=choice("category", categories()),
        lang=choice("lang", list(settings.language_codes)),
        holder=holder if holder in HOLDERS else "anyone",  # type: ignore[arg-type]
        minors_only=params.get("minors") == "1",
    )


def filter_params(queue_filter: QueueFilter) -> dict[str, str]:
    values = {
        "urgency": queue_filter.urgency or "",
        "status": queue_filter.status or "",
        "channel": queue_filter.channel or "",
        "category": queue_filter.category or "",
        "lang": queue_filter.lang or "",
        "holder": "" if queue_filter.holder == "anyone" else queue_filter.holder,
        "minors": "1" if queue_filter.minors_only else "",
    }
    return {name: value for name, value in values.items() if value}


def queue_url(params: Mapping[str, str]) -> str:
    return f"/dashboard/?{urlencode(params)}" if params else "/dashboard/"


@signed_in("dispatcher")
async def queue_page(request: Request, user: Principal) -> Response:
    """The open queue, a page at a time. Reads no sealed column; writes no audit entry."""
    state = dashboard(request)
    fragment = request.query_params.get("fragment")
    if fragment == "alerts":
        alerts = await alerts_context(state.engine, datetime.now(UTC))
        response = render(request, "dashboard/_queue_alerts.html", alerts, user=user)
        response.headers["Cache-Control"] = "no-store"
        return response
    queue_filter = read_filter(request)
    cursor_text = request.query_params.get("after", "")
    try:
        after = Cursor.decode(cursor_text) if cursor_text else None
    except CursorError:
        after, cursor_text = None, ""
    page = await list_open_tips(
        state.engine,
        queue_filter,
        user_id=user.user_id,
        after=after,
        limit=state.settings.dashboard_page_size,
    )
    totals = await count_open_by_urgency(state.engine)
    now = datetime.now(UTC)
    params = filter_params(queue_filter)
    context: dict[str, Any] = {
        "rows": [
            present(tip, targets=state.settings.urgency_targets, now=now) for tip in page.tips
        ],
        "totals": totals,
        "open_total": sum(totals.values()),
        "status_labels": STATUS_LABELS,
    }
    if fragment == "rows":
        response = render(request, "dashboard/_queue_rows.html", context, user=user)
    else:
        context |= await alerts_context(state.engine, now)
        broadcaster = state.extras.get(BROADCASTER_KEY)
        context |= {
            "filter": queue_filter,
            "urgencies": URGENCIES,
            "statuses": OPEN_STATUSES,
            "channels": CHANNELS,
            "categories": categories(),
            "languages": state.settings.language_codes,
            "holders": HOLDERS,
            "first_url": queue_url(params),
            "this_url": queue_url({**params, "after": cursor_text} if cursor_text else params),
            "next_url": (
                queue_url({**params, "after": page.next_cursor.encode()})
                if page.next_cursor is not None
                else None
            ),
            "stamp": broadcaster.stamp if isinstance(broadcaster, Broadcaster) else "",
            "paged": after is not None,
        }
        response = render(request, "dashboard/queue.html", context, user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- live updates -----------------------------------------------------------------------


class Broadcaster:
    """Polls the queue's change stamp while anyone listens; wakes every listener on change.

    Started by the first listener, it stops by itself once the last one has gone, so no
    task outlives the streams. ``close()`` ends every stream (the app shutting down).
    """

    def __init__(self, engine: AsyncEngine, *, interval: float = POLL_SECONDS) -> None:
        self._engine = engine
        self._interval = interval
        self._listeners = 0
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.stamp = ""

    @property
    def running(self) -> bool:
        """Whether the polling task is alive."""
        return self._task is not None and not self._task.done()

    async def wait_stopped(self) -> None:
        """Until the polling task has ended (the last listener gone, or closed)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    @contextlib.asynccontextmanager
    async def listening(self) -> Any:
        self._listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        try:
            yield self
        finally:
            self._listeners -= 1
            if self._listeners == 0:
                self._wake.set()

    async def wait_change(self, seen: str, within: float) -> str:
        """The stamp once it differs from ``seen`` (or after ``within`` seconds, unchanged)."""
        with anyio.move_on_after(within):
            while self.stamp == seen and not self.closed:
                await self._changed.wait()
        return self.stamp

    async def _poll(self) -> None:
        while self._listeners > 0 and not self.closed:
            try:
                stamp = await read_change_stamp(self._engine)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: try again next tick
                log.warning("queue_poll_failed", status=type(exc).__name__)
            else:
                if stamp != self.stamp:
                    self.stamp = stamp
                    self._notify()
            self._wake.clear()
            with anyio.move_on_after(self._interval):
                await self._wake.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def close(self) -> None:
        """End every stream now and stop polling."""
        self.closed = True
        self._notify()
        self._wake.set()
        if self._task is not None:
            await self._task


def broadcaster_of(request: Request) -> Broadcaster:
    state = dashboard(request)
    found = state.extras.get(BROADCASTER_KEY)
    if not isinstance(found, Broadcaster):
        found = state.extras[BROADCASTER_KEY] = Broadcaster(state.engine)
    return found


class EventStream(Response):
    """``text/event-stream`` of ``queue`` events; ends when the client goes away."""

    media_type = "text/event-stream"

    def __init__(self, broadcaster: Broadcaster, *, keepalive: float = KEEPALIVE_SECONDS) -> None:
        # Not Response.__init__: it would announce a Content-Length of 0.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # a reverse proxy must not buffer the stream
        ]
        self._broadcaster = broadcaster
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            with contextlib.suppress(OSError):  # the client went away while we wrote
                await self._stream(send)
            group.cancel_scope.cancel()

    async def _stream(self, send: Send) -> None:
        async def write(text: str) -> None:
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

        async with self._broadcaster.listening() as broadcaster:
            await write("retry: 3000\n\n")
            seen = ""
            while not broadcaster.closed:
                stamp = await broadcaster.wait_change(seen, self._keepalive)
                if broadcaster.closed:
                    break
                if stamp != seen:
                    seen = stamp
                    await write(f"event: queue\ndata: {stamp}\n\n")
                else:
                    await write(": keep-alive\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def end_streams(board: Dashboard) -> None:
    """End every open event stream of this process, and its polling: the server stops.

    Call it when the server starts to shut down, *before* it waits for open connections
    (the app's lifespan shutdown comes after that wait, too late to end streams).
    """
    found = board.extras.get(BROADCASTER_KEY)
    if isinstance(found, Broadcaster):
        await found.close()


@signed_in("dispatcher")
async def queue_events(request: Request, user: Principal) -> Response:
    """Server-Sent Events: ``queue`` whenever the open queue may have changed."""
    return EventStream(broadcaster_of(request))


routes: list[BaseRoute] = [
    Route("/dashboard/", queue_page, methods=["GET"]),
    Route("/dashboard/events", queue_events, methods=["GET"]),
]
