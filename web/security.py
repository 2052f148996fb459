"""Response headers for every route, and a hard cap on request bodies.

Pure ASGI middleware, so it sees every response, errors included.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The dashboard: scripts only with this response's nonce; SVG charts and the QR code as
# data: images; the live queue connects back to its own origin (SSE).
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()"
)


class SecurityHeaders:
    """Adds the security headers; public pages also get ``no-store`` and lose any cookie."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts: bool,
        onion_location: str,
        private_prefixes: tuple[str, ...] = ("/dashboard",),
    ) -> None:
        self.app = app
        self.onion_location = onion_location.rstrip("/")
        self.private_prefixes = private_prefixes
        common = [
            ("content-security-policy", CSP),
            ("referrer-policy", "no-referrer"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("permissions-policy", PERMISSIONS_POLICY),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
        ]
        if hsts:
            common.append(("strict-transport-security", "max-age=63072000; includeSubDomains"))
        self._common = [(k.encode(), v.encode()) for k, v in common]
        self._public = [*self._common, (b"cache-control", b"no-store")]
        # Dashboard pages hold decrypted tips: never cached either, and a fresh nonce each.
        self._private = [
            (name, value) for name, value in self._public if name != b"content-security-policy"
        ]
        # Headers we set replace whatever the app set; cookies never leave a public page.
        self._replaced = {name for name, _ in self._public} | {b"set-cookie"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        public = not path.startswith(self.private_prefixes)
        if public:
            extra = self._public
        else:
            nonce = secrets.token_urlsafe(18)
            scope.setdefault("state", {})["csp_nonce"] = nonce
            csp = DASHBOARD_CSP.format(nonce=nonce).encode()
            extra = [*self._private, (b"content-security-policy", csp)]
        onion = (
            [(b"onion-location", (self.onion_location + path).encode("latin-1", "replace"))]
            if self.onion_location
            else []
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in self._replaced
                    or (not public and name.lower() == b"set-cookie")
                ]
                message["headers"] = kept + extra + onion
            await send(message)

        await self.app(scope, receive, send_with_headers)


ErrorRenderer = Callable[[Scope, int], Awaitable[Response]]


class BodyLimit:
    """Reads at most ``max_bytes`` of a body; more gets 413 with a human page."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, render_error: ErrorRenderer) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render_error = render_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.render_error(scope, 413)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
