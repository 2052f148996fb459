"""Sign-in: password, TOTP enrolment and codes, recovery codes, lockout, sign-out.

The password form has no session to bind its CSRF token to, so the first visit sets a
random ``hotline_login`` cookie and the form carries a keyed hash of it. A right password
opens a session at stage ``password``; only the enrolment and TOTP pages accept that
stage, and they check it (and the session's CSRF token) themselves. A right second factor
replaces it with a ``full`` session under a new token.

Wrong passwords and codes lock the account after a few in a row (hotline.accounts); and
a global bucket of failures, shared by every account, answers 429 to everyone once a
flood has emptied it. Neither needs to know who is asking.
"""

from __future__ import annotations

import base64
import hmac
import secrets

import segno
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hotline import accounts
from hotline.sessions import Principal
from web.dashboard.core import (
    COOKIE_PATH,
    Dashboard,
    clear_session_cookie,
    dashboard,
    find_principal,
    form_csrf_valid,
    refuse,
    render,
    set_session_cookie,
    signed_in,
)
from web.limits import TokenBucket

LOGIN_COOKIE = "hotline_login"
LOGIN_CSRF_FIELD = "login_csrf"
HOME = "/dashboard/"
LOGIN = "/dashboard/login"
ENROL = "/dashboard/enrol"
TOTP = "/dashboard/totp"
FAILURES_BUCKET = "login_failures"

WRONG = "That username and password do not match an account."
WRONG_CODE = "That code is not right, or it was used already. Try the next code."
LOCKED = (
    "This account is locked after too many wrong attempts. "
    "Ask an admin to unlock it, or try again later."
)
DISABLED = "This account is disabled. Ask an admin if you need it back."
FLOODED = "There have been too many failed sign-ins just now. Wait a few minutes and try again."
EXPIRED = "This sign-in has expired. Start again from the sign-in page."


def failures_bucket(state: Dashboard) -> TokenBucket:
    """Failed sign-ins across every account; made on first use, one per process."""
    bucket = state.extras.get(FAILURES_BUCKET)
    if not isinstance(bucket, TokenBucket):
        per_minute = state.settings.login_failures_per_minute
        bucket = TokenBucket(per_minute=per_minute, burst=per_minute)
        state.extras[FAILURES_BUCKET] = bucket
    return bucket


def lockout(state: Dashboard) -> accounts.Lockout:
    return accounts.Lockout(
        after=state.settings.login_lock_after, minutes=state.settings.login_lock_minutes
    )


# --- the password form's CSRF: a cookie and its keyed hash ------------------------------


def login_token(state: Dashboard, cookie: str) -> str:
    digest = state.hasher.digest("login-csrf", cookie)
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def login_csrf_valid(request: Request, presented: object) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not isinstance(presented, str):
        return False
    expected = login_token(dashboard(request), cookie)
    return hmac.compare_digest(presented.encode("ascii", "replace"), expected.encode("ascii"))


def set_login_cookie(response: Response, value: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE, value, path=COOKIE_PATH, httponly=True, secure=True, samesite="strict"
    )


def login_form(
    request: Request, *, username: str = "", error: str = "", status_code: int = 200
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE)
    fresh = not cookie or len(cookie) != 43  # token_urlsafe(32) is 43 characters
    if fresh:
        cookie = secrets.token_urlsafe(32)
    assert cookie is not None  # noqa: S101 - set just above
    response = render(
        request,
        "dashboard/signin_login.html",
        {
            "login_csrf": login_token(dashboard(request), cookie),
            "login_csrf_field": LOGIN_CSRF_FIELD,
            "username": username,
            "error": error,
        },
        user=None,
        status_code=status_code,
    )
    if fresh:
        set_login_cookie(response, cookie)
    return response


async def login(request: Request) -> Response:
    if request.method != "POST":
        principal = await find_principal(request)
        if principal is not None and principal.stage == "full":
            return RedirectResponse(HOME, status_code=303)
        return login_form(request)
    state = dashboard(request)
    form = await request.form()
    if not login_csrf_valid(request, form.get(LOGIN_CSRF_FIELD)):
        return refuse(request, 403, "This form has expired. Reload the page and try again.")
    bucket = failures_bucket(state)
    if bucket.empty():
        return refuse(request, 429, FLOODED)
    username = form.get("username")
    password = form.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return login_form(request, error=WRONG, status_code=400)
    username = username.strip()[:64]
    check = await accounts.check_password(state.engine, username, password, lockout=lockout(state))
    if check.outcome == "wrong":
        bucket.take()
        return login_form(request, username=username, error=WRONG, status_code=400)
    if check.outcome == "locked":
        return login_form(request, username=username, error=LOCKED, status_code=403)
    if check.outcome == "disabled" or check.user_id is None:
        return login_form(request, username=username, error=DISABLED, status_code=403)
    earlier = await find_principal(request)
    if earlier is not None:
        await state.sessions.revoke(earlier.token_hash)
    token = await state.sessions.create(check.user_id, "password")
    account = await accounts.get_user(state.engine, check.user_id)
    response = RedirectResponse(TOTP if account.enrolled else ENROL, status_code=303)
    set_session_cookie(response, state.hasher, token)
    response.delete_cookie(
        LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, secure=True, samesite="strict"
    )
    return response


# --- the second step: a session at stage "password" --------------------------------------


async def pending(request: Request) -> Principal | Response:
    """The request's password-stage session, CSRF checked on POST; or the answer to give."""
    principal = await find_principal(request)
    if principal is None or principal.stage != "password":
        if request.method == "POST":
            return refuse(request, 403, EXPIRED)
        return RedirectResponse(HOME if principal is not None else LOGIN, status_code=303)
    if request.method == "POST" and not await form_csrf_valid(request, principal):
        return refuse(request, 403, "This form has expired. Reload the page and try again.")
    return principal


async def full_principal(request: Request, token: str) -> Principal:
    principal = await dashboard(request).sessions.find(token)
    assert principal is not None  # noqa: S101 - made a moment ago
    return principal


def locked_out(request: Request) -> Response:
    """End a half-made sign-in whose account got locked, and say so calmly."""
    response = render(
        request,
        "dashboard/signin_locked.html",
        {"message": LOCKED},
        user=None,
        status_code=403,
    )
    clear_session_cookie(response)
    return response


def qr_data_uri(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


async def enrol_page(
    request: Request, principal: Principal, *, error: str = "", status_code: int = 200
) -> Response:
    state = dashboard(request)
    secret = await accounts.begin_enrolment(
        state.engine, state.sealer, state.opener, principal.user_id
    )
    uri = accounts.provisioning_uri(secret, principal.username)
    return render(
        request,
        "dashboard/signin_enrol.html",
        {
            "qr": qr_data_uri(uri),
            "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
            "error": error,
        },
        user=principal,
        status_code=status_code,
    )


async def enrol(request: Request) -> Response:
    found = await pending(request)
    if not isinstance(found, Principal):
        return found
    principal = found
    if principal.totp_confirmed:
        return RedirectResponse(TOTP, status_code=303)
    if request.method != "POST":
        return await enrol_page(request, principal)
    state = dashboard(request)
    form = await request.form()
    code = form.get("code")
    codes = (
        await accounts.confirm_enrolment(state.engine, state.opener, principal.user_id, code)
        if isinstance(code, str)
        else None
    )
    if codes is None:
        return await enrol_page(
            request,
            principal,
            error="That code is not right. Check the time on your phone and try the next code.",
            status_code=400,
        )
    token = await state.sessions.promote(principal)
    signed = await full_principal(request, token)
    await state.audit(signed, "sign_in")
    response = render(request, "dashboard/signin_codes.html", {"codes": codes}, user=signed)
    set_session_cookie(response, state.hasher, token)
    return response


async def totp(request: Request) -> Response:
    found = await pending(request)
    if not isinstance(found, Principal):
        return found
    principal = found
    if not principal.totp_confirmed:
        return RedirectResponse(ENROL, status_code=303)
    if request.method != "POST":
        return render(request, "dashboard/signin_totp.html", {"error": ""}, user=principal)
    state = dashboard(request)
    bucket = failures_bucket(state)
    if bucket.empty():
        return refuse(request, 429, FLOODED)
    account = await accounts.get_user(state.engine, principal.user_id)
    if account.locked():
        await state.sessions.revoke(principal.token_hash)
        return locked_out(request)
    form = await request.form()
    code = form.get("code")
    if isinstance(code, str) and await accounts.verify_second_factor(
        state.engine, state.opener, principal.user_id, code
    ):
        token = await state.sessions.promote(principal)
        signed = await full_principal(request, token)
        await accounts.record_sign_in(state.engine, principal.user_id)
        await state.audit(signed, "sign_in")
        response = RedirectResponse(HOME, status_code=303)
        set_session_cookie(response, state.hasher, token)
        return response
    bucket.take()
    if await accounts.record_failure(state.engine, principal.user_id, lockout=lockout(state)):
        await state.sessions.revoke(principal.token_hash)
        return locked_out(request)
    return render(
        request,
        "dashboard/signin_totp.html",
        {"error": WRONG_CODE},
        user=principal,
        status_code=400,
    )


@signed_in("dispatcher")
async def logout(request: Request, user: Principal) -> Response:
    state = dashboard(request)
    await state.audit(user, "sign_out")
    await state.sessions.revoke(user.token_hash)
    response = RedirectResponse(LOGIN, status_code=303)
    clear_session_cookie(response)
    return response


routes: list[BaseRoute] = [
    Route("/dashboard/login", login, methods=["GET", "POST"]),
    Route("/dashboard/enrol", enrol, methods=["GET", "POST"]),
    Route("/dashboard/totp", totp, methods=["GET", "POST"]),
    Route("/dashboard/logout", logout, methods=["POST"]),
]
