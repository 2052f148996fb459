"""The queue: open tips by urgency then age, filters, pages, and live updates (SSE)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
