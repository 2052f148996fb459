"""Accounts, for admins: add, disable, enable, reset the second factor, unlock.

Every change is written to the audit trail as ``user_change`` with the user's id and a
word of ours naming the change. Disabling a user or resetting their second factor ends
their sessions at once (hotline.accounts does it in the same transaction).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hotline import accounts
from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.sessions import Principal
from web.dashboard.core import dashboard, refuse, render, signed_in

USERS = "/dashboard/users"

Change = Callable[[AsyncEngine, int], Awaitable[None]]
CHANGES: dict[str, Change] = {
    "disable": accounts.disable_user,
    "enable": accounts.enable_user,
    "reset-2fa": accounts.reset_second_factor,
    "unlock": accounts.unlock_user,
}
# What the audit trail calls each change.
AUDIT_WORDS = {
    "disable": "disable",
    "enable": "enable",
    "reset-2fa": "reset_2fa",
    "unlock": "unlock",
}


async def users_page(
    request: Request,
    user: Principal,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    state = dashboard(request)
    return render(
        request,
        "dashboard/users.html",
        {
            "accounts": await accounts.list_users(state.engine),
            "roles": accounts.ROLES,
            "min_password": accounts.MIN_PASSWORD,
            "now": datetime.now(UTC),
            "error": error,
            "form": form or {"username": "", "role": "dispatcher"},
        },
        user=user,
        status_code=status_code,
    )


@signed_in("admin")
async def users_list(request: Request, user: Principal) -> Response:
    if request.method != "POST":
        return await users_page(request, user)
    state = dashboard(request)
    form = await request.form()
    username = form.get("username")
    role = form.get("role")
    password = form.get("password")
    if not (isinstance(username, str) and isinstance(role, str) and isinstance(password, str)):
        return await users_page(request, user, error="Fill in every field.", status_code=400)
    username = username.strip()
    kept = {"username": username[:64], "role": role if role in accounts.ROLES else "dispatcher"}
    try:
        user_id = await accounts.add_user(
            state.engine,
            username,
            password,
            role,  # type: ignore[arg-type]  # add_user refuses an unknown role
        )
    except InvalidInputError:
        message = (
            "Check the details: a username is 1-64 letters, digits, '.', '-' or '_', and a "
            f"temporary password has at least {accounts.MIN_PASSWORD} characters."
        )
        return await users_page(request, user, error=message, form=kept, status_code=400)
    except ConflictError:
        return await users_page(
            request, user, error="That username is taken.", form=kept, status_code=409
        )
    await state.audit(
        user, "user_change", detail={"user_id": user_id, "change": "add", "role": kept["role"]}
    )
    return RedirectResponse(USERS, status_code=303)


def change_endpoint(change: str) -> Callable[[Request], Awaitable[Response]]:
    apply = CHANGES[change]

    async def change_user(request: Request, user: Principal) -> Response:
        state = dashboard(request)
        user_id: int = request.path_params["user_id"]
        if change in ("disable", "reset-2fa") and user_id == user.user_id:
            return refuse(
                request,
                409,
                "You cannot do that to your own account here; ask another admin.",
                user=user,
            )
        try:
            await apply(state.engine, user_id)
        except NotFoundError:
            return refuse(request, 404, "There is no such user.", user=user)
        await state.audit(
            user, "user_change", detail={"user_id": user_id, "change": AUDIT_WORDS[change]}
        )
        return RedirectResponse(USERS, status_code=303)

    change_user.__name__ = f"user_{AUDIT_WORDS[change]}"
    return signed_in("admin")(change_user)


routes: list[BaseRoute] = [
    Route(USERS, users_list, methods=["GET", "POST"]),
    *(
        Route(f"{USERS}/{{user_id:int}}/{change}", change_endpoint(change), methods=["POST"])
        for change in CHANGES
    ),
]
