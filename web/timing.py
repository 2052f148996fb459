"""Request latency for the internal metrics, labelled by route TEMPLATE, never the raw path.

``/dashboard/tips/{tip_id:uuid}`` is one time series for every tip; a path nobody routes
(a scanner's guesses) is ``unmatched``; a method we do not serve is ``other``. So nothing a
client sends becomes a label. The time is to the response's headers, so a live stream
counts as the moment it opened, not as how long it stayed open.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotline import metrics


def route_template(scope: Scope) -> str:
    """The template of the route the router matched, or ``unmatched``."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestTiming:
    """Observe each HTTP request's time to headers in ``hotline_request_seconds``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            if observed:
                return
            observed = True
            method = scope["method"] if scope["method"] in metrics.KNOWN_METHODS else "other"
            key = (route_template(scope), method, status // 100)
            child = self._children.get(key)
            if child is None:  # bounded: routes x methods x status classes
                child = metrics.REQUEST_SECONDS.labels(
                    route=key[0], method=method, status=f"{key[2]}xx"
                )
                self._children[key] = child
            child.observe(time.perf_counter() - started)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observe(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            observe(500)  # nothing was sent: the request failed before its headers
