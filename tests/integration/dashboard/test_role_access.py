"""Each dashboard route lets in only the roles its guard names, and nobody without a session.

The routes come from the live app and their guards' marks (``hotline_minimum_role``), so
routes added later are held to the same rules without editing this file.
"""

from __future__ import annotations

import httpx

from tests.conftest import CLIENT_ADDRESS
from tests.dashboard_helpers import sign_in, walk
from web.app import HotlineApp
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE, sign_token

# The sign-in pages are the only dashboard routes without the guard: they check their own
# stage (no session, or a password-stage one) and CSRF token.
SIGN_IN_PAGES = {"/dashboard/login", "/dashboard/enrol", "/dashboard/totp"}
BELOW = {"admin": ("dispatcher", "supervisor"), "supervisor": ("dispatcher",)}


def dashboard_routes(app: HotlineApp) -> list[tuple[str, str, str | None]]:
    """(method, path, minimum role) for every GET and POST route under /dashboard."""
    found = []
    for path, route in walk(app.routes):
        if not path.startswith("/dashboard"):
            continue
        minimum = getattr(route.endpoint, "hotline_minimum_role", None)
        found.extend(
            (method, path, minimum) for method in ("GET", "POST") if method in (route.methods or ())
        )
    return sorted(found, key=lambda item: (item[1], item[0]))


def board(app: HotlineApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_every_dashboard_route_is_guarded_except_the_sign_in_pages(
    app: HotlineApp,
) -> None:
    routes = dashboard_routes(app)
    assert any(minimum == "admin" for _m, _p, minimum in routes)
    unguarded = {path for _method, path, minimum in routes if minimum is None}
    assert unguarded == SIGN_IN_PAGES


async def test_roles_below_a_routes_minimum_are_refused_on_get_and_on_post(
    app: HotlineApp,
) -> None:
    routes = [item for item in dashboard_routes(app) if item[2] in BELOW]
    assert any(path == "/dashboard/users" for _m, path, _r in routes)
    let_in: list[str] = []
    async with board(app) as dispatcher_client, board(app) as supervisor_client:
        people = {
            "dispatcher": (
                dispatcher_client,
                await sign_in(app, dispatcher_client, role="dispatcher"),
            ),
            "supervisor": (
                supervisor_client,
                await sign_in(app, supervisor_client, role="supervisor"),
            ),
        }
        for method, path, minimum in routes:
            assert minimum is not None
            for role in BELOW[minimum]:
                client, who = people[role]
                if method == "GET":
                    answer = await client.get(path)
                else:
                    answer = await client.post(path, data={"csrf": who.csrf})
                if answer.status_code != 403:
                    let_in.append(f"{method} {path} as {role}: {answer.status_code}")
    assert not let_in, "\n".join(let_in)


async def test_a_visitor_without_a_session_is_sent_to_sign_in_and_cannot_post(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    wrong: list[str] = []
    for method, path, minimum in dashboard_routes(app):
        if minimum is None:
            continue
        if method == "GET":
            answer = await board_client.get(path)
            if answer.status_code != 303 or answer.headers.get("location") != "/dashboard/login":
                wrong.append(f"GET {path}: {answer.status_code}")
        else:
            answer = await board_client.post(path, data={"csrf": "anything"})
            if answer.status_code != 403:
                wrong.append(f"POST {path}: {answer.status_code}")
    assert not wrong, "\n".join(wrong)


async def test_a_password_stage_session_opens_no_guarded_page(
    app: HotlineApp, board_client: httpx.AsyncClient
) -> None:
    """Half signed in (password right, no second factor yet) is not signed in."""
    who = await sign_in(app, board_client, role="admin")
    state = app.state.dashboard
    token = await state.sessions.create(who.user_id, "password")
    board_client.cookies.set(
        SESSION_COOKIE,
        sign_token(state.hasher, token),
        domain="testserver.local",
        path=COOKIE_PATH,
    )
    wrong: list[str] = []
    for method, path, minimum in dashboard_routes(app):
        if minimum is None or method != "GET":
            continue
        answer = await board_client.get(path)
        if answer.status_code != 303 or answer.headers.get("location") != "/dashboard/login":
            wrong.append(f"GET {path}: {answer.status_code}")
    assert not wrong, "\n".join(wrong)
