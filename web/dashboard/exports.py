"""Hand-off: one tip, decrypted, as a PDF or a JSON bundle; every export audited."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
