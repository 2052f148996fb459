"""Statistics for supervisors: server-drawn SVG charts and CSV aggregates."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
