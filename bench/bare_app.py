"""The baseline: a bare Starlette handler that parses the same form and answers 303."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route


async def report(request: Request) -> Response:
    form = await request.form()
    if not form.get("what"):
        return Response(status_code=400)
    return RedirectResponse("/report/done/x", status_code=303)


app = Starlette(routes=[Route("/report", report, methods=["POST"])])


async def sms(request: Request) -> Response:
    """The SMS baseline: parse Twilio's form, answer a fixed TwiML message."""
    form = await request.form()
    if not form.get("MessageSid"):
        return Response(status_code=400)
    return Response(
        "<?xml version='1.0' encoding='UTF-8'?><Response><Message>ok</Message></Response>",
        media_type="application/xml",
    )


app.router.routes.append(Route("/sms/twilio", sms, methods=["POST"]))
