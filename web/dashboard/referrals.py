"""The referral directory: partner services, kept by admins, attached to tips."""

from __future__ import annotations

import re
import uuid
from typing import Any

from babel import Locale, UnknownLocaleError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hotline import referrals
from hotline.errors import NotFoundError
from hotline.referrals import KIND_LABELS, KINDS, LIMITS, InvalidServiceError, ServiceDraft
from hotline.sessions import Principal
from web.dashboard.core import Dashboard, dashboard, refuse, render, signed_in
from web.forms import clean

# The directory's status filter: what each choice shows.
STATUSES = {"active": True, "inactive": False, "all": None}
MAX_FILTER = 120
# Ids fit the database's integer column; anything longer names no service.
SERVICE_ID = re.compile(r"[0-9]{1,9}")


def parse_service_id(value: object) -> int | None:
    if isinstance(value, str) and SERVICE_ID.fullmatch(value.strip()):
        return int(value.strip())
    return None


def language_name(code: str) -> str:
    """``es`` → ``Spanish``; the code itself when the name is not known."""
    try:
        return Locale.parse(code).get_display_name("en") or code
    except (ValueError, UnknownLocaleError):
        return code


def describe_languages(codes: tuple[str, ...]) -> str:
    return ", ".join(f"{language_name(code)} ({code})" for code in codes)


def _service_view(service: referrals.Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "kind": service.kind,
        "kind_label": service.kind_label,
        "name": service.name,
        "region": service.region,
        "languages": describe_languages(service.languages),
        "hours": service.hours,
        "contact": service.contact,
        "description": service.description,
        "public": service.public,
        "active": service.active,
    }


# --- the directory ----------------------------------------------------------------------


@signed_in("dispatcher")
async def directory(request: Request, user: Principal) -> Response:
    """Every service, filtered by kind, region, language and status."""
    params = request.query_params
    kind = params.get("kind", "")
    kind = kind if kind in KINDS else ""
    region = " ".join(params.get("region", "").split())[:MAX_FILTER]
    language = params.get("language", "").strip().lower()[:MAX_FILTER]
    status = params.get("status", "active")
    status = status if status in STATUSES else "active"
    services = await referrals.list_services(
        dashboard(request).engine,
        kind=kind or None,
        region=region or None,
        language=language or None,
        active=STATUSES[status],
    )
    return render(
        request,
        "dashboard/referrals.html",
        {
            "services": [_service_view(service) for service in services],
            "kinds": [(code, KIND_LABELS[code]) for code in KINDS],
            "filters": {"kind": kind, "region": region, "language": language, "status": status},
            "filtered": bool(kind or region or language or status != "active"),
        },
        user=user,
    )


# --- adding and editing, for admins -----------------------------------------------------


def _draft_from_form(form: Any) -> ServiceDraft:
    def text(name: str) -> str:
        value = form.get(name, "")
        return clean(value) if isinstance(value, str) else ""

    return ServiceDraft(
        kind=text("kind"),
        name=text("name"),
        region=text("region"),
        languages=text("languages"),
        hours=text("hours"),
        contact=text("contact"),
        description=text("description"),
        public=form.get("public") == "on",
        active=form.get("active") == "on",
    )


def _service_form(
    request: Request,
    user: Principal,
    *,
    values: ServiceDraft,
    service_id: int | None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    action = (
        "/dashboard/referrals/new"
        if service_id is None
        else f"/dashboard/referrals/{service_id}/edit"
    )
    return render(
        request,
        "dashboard/referrals_form.html",
        {
            "service_id": service_id,
            "action": action,
            "values": values,
            "problems": problems or {},
            "kinds": [(code, KIND_LABELS[code]) for code in KINDS],
            "limits": LIMITS,
        },
        user=user,
        status_code=status_code,
    )


@signed_in("admin")
async def new_form(request: Request, user: Principal) -> Response:
    blank = ServiceDraft(kind="", name="", active=True)
    return _service_form(request, user, values=blank, service_id=None)


@signed_in("admin")
async def create(request: Request, user: Principal) -> Response:
    state = dashboard(request)
    draft = _draft_from_form(await request.form())
    try:
        service_id = await referrals.create_service(state.engine, draft)
    except InvalidServiceError as exc:
        return _service_form(
            request, user, values=draft, service_id=None, problems=exc.problems, status_code=400
        )
    await state.audit(user, "referral", detail={"service_id": service_id, "change": "create"})
    return _back_to_directory(service_id, active=draft.active)


@signed_in("admin")
async def edit_form(request: Request, user: Principal) -> Response:
    service_id = parse_service_id(str(request.path_params["service_id"]))
    service = (
        None
        if service_id is None
        else await referrals.get_service(dashboard(request).engine, service_id)
    )
    if service_id is None or service is None:
        return refuse(request, 404, "There is no such service.", user=user)
    values = ServiceDraft(
        kind=service.kind,
        name=service.name,
        region=service.region,
        languages=", ".join(service.languages),
        hours=service.hours,
        contact=service.contact,
        description=service.description,
        public=service.public,
        active=service.active,
    )
    return _service_form(request, user, values=values, service_id=service_id)


@signed_in("admin")
async def update(request: Request, user: Principal) -> Response:
    state = dashboard(request)
    service_id = parse_service_id(str(request.path_params["service_id"]))
    if service_id is None:
        return refuse(request, 404, "There is no such service.", user=user)
    draft = _draft_from_form(await request.form())
    try:
        await referrals.update_service(state.engine, service_id, draft)
    except InvalidServiceError as exc:
        return _service_form(
            request,
            user,
            values=draft,
            service_id=service_id,
            problems=exc.problems,
            status_code=400,
        )
    except NotFoundError:
        return refuse(request, 404, "There is no such service.", user=user)
    await state.audit(user, "referral", detail={"service_id": service_id, "change": "update"})
    return _back_to_directory(service_id, active=draft.active)


def _back_to_directory(service_id: int, *, active: bool) -> Response:
    query = "" if active else "?status=inactive"
    return RedirectResponse(f"/dashboard/referrals{query}#service-{service_id}", status_code=303)


# --- referring a tip --------------------------------------------------------------------


@signed_in("dispatcher")
async def attach(request: Request, user: Principal) -> Response:
    """Attach an active service to the tip."""
    state = dashboard(request)
    tip_id: uuid.UUID = request.path_params["tip_id"]
    service_id = parse_service_id((await request.form()).get("service_id", ""))
    if service_id is None:
        if not await referrals.tip_exists(state.engine, tip_id):
            return refuse(request, 404, "There is no such tip.", user=user)
        return refuse(request, 400, "Choose a service to refer to.", user=user)
    return await _change(request, user, tip_id, service_id, "attach")


@signed_in("dispatcher")
async def detach(request: Request, user: Principal) -> Response:
    """Take a service off the tip."""
    tip_id: uuid.UUID = request.path_params["tip_id"]
    service_id = parse_service_id(str(request.path_params["service_id"]))
    if service_id is None:
        return refuse(request, 404, "There is no such service.", user=user)
    return await _change(request, user, tip_id, service_id, "detach")


async def _change(
    request: Request,
    user: Principal,
    tip_id: uuid.UUID,
    service_id: int,
    change: referrals.Change,
) -> Response:
    state = dashboard(request)
    if not await referrals.tip_exists(state.engine, tip_id):
        return refuse(request, 404, "There is no such tip.", user=user)
    attached = await referrals.is_attached(state.engine, tip_id, service_id)
    if change == "attach":
        service = await referrals.get_service(state.engine, service_id)
        if service is None or not service.active:
            return refuse(request, 404, "There is no such active service.", user=user)
        needed = not attached
    else:
        needed = attached
    if needed:
        # The trail first: if it cannot be written, nothing changes.
        detail = referrals.change_detail(service_id, change)
        await state.audit(user, "referral", tip_id=tip_id, detail=detail)
        act = referrals.attach if change == "attach" else referrals.detach
        try:
            await act(state.engine, tip_id=tip_id, service_id=service_id, user_id=user.user_id)
        except NotFoundError:
            return refuse(request, 404, "There is no such tip or active service.", user=user)
    return RedirectResponse(f"/dashboard/tips/{tip_id}", status_code=303)


# --- the tip view's panel ---------------------------------------------------------------


async def tip_panel(state: Dashboard, tip_id: uuid.UUID) -> dict[str, Any]:
    """Context for ``dashboard/_tip_referrals.html`` on the tip view."""
    attached = await referrals.attached_to(state.engine, tip_id)
    taken = {entry.service.id for entry in attached}
    services = await referrals.list_services(state.engine, active=True)
    groups: list[dict[str, Any]] = []
    for kind in KINDS:
        options = [
            {"id": service.id, "text": _option_text(service)}
            for service in services
            if service.kind == kind and service.id not in taken
        ]
        if options:
            groups.append({"label": KIND_LABELS[kind], "options": options})
    return {
        "tip_id": tip_id,
        "attached_referrals": [
            {
                "service_id": entry.service.id,
                "name": entry.service.name,
                "kind_label": entry.service.kind_label,
                "contact": entry.service.contact,
                "active": entry.service.active,
                "username": entry.username,
                "attached_at": entry.attached_at,
                "detach_url": f"/dashboard/tips/{tip_id}/referrals/{entry.service.id}/detach",
            }
            for entry in attached
        ],
        "referral_choices": groups,
        "attach_url": f"/dashboard/tips/{tip_id}/referrals",
    }


def _option_text(service: referrals.Service) -> str:
    parts = [service.name]
    if service.region:
        parts.append(service.region)
    if service.languages:
        parts.append(", ".join(service.languages))
    return " — ".join(parts)


routes: list[BaseRoute] = [
    Route("/dashboard/referrals", directory, methods=["GET"]),
    Route("/dashboard/referrals/new", new_form, methods=["GET"]),
    Route("/dashboard/referrals/new", create, methods=["POST"]),
    Route("/dashboard/referrals/{service_id:int}/edit", edit_form, methods=["GET"]),
    Route("/dashboard/referrals/{service_id:int}/edit", update, methods=["POST"]),
    Route("/dashboard/tips/{tip_id:uuid}/referrals", attach, methods=["POST"]),
    Route(
        "/dashboard/tips/{tip_id:uuid}/referrals/{service_id:int}/detach",
        detach,
        methods=["POST"],
    ),
]
