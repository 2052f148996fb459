"""The referral directory: partner services, kept by admins, attached to tips."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
