"""Invariant 3 and the hardening of every public route."""

from __future__ import annotations

import re

import httpx
import pytest

PAGES = [
    ("GET", "/"),
    ("GET", "/signs"),
    ("GET", "/help"),
    ("GET", "/help?lang=es"),
    ("GET", "/report"),
    ("GET", "/report?lang=es"),
    ("GET", "/report/saved"),
    ("GET", "/report/done/not-a-real-token-at-all"),
    ("GET", "/followup"),
    ("POST", "/followup"),
    ("POST", "/followup/add"),
    ("POST", "/report"),
    ("GET", "/no/such/page"),
    ("DELETE", "/report"),
    ("GET", "/static/style.css"),
    ("GET", "/healthz"),
]


@pytest.mark.parametrize(("method", "path"), PAGES)
async def test_every_public_route_sends_the_security_headers_and_no_cookie(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    answer = await client.request(method, path, data={"what": "x"} if method == "POST" else None)
    assert answer.status_code < 500
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "camera=()" in answer.headers["permissions-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("path", ["/", "/signs", "/help", "/report", "/followup", "/report/saved"])
async def test_public_pages_have_no_inline_script_and_load_nothing_from_elsewhere(
    client: httpx.AsyncClient, path: str
) -> None:
    html = (await client.get(path)).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style"
    for url in re.findall(r'(?:src|href|action)="([^"]+)"', html):
        assert url.startswith(("/", "#", "?")) or url.startswith("https://www.wikipedia.org"), (
            f"{url} leaves the site"
        )
    assert 'id="quick-exit"' in html


async def test_every_page_has_a_quick_exit_that_works_without_javascript(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/report")).text
    link = re.search(r'<a[^>]*id="quick-exit"[^>]*>', html)
    assert link
    assert 'href="https://' in link.group(0)
    assert 'src="/static/exit.js"' in html


async def test_an_oversized_body_gets_413_with_a_human_page(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/report",
        content=b"what=" + b"a" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert "<html" in answer.text
    assert answer.headers["cache-control"] == "no-store"


async def test_an_oversized_body_without_content_length_also_gets_413(
    client: httpx.AsyncClient,
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"a" * 1024

    answer = await client.post(
        "/report", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413


@pytest.mark.parametrize(
    "body",
    [
        b"what=%FF%FE%FD&where=%C0%AF",
        b"what=\xff\xfe raw bytes \x80",
        b"what=nul%00here&who=\x00\x01\x02",
        b"what=%0D%0A%1B[31mred%07",
        b"what=ok&what=twice&&&===&%",
        b"\x00\x00\x00",
        b"what=" + "😀".encode() * 100,
        b"what=%ED%A0%80lone-surrogate",
    ],
)
async def test_strange_bytes_never_cause_a_server_error(
    client: httpx.AsyncClient, body: bytes
) -> None:
    answer = await client.post(
        "/report", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code in (303, 400)
    follow = await client.post(
        "/followup", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert follow.status_code in (200, 400, 429)


async def test_a_malformed_multipart_body_is_a_400_not_a_500(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/report",
        content=b"--x\r\nbroken",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert answer.status_code == 400
