from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from web.security import SecurityHeaders


async def with_cookie(_request: Request) -> Response:
    response = PlainTextResponse("ok")
    response.set_cookie("tracker", "1")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def build(**options: object) -> SecurityHeaders:
    inner = Starlette(routes=[Route("/", with_cookie), Route("/dashboard/x", with_cookie)])
    return SecurityHeaders(inner, **options)  # type: ignore[arg-type]


async def fetch(app: SecurityHeaders, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_public_responses_lose_cookies_and_caching_whatever_the_route_set() -> None:
    answer = await fetch(build(hsts=False, onion_location=""), "/")
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in answer.headers
    assert "onion-location" not in answer.headers


async def test_hsts_and_onion_location_are_sent_when_configured() -> None:
    answer = await fetch(build(hsts=True, onion_location="http://abc.onion/"), "/")
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["onion-location"] == "http://abc.onion/"


async def test_dashboard_responses_keep_their_cookies_but_get_the_same_policy() -> None:
    answer = await fetch(build(hsts=False, onion_location=""), "/dashboard/x")
    assert "set-cookie" in answer.headers
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
