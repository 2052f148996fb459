"""Every dashboard route, gathered from the modules that own them."""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.dashboard import exports, queue, referrals, rota, signin, stats, tips, users


def all_routes() -> list[BaseRoute]:
    return [
        *signin.routes,
        *queue.routes,
        *tips.routes,
        *referrals.routes,
        *stats.routes,
        *exports.routes,
        *users.routes,
        *rota.routes,
    ]
