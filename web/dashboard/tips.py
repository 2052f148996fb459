"""One tip: the audited view, and what a dispatcher does with it."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
