"""Accounts, for admins: add, disable, reset the second factor, unlock."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
