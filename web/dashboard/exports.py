"""Hand-off: one tip, decrypted, as a PDF or a JSON bundle; every export audited.

The ``export_tip`` audit entry is written before the case is opened; if it cannot be
written, nothing is decrypted. The file is built in memory and answered as an attachment
that no cache keeps; nothing about its content is logged.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hotline.casefile import load_case
from hotline.errors import NotFoundError
from hotline.handoff import Export, build_json, build_pdf
from hotline.sessions import Principal
from hotline.statistics import indicator_labels
from hotline.tables import tips
from web.dashboard.core import dashboard, refuse, render, signed_in

FORMATS = {
    "pdf": ("application/pdf", "PDF: a readable dossier to print or attach"),
    "json": ("application/json", "JSON: the same case as data, every text exactly as written"),
}
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9-]")


async def _reference_of(request: Request, tip_id: uuid.UUID) -> str | None:
    async with dashboard(request).engine.connect() as conn:
        found = await conn.scalar(sa.select(tips.c.reference).where(tips.c.id == tip_id))
    return None if found is None else str(found)


def _form(
    request: Request,
    user: Principal,
    *,
    tip_id: uuid.UUID,
    reference: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "tip_id": tip_id,
        "reference": reference,
        "formats": FORMATS,
        "error": error,
    }
    return render(request, "dashboard/export.html", context, user=user, status_code=status_code)


@signed_in("supervisor")
async def show_export(request: Request, user: Principal) -> Response:
    """The export form: a format, and the warning that the file leaves the system."""
    tip_id: uuid.UUID = request.path_params["tip_id"]
    reference = await _reference_of(request, tip_id)
    if reference is None:
        return refuse(request, 404, "There is no such tip.", user=user)
    return _form(request, user, tip_id=tip_id, reference=reference)


@signed_in("supervisor")
async def export_tip(request: Request, user: Principal) -> Response:
    """Audit, then decrypt, then answer the tip as a PDF or JSON attachment."""
    tip_id: uuid.UUID = request.path_params["tip_id"]
    form = await request.form()
    chosen = form.get("format")
    reference = await _reference_of(request, tip_id)
    if reference is None:
        return refuse(request, 404, "There is no such tip.", user=user)
    if not isinstance(chosen, str) or chosen not in FORMATS:
        return _form(
            request,
            user,
            tip_id=tip_id,
            reference=reference,
            error="Choose PDF or JSON.",
            status_code=400,
        )
    state = dashboard(request)
    await state.audit(user, "export_tip", tip_id=tip_id, detail={"format": chosen})
    try:
        case = await load_case(state.engine, state.opener, tip_id)
    except NotFoundError:
        return refuse(request, 404, "There is no such tip.", user=user)
    export = Export(
        exported_by=user.username, exported_at=datetime.now(UTC), labels=indicator_labels()
    )
    # Drawing a long dossier takes a while: off the event loop, so other pages go on.
    build = build_pdf if chosen == "pdf" else build_json
    content = await run_in_threadpool(build, case, export)
    name = f"hotline-{_UNSAFE_IN_NAME.sub('', case.reference)}.{chosen}"
    return Response(
        content,
        media_type=FORMATS[chosen][0],
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


routes: list[BaseRoute] = [
    Route("/dashboard/tips/{tip_id:uuid}/export", show_export, methods=["GET"]),
    Route("/dashboard/tips/{tip_id:uuid}/export", export_tip, methods=["POST"]),
]
