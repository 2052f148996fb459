"""The public site: landing, signs, report form, receipt, follow-up. No JavaScript needed,
no cookies, nothing from another origin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from hotline import metrics, referrals
from hotline.errors import InvalidInputError, StorageUnavailableError
from hotline.followup import MESSAGE_LIMIT, Followup
from hotline.intake import FIELD_LIMITS, MINORS_CHOICES, Intake, Report
from hotline.keys import KeyedHash
from hotline.receipts import format_receipt, normalise_receipt
from hotline.settings import Settings
from web.forms import read_form
from web.i18n import Languages
from web.limits import AttemptCounter, TokenBucket


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


STATUS_TEXT = {
    "new": N_("Received — waiting for a hotline worker"),
    "in_progress": N_("A hotline worker is looking into it"),
    "referred": N_("Passed to a partner organisation"),
    "escalated": N_("Passed to law enforcement"),
    "closed": N_("Closed"),
}
# Headings of the "Get help" page, one per kind of service, in the directory's order.
HELP_KINDS = {
    "shelter": N_("Safe places to stay"),
    "medical": N_("Medical care"),
    "legal": N_("Legal help"),
    "counselling": N_("Someone to talk to"),
    "interpreter": N_("Interpreters"),
    "law_enforcement": N_("Police and law enforcement"),
}
REPORT_FIELDS = ("what", "where", "when", "who", "minors", "how_many", "other")


@dataclass
class PublicSite:
    """What the public routes need; built by the app factory."""

    settings: Settings
    languages: Languages
    intake: Intake
    followup: Followup
    hasher: KeyedHash
    intake_bucket: TokenBucket
    followup_failures: TokenBucket
    code_attempts: AttemptCounter


def site(request: Request) -> PublicSite:
    return request.app.state.public  # type: ignore[no-any-return]


def page_context(request: Request, lang: str) -> dict[str, Any]:
    s = site(request)
    codes = s.languages.codes
    other = codes[(codes.index(lang) + 1) % len(codes)]

    def url(path: str, **params: str) -> str:
        return f"{path}?{urlencode({'lang': lang, **params})}"

    return {
        "lang": lang,
        "url": url,
        "switch_lang_url": f"{_switch_target(request)}?{urlencode({'lang': other})}",
        "switch_lang_label": Locale.parse(other).get_display_name(other) or other,
        "quick_exit_url": s.settings.quick_exit_url,
        "emergency_numbers": s.settings.emergency_numbers_for(lang),
    }


# A page reached by POST has no address to reload in another language: go to its form.
_GET_TARGET = {"/report": "/report", "/followup": "/followup", "/followup/add": "/followup"}


def _switch_target(request: Request) -> str:
    path = request.url.path
    if request.method == "GET":
        return path
    return _GET_TARGET.get(path, "/")


def render(
    request: Request, lang: str, template: str, http_status: int = 200, **context: Any
) -> HTMLResponse:
    full = page_context(request, lang) | context
    html = site(request).languages.render(lang, f"public/{template}", full)
    return HTMLResponse(html, status_code=http_status)


def error_page(request: Request, lang: str, status_code: int) -> HTMLResponse:
    _ = site(request).languages.gettext(lang)
    title, message = ERRORS.get(status_code, ERRORS[500])
    return render(
        request,
        lang,
        "error.html",
        status_code,
        status_code=status_code,
        title=_(title),
        message=_(message),
    )


ERRORS = {
    404: (N_("Page not found"), N_("That page does not exist.")),
    405: (N_("Method not allowed"), N_("This page cannot be used that way.")),
    413: (N_("Too long"), N_("What you sent is too long. Please shorten it and try again.")),
    429: (
        N_("Too many attempts"),
        N_("Too many attempts right now. Please wait a few minutes and try again."),
    ),
    500: (
        N_("Something went wrong"),
        N_("Something went wrong on our side. Please try again in a few minutes."),
    ),
    503: (
        N_("Not saved"),
        N_(
            "Your report was NOT saved. Please try again in a few minutes, "
            "or call the emergency number."
        ),
    ),
}


async def landing(request: Request) -> Response:
    return render(request, site(request).languages.choose(request), "index.html")


async def signs(request: Request) -> Response:
    return render(request, site(request).languages.choose(request), "signs.html")


def _report_form(
    request: Request,
    lang: str,
    *,
    values: dict[str, str],
    errors: list[str],
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        lang,
        "report.html",
        status_code,
        values=values,
        errors=errors,
        notice=notice,
        limits=FIELD_LIMITS,
    )


async def help_page(request: Request) -> Response:
    """Partner services marked public: those in the reader's language first."""
    s = site(request)
    lang = s.languages.choose(request)
    # Only the directory, read with the engine the public role already has: nothing sealed.
    yours, others = await referrals.public_listing(request.app.state.engine, lang)
    _ = s.languages.gettext(lang)
    return render(
        request,
        lang,
        "help.html",
        yours=_help_groups(yours, lang, _),
        others=_help_groups(others, lang, _),
    )


def _help_groups(
    services: list[referrals.Service], lang: str, translate: Callable[[str], str]
) -> list[dict[str, Any]]:
    """Services under translated kind headings, in the directory's order of kinds."""
    groups = []
    for kind, heading in HELP_KINDS.items():
        entries = [
            {
                "id": service.id,
                "name": service.name,
                "region": service.region,
                "hours": service.hours,
                "contact": service.contact,
                "description": service.description.splitlines(),
                "languages": ", ".join(language_name(code, lang) for code in service.languages),
            }
            for service in services
            if service.kind == kind
        ]
        if entries:
            groups.append({"kind": kind, "heading": translate(heading), "services": entries})
    return groups


def language_name(code: str, lang: str) -> str:
    """A language's name in the reader's language (``es`` → ``inglés`` for ``en``)."""
    try:
        return Locale.parse(code).get_display_name(lang) or code
    except (ValueError, UnknownLocaleError):
        return code


async def report_form(request: Request) -> Response:
    lang = site(request).languages.choose(request)
    return _report_form(request, lang, values={}, errors=[])


async def report_submit(request: Request) -> Response:
    s = site(request)
    lang = s.languages.choose(request)
    _ = s.languages.gettext(lang)
    form = await read_form(request)
    values = {name: form.get(name, "") for name in REPORT_FIELDS}
    if form.get("website"):
        metrics.INTAKE_REFUSED.labels(reason="honeypot").inc()
        return _report_form(
            request,
            lang,
            values=values,
            status_code=429,
            errors=[_("Please leave the last field empty and send again.")],
        )
    errors = []
    if not values["what"]:
        errors.append(_("What happened is required."))
    if any(len(values[name]) > limit for name, limit in FIELD_LIMITS.items()):
        errors.append(_("This field is too long."))
    if errors:
        metrics.INTAKE_REFUSED.labels(reason="invalid").inc()
        return _report_form(request, lang, values=values, errors=errors, status_code=400)
    if not s.intake_bucket.take():
        metrics.INTAKE_REFUSED.labels(reason="rate").inc()
        notice = _(
            "Too many reports are arriving right now. Your text is kept below; "
            "please try again in a minute."
        )
        return _report_form(request, lang, values=values, errors=[], notice=notice, status_code=429)
    minors = values["minors"] if values["minors"] in MINORS_CHOICES else ""
    try:
        report = Report(
            what=values["what"],
            where=values["where"],
            when=values["when"],
            who=values["who"],
            minors=minors,  # type: ignore[arg-type]
            how_many=values["how_many"],
            other=values["other"],
        )
    except InvalidInputError:
        return _report_form(
            request,
            lang,
            values=values,
            errors=[_("What happened is required.")],
            status_code=400,
        )
    try:
        submission = await s.intake.submit_web(report, lang=lang)
    except StorageUnavailableError:
        # Nothing was saved (the database is locked, full or gone): say so plainly, with
        # the numbers to call, and keep the text so that sending again is one click.
        metrics.INTAKE_REFUSED.labels(reason="unavailable").inc()
        notice = f"{_(ERRORS[503][1])} {s.settings.emergency_numbers_for(lang)}"
        return _report_form(request, lang, values=values, errors=[], notice=notice, status_code=503)
    return RedirectResponse(
        f"/report/done/{submission.handoff_token}?{urlencode({'lang': lang})}", status_code=303
    )


async def report_done(request: Request) -> Response:
    s = site(request)
    lang = s.languages.choose(request)
    token = request.path_params["token"]
    taken = await s.followup.take_receipt(token) if 10 <= len(token) <= 64 else None
    if taken is None:
        return render(request, lang, "done_gone.html", 404)
    _tip_id, receipt, urgency = taken
    return render(
        request,
        lang,
        "done.html",
        receipt=format_receipt(receipt),
        critical_hint=urgency == "critical",
    )


async def report_saved(request: Request) -> Response:
    return render(request, site(request).languages.choose(request), "saved.html")


async def followup_form(request: Request) -> Response:
    lang = site(request).languages.choose(request)
    return render(request, lang, "followup.html", not_found=False)


async def _open_by_receipt(request: Request, lang: str, raw: str) -> tuple[Any, str] | Response:
    """The tip a receipt opens, or the response to send instead (neutral or 429)."""
    s = site(request)
    if s.followup_failures.empty():
        return error_page(request, lang, 429)
    code = normalise_receipt(raw)
    attempt_key = s.hasher.digest("receipt-attempt", code or raw[:64])
    if s.code_attempts.exceeded(attempt_key):
        return error_page(request, lang, 429)
    tip_id = await s.followup.find_tip(code) if code else None
    if tip_id is None or code is None:
        s.followup_failures.take()
        s.code_attempts.record(attempt_key)
        return render(request, lang, "followup.html", not_found=True)
    return tip_id, code


async def followup_open(request: Request) -> Response:
    s = site(request)
    lang = s.languages.choose(request)
    form = await read_form(request)
    opened = await _open_by_receipt(request, lang, form.get("receipt", ""))
    if isinstance(opened, Response):
        return opened
    tip_id, code = opened
    return await _followup_view(request, lang, tip_id, code, added=False, errors=[])


async def followup_add(request: Request) -> Response:
    s = site(request)
    lang = s.languages.choose(request)
    _ = s.languages.gettext(lang)
    form = await read_form(request)
    opened = await _open_by_receipt(request, lang, form.get("receipt", ""))
    if isinstance(opened, Response):
        return opened
    tip_id, code = opened
    text = form.get("text", "")
    error = ""
    if not text:
        error = _("Please write something to add.")
    elif len(text) > MESSAGE_LIMIT:
        error = _("This field is too long.")
    if error:
        return await _followup_view(
            request, lang, tip_id, code, added=False, errors=[error], status_code=400, text=text
        )
    await s.followup.add(tip_id, text)
    return await _followup_view(request, lang, tip_id, code, added=True, errors=[])


async def _followup_view(
    request: Request,
    lang: str,
    tip_id: Any,
    code: str,
    *,
    added: bool,
    errors: list[str],
    status_code: int = 200,
    text: str = "",
) -> Response:
    s = site(request)
    _ = s.languages.gettext(lang)
    view = await s.followup.view(tip_id, code)

    def when(moment: Any) -> str:
        return str(format_datetime(moment, "medium", locale=lang))

    return render(
        request,
        lang,
        "followup_view.html",
        status_code,
        status_text=_(STATUS_TEXT.get(view.status, STATUS_TEXT["new"])),
        submitted_on=when(view.created_at),
        additions=[when(at) for at in view.additions],
        replies=[{"at": when(reply.at), "text": reply.text} for reply in view.replies],
        replies_pending=view.replies_pending,
        added=added,
        errors=errors,
        receipt=format_receipt(code),
        message_limit=MESSAGE_LIMIT,
        text=text,
    )


routes = [
    Route("/", landing, methods=["GET"]),
    Route("/signs", signs, methods=["GET"]),
    Route("/help", help_page, methods=["GET"]),
    Route("/report", report_form, methods=["GET"]),
    Route("/report", report_submit, methods=["POST"]),
    Route("/report/done/{token}", report_done, methods=["GET"]),
    Route("/report/saved", report_saved, methods=["GET"]),
    Route("/followup", followup_form, methods=["GET"]),
    Route("/followup", followup_open, methods=["POST"]),
    Route("/followup/add", followup_add, methods=["POST"]),
]
