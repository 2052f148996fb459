"""The dashboard baseline: a bare Starlette GET answering a fixed page of the queue's size."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

PAGE = "<!doctype html><title>bare</title>" + "x" * int(os.environ.get("BENCH_PAGE_BYTES", "30000"))


async def page(_request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})


async def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[Route("/page", page, methods=["GET"]), Route("/healthz", healthz, methods=["GET"])]
)
