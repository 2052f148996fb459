"""Sign-in: password, TOTP enrolment and codes, recovery codes, lockout, sign-out."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
