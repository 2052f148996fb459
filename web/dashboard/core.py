"""What every dashboard route shares: its state, templates, the session cookie, CSRF, roles.

Routes are written as ``@signed_in("dispatcher")`` endpoints taking ``(request, user)``:
the decorator finds the session, refuses a POST without this session's CSRF token (403),
sends a visitor without a full session to the sign-in page, and refuses a user whose role
is below the one named (403).
"""

from __future__ import annotations

import base64
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jinja2
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hotline import audit
from hotline.commits import GroupCommitter
from hotline.keys import KeyedHash
from hotline.seal import Opener, Sealer
from hotline.sessions import Principal, SessionStore
from hotline.settings import Settings
from web.i18n import TEMPLATES

SESSION_COOKIE = "hotline_session"
COOKIE_PATH = "/dashboard"
LOGIN_PATH = "/dashboard/login"
CSRF_FIELD = "csrf"

# Each role can do what the roles before it can.
ROLE_LEVEL = {"dispatcher": 1, "supervisor": 2, "admin": 3}

Endpoint = Callable[[Request, Principal], Awaitable[Response]]
Guarded = Callable[[Request], Awaitable[Response]]


class ForbiddenError(Exception):
    """The signed-in user's role may not do this."""


@dataclass
class Dashboard:
    """The dashboard role's state; built by the app factory, found on ``app.state``."""

    settings: Settings
    engine: AsyncEngine
    sealer: Sealer
    opener: Opener
    hasher: KeyedHash
    committer: GroupCommitter
    sessions: SessionStore
    templates: jinja2.Environment
    # Extra per-request data other modules hang here (the SSE broker, the SMS delivery …).
    extras: dict[str, Any] = field(default_factory=dict)

    async def audit(
        self,
        user: Principal,
        action: str,
        *,
        tip_id: uuid.UUID | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        return await audit.record(
            self.engine,
            self.hasher,
            actor=audit.Actor(user.user_id, user.username),
            action=action,
            tip_id=tip_id,
            detail=detail,
        )


def dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard  # type: ignore[no-any-return]


def build_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template: tip text is written by anyone, attackers too
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ago"] = format_age
    return env


def format_age(then: datetime, now: datetime | None = None) -> str:
    """``3 min``, ``2 h 05 min``, ``4 d 3 h``: how long ago, for people scanning a queue."""
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"


# --- the cookie: a random token and its signature under the hash key -------------------


def sign_token(hasher: KeyedHash, token: str) -> str:
    mac = hasher.digest("dashboard-session", token)
    return f"{token}.{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def unsign_token(hasher: KeyedHash, value: str) -> str | None:
    token, _, signature = value.rpartition(".")
    if not token or not signature:
        return None
    expected = sign_token(hasher, token).rpartition(".")[2]
    return token if hmac.compare_digest(signature, expected) else None


def set_session_cookie(response: Response, hasher: KeyedHash, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        sign_token(hasher, token),
        path=COOKIE_PATH,
        httponly=True,
        secure=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, secure=True, samesite="strict"
    )


async def find_principal(request: Request) -> Principal | None:
    """The session behind the request's cookie, at whatever stage; ``None`` without one."""
    cached = request.scope.get("hotline.principal")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    state = dashboard(request)
    token = unsign_token(state.hasher, value)
    if token is None:
        return None
    principal = await state.sessions.find(token)
    request.scope["hotline.principal"] = principal
    return principal


# --- CSRF: a token bound to the session ---------------------------------------------


def csrf_token(hasher: KeyedHash, token_hash: bytes) -> str:
    return base64.urlsafe_b64encode(hasher.digest("csrf", token_hash)).decode("ascii").rstrip("=")


def csrf_valid(hasher: KeyedHash, token_hash: bytes, presented: object) -> bool:
    return isinstance(presented, str) and hmac.compare_digest(
        presented.encode("ascii", "replace"), csrf_token(hasher, token_hash).encode("ascii")
    )


async def form_csrf_valid(request: Request, principal: Principal) -> bool:
    """Whether the POST carries this session's token (form field or ``X-CSRF-Token``)."""
    presented: object = request.headers.get("x-csrf-token")
    if presented is None:
        form = await request.form()
        presented = form.get(CSRF_FIELD)
    return csrf_valid(dashboard(request).hasher, principal.token_hash, presented)


def role_allows(role: str, minimum: str) -> bool:
    return ROLE_LEVEL.get(role, 0) >= ROLE_LEVEL[minimum]


def signed_in(minimum: str = "dispatcher") -> Callable[[Endpoint], Guarded]:
    """Guard an endpoint: a full session, this session's CSRF token on POST, a role."""
    if minimum not in ROLE_LEVEL:
        raise ValueError(f"unknown role {minimum!r}")

    def wrap(endpoint: Endpoint) -> Guarded:
        async def guarded(request: Request) -> Response:
            principal = await find_principal(request)
            if principal is None or principal.stage != "full":
                if request.method == "POST":
                    return refuse(request, 403, "Your session has ended. Sign in again.")
                return RedirectResponse(LOGIN_PATH, status_code=303)
            if request.method == "POST" and not await form_csrf_valid(request, principal):
                return refuse(request, 403, "This form has expired. Reload the page and try again.")
            if not role_allows(principal.role, minimum):
                return refuse(request, 403, "Your role cannot open this page.", user=principal)
            return await endpoint(request, principal)

        guarded.__name__ = endpoint.__name__
        guarded.__doc__ = endpoint.__doc__
        # Tests walk the routes and check each guard (CSRF, roles) by this mark.
        guarded.hotline_minimum_role = minimum  # type: ignore[attr-defined]
        return guarded

    return wrap


# --- rendering --------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    user: Principal | None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a dashboard template with what every page needs (user, CSRF, nonce, nav)."""
    state = dashboard(request)
    page = {
        "request": request,
        "user": user,
        "csrf": csrf_token(state.hasher, user.token_hash) if user is not None else "",
        "csrf_field": CSRF_FIELD,
        "nonce": request.scope.get("state", {}).get("csp_nonce", ""),
        "can": (lambda minimum: user is not None and role_allows(user.role, minimum)),
        "path": request.url.path,
        **context,
    }
    html = state.templates.get_template(template).render(page)
    return HTMLResponse(html, status_code=status_code)


def refuse(
    request: Request, status_code: int, message: str, *, user: Principal | None = None
) -> HTMLResponse:
    return render(
        request,
        "dashboard/refused.html",
        {"status_code": status_code, "message": message},
        user=user,
        status_code=status_code,
    )
