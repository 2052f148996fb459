"""Signing in to the dashboard in tests, without walking the sign-in pages every time.

``sign_in`` makes a user whose second factor is already confirmed and opens a full session
for it, exactly as the sign-in flow leaves one; the sign-in flow has its own tests.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.routing import BaseRoute, Mount, Route

from hotline.accounts import add_user
from hotline.sessions import token_digest
from hotline.tables import users
from web.app import HotlineApp
from web.dashboard.core import COOKIE_PATH, SESSION_COOKIE, csrf_token, sign_token

PASSWORD = "correct horse battery staple"
# A cheap argon2id for accounts the tests make in bulk; the sign-in tests use the real cost.
CHEAP_PASSWORDS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')
PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?}")


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    username: str
    role: str
    csrf: str


async def sign_in(
    app: HotlineApp, client: httpx.AsyncClient, *, role: str = "dispatcher", username: str = ""
) -> SignedIn:
    """Create a ``role`` user with 2FA done, and give ``client`` a full session of theirs."""
    board = app.state.dashboard
    username = username or f"{role}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    user_id = await add_user(
        board.engine,
        username,
        PASSWORD,
        role,  # type: ignore[arg-type]
        hasher=CHEAP_PASSWORDS,
    )
    async with board.engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(totp_confirmed_at=datetime.now(UTC))
        )
    token = await board.sessions.create(user_id, "full")
    host = httpx.URL(str(client.base_url)).host
    # The standard cookie jar files a dotless host's cookies under "<host>.local".
    domain = host if "." in host else f"{host}.local"
    client.cookies.set(
        SESSION_COOKIE, sign_token(board.hasher, token), domain=domain, path=COOKIE_PATH
    )
    return SignedIn(user_id, username, role, csrf_token(board.hasher, token_digest(token)))


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a dashboard page put in its forms."""
    found = CSRF_INPUT.search(page.text)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


# --- the live route list, for tests that hold every route to one rule -------------------


def fill(path: str, convertors: Mapping[str, Convertor[Any]]) -> str:
    """``path`` with each parameter filled with a value its convertor accepts."""

    def value(match: re.Match[str]) -> str:
        convertor = convertors.get(match.group(1))
        if isinstance(convertor, UUIDConvertor):
            return str(uuid.uuid4())
        if isinstance(convertor, IntegerConvertor):
            return str(10_000 + secrets.randbelow(10**6))
        if isinstance(convertor, FloatConvertor):
            return "1.5"
        return "x"

    return PARAM.sub(value, path)


def walk(
    routes: list[BaseRoute],
    prefix: str = "",
    convertors: Mapping[str, Convertor[Any]] | None = None,
) -> Iterator[tuple[str, Route]]:
    """Every ``Route`` under ``routes``, through Mounts, with a concrete path."""
    for route in routes:
        if isinstance(route, Mount):
            inner = {**(convertors or {}), **route.param_convertors}
            yield from walk(route.routes, prefix + route.path, inner)
        elif isinstance(route, Route):
            path = prefix + route.path
            yield fill(path, {**(convertors or {}), **route.param_convertors}), route
