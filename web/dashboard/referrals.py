"""The referral directory: partner services, kept by admins, attached to tips."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.routing import BaseRoute

from web.dashboard.core import Dashboard

routes: list[BaseRoute] = []


async def tip_panel(state: Dashboard, tip_id: uuid.UUID) -> dict[str, Any]:
    """Context for ``dashboard/_tip_referrals.html`` on the tip view."""
    return {"tip_id": tip_id, "attached_referrals": [], "referral_choices": []}
