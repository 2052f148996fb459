"""The on-call rota page, and each user's own pager number.

Everyone signed in sees who is on call now and the shifts of the next two weeks, with a
warning for a layer nobody holds and for a person who cannot be paged. Supervisors add and
remove shifts; each change is written to the audit trail as ``user_change`` with
``{"rota": "add"|"remove", "shift_id": …, "layer": …}``.

A pager number is registered by its owner only (admins set another user's on the command
line); it is stored sealed and hashed, and shown back masked, never in full.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hotline import accounts, rota
from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.sessions import Principal
from web.dashboard.core import dashboard, refuse, render, signed_in

ROTA = "/dashboard/rota"
PAGER = "/dashboard/pager"
AHEAD = timedelta(days=14)
USER_ID = re.compile(r"[0-9]{1,9}")
# What the page says back after a change (a word of ours in the redirect's query).
DONE = {"added": "The shift was added.", "removed": "The shift was removed."}
PAGER_DONE = {"saved": "Your pager number was saved.", "cleared": "Your pager number was removed."}


def _field(form: FormData, name: str, limit: int = 64) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def local_time(instant: datetime, zone: str) -> str:
    """``2026-12-02 06:00 CET`` in the shift's own zone."""
    return rota.in_zone(instant, zone).strftime("%Y-%m-%d %H:%M %Z")


def utc_time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- the rota ---------------------------------------------------------------------------


async def rota_page(
    request: Request,
    user: Principal,
    *,
    problem: str = "",
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    state = dashboard(request)
    now = datetime.now(UTC)
    layer = request.query_params.get("layer", "")
    layer = layer if layer in rota.LAYERS else ""
    on_call = await rota.on_call_now(state.engine, now)
    contacts = await rota.contact_states(state.engine)
    shifts = await rota.list_shifts(state.engine, now, now + AHEAD, layer=layer or None)
    active = [
        account for account in await accounts.list_users(state.engine) if not account.disabled
    ]
    in_force = {holder.shift_id for holder in on_call.values() if holder is not None}
    done = request.query_params.get("done", "")
    today = now.date().isoformat()
    return render(
        request,
        "dashboard/rota.html",
        {
            "layers": rota.LAYERS,
            "layer": layer,
            "on_call": on_call,
            # user id → opted out; a user missing here has no pager number
            "contacts": contacts,
            "shifts": shifts,
            "in_force": in_force,
            "users": active,
            "zones": rota.zone_names(),
            "local_time": local_time,
            "utc_time": utc_time,
            "notice": DONE.get(done, ""),
            "problem": problem,
            "form": form
            or {
                "layer": "primary",
                "user_id": "",
                "start_date": today,
                "start_time": "",
                "end_date": today,
                "end_time": "",
                "tz": "UTC",
                "override": False,
            },
        },
        user=user,
        status_code=status_code,
    )


@signed_in("dispatcher")
async def rota_view(request: Request, user: Principal) -> Response:
    """Who is on call now, per layer, and the shifts of the next 14 days."""
    return await rota_page(request, user)


def _parse_wall(day: str, clock: str) -> tuple[date, time]:
    try:
        return date.fromisoformat(day), time.fromisoformat(clock)
    except ValueError:
        raise InvalidInputError("write dates as YYYY-MM-DD and times as HH:MM") from None


@signed_in("supervisor")
async def rota_add(request: Request, user: Principal) -> Response:
    """Add a shift (supervisors): a layer, an active user, a start and an end in a zone."""
    state = dashboard(request)
    form = await request.form()
    kept: dict[str, Any] = {
        name: _field(form, name)
        for name in ("layer", "user_id", "start_date", "start_time", "end_date", "end_time", "tz")
    }
    kept["override"] = form.get("override") is not None
    kept["tz"] = kept["tz"] or "UTC"

    async def again(problem: str, status_code: int = 400) -> Response:
        return await rota_page(request, user, problem=problem, form=kept, status_code=status_code)

    if kept["layer"] not in rota.LAYERS:
        return await again("Choose a layer: primary, backup or supervisor.")
    if not USER_ID.fullmatch(kept["user_id"]):
        return await again("Choose who is on call.")
    try:
        zone = rota.check_zone(kept["tz"]).key
        start_day, start_clock = _parse_wall(kept["start_date"], kept["start_time"])
        end_day, end_clock = _parse_wall(kept["end_date"], kept["end_time"])
        shift_id = await rota.add_shift(
            state.engine,
            layer=kept["layer"],
            user_id=int(kept["user_id"]),
            starts_at=rota.local_to_utc(start_day, start_clock, zone),
            ends_at=rota.local_to_utc(end_day, end_clock, zone),
            tz=zone,
            override=kept["override"],
            created_by=user.user_id,
        )
    except NotFoundError:
        return await again("There is no such user.", 404)
    except InvalidInputError as exc:
        # The core's messages are ours: words, a validated zone, a parsed date and time.
        return await again(f"The shift was not added: {exc}.")
    await state.audit(
        user, "user_change", detail={"rota": "add", "shift_id": shift_id, "layer": kept["layer"]}
    )
    return RedirectResponse(f"{ROTA}?done=added", status_code=303)


@signed_in("supervisor")
async def rota_remove(request: Request, user: Principal) -> Response:
    """Remove a shift (supervisors)."""
    state = dashboard(request)
    shift_id: int = request.path_params["shift_id"]
    try:
        removed = await rota.remove_shift(state.engine, shift_id)
    except NotFoundError:
        return refuse(request, 404, "There is no such shift.", user=user)
    await state.audit(
        user, "user_change", detail={"rota": "remove", "shift_id": shift_id, "layer": removed.layer}
    )
    return RedirectResponse(f"{ROTA}?done=removed", status_code=303)


# --- my pager number ------------------------------------------------------------------------


async def pager_page(
    request: Request, user: Principal, *, problem: str = "", status_code: int = 200
) -> Response:
    state = dashboard(request)
    number, opted_out = await rota.contact_number(state.engine, state.opener, user.user_id)
    holds = [
        holder
        for holder in (await rota.on_call_now(state.engine, datetime.now(UTC))).values()
        if holder is not None and holder.user_id == user.user_id
    ]
    return render(
        request,
        "dashboard/pager.html",
        {
            "masked": rota.mask_number(number) if number else "",
            "opted_out": opted_out,
            "region": state.settings.phone_region,
            "holds": holds,
            "local_time": local_time,
            "notice": PAGER_DONE.get(request.query_params.get("done", ""), ""),
            "problem": problem,
        },
        user=user,
        status_code=status_code,
    )


@signed_in("dispatcher")
async def pager(request: Request, user: Principal) -> Response:
    """Your own pager number: shown masked; saving replaces it."""
    if request.method != "POST":
        return await pager_page(request, user)
    state = dashboard(request)
    number = _field(await request.form(), "number", rota.MAX_NUMBER + 1)
    try:
        await rota.set_contact(
            state.engine,
            state.sealer,
            state.hasher,
            user.user_id,
            number,
            region=state.settings.phone_region,
        )
    except InvalidInputError:
        return await pager_page(
            request,
            user,
            problem="That is not a valid phone number. Write it with its country code, "
            "such as +34 612 345 678.",
            status_code=400,
        )
    except ConflictError:
        return await pager_page(
            request,
            user,
            problem="Another user has registered that number. Each pager number belongs to "
            "one user.",
            status_code=409,
        )
    await state.audit(
        user, "user_change", detail={"pager": "set", "user_id": user.user_id, "by": "self"}
    )
    return RedirectResponse(f"{PAGER}?done=saved", status_code=303)


@signed_in("dispatcher")
async def pager_clear(request: Request, user: Principal) -> Response:
    """Forget your own pager number."""
    state = dashboard(request)
    await rota.clear_contact(state.engine, user.user_id)
    await state.audit(
        user, "user_change", detail={"pager": "clear", "user_id": user.user_id, "by": "self"}
    )
    return RedirectResponse(f"{PAGER}?done=cleared", status_code=303)


routes: list[BaseRoute] = [
    Route(ROTA, rota_view, methods=["GET"]),
    Route(ROTA, rota_add, methods=["POST"]),
    Route(f"{ROTA}/{{shift_id:int}}/remove", rota_remove, methods=["POST"]),
    Route(PAGER, pager, methods=["GET", "POST"]),
    Route(f"{PAGER}/clear", pager_clear, methods=["POST"]),
]
