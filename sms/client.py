"""The Twilio REST client: async, quiet, pointed at the configured API address.

twilio's HTTP client logs every request URL (which names message SIDs) at INFO: it gets a
logger of its own that is switched off. Errors are reduced to their HTTP status: a
``TwilioRestException``'s text can quote a phone number and is never logged or re-raised.
"""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

import aiohttp
from arq import Retry
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from hotline.keys import KeyedHash
from hotline.seal import Opener, Sealer
from hotline.settings import Settings

MAX_DEFER_S = 300
HTTP_TIMEOUT_S = 20.0

_quiet = logging.getLogger("hotline.sms.twilio_http")
_quiet.disabled = True
_quiet.propagate = False


def basic_authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class HeaderAuthHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """``AsyncTwilioHttpClient`` sending credentials as a header: aiohttp deprecates the
    ``BasicAuth``/``auth=`` route that twilio takes."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's signature
        allow_redirects: bool = False,
    ) -> Any:
        if auth is not None:
            headers = {**(headers or {}), "Authorization": basic_authorization(*auth)}
        return await super().request(
            method, url, params, data, headers, None, timeout, allow_redirects
        )


def build_client(settings: Settings) -> Client:
    """A twilio ``Client`` on an async HTTP client; call inside the event loop."""
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    http = HeaderAuthHttpClient(timeout=HTTP_TIMEOUT_S, logger=_quiet)
    client = Client(settings.twilio_account_sid, token, http_client=http)
    client.api.base_url = settings.twilio_api_url
    return client


async def close_client(client: Client) -> None:
    http = client.http_client
    if isinstance(http, AsyncTwilioHttpClient):
        await http.close()


def backoff(job_try: int) -> timedelta:
    """1 s, 2 s, 4 s … up to five minutes."""
    return timedelta(seconds=min(2 ** max(job_try - 1, 0), MAX_DEFER_S))


def is_transient(exc: BaseException) -> bool:
    """Worth trying again: Twilio's 429 and 5xx answers, and network failures."""
    if isinstance(exc, TwilioRestException):
        return bool(exc.status == 429 or exc.status >= 500)
    return isinstance(exc, aiohttp.ClientError | TimeoutError | OSError)


def retry(job_try: int) -> Retry:
    return Retry(defer=backoff(job_try))


# Failures a REST call can raise; narrow enough that a bug in our code still shows.
REST_FAILURES = (TwilioRestException, aiohttp.ClientError, TimeoutError, OSError)


class AccountUser:
    """What the worker's Twilio parts share: the keys, the database, the account's API."""

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        opener: Opener,
        sealer: Sealer,
        hasher: KeyedHash,
        client: Client,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._opener = opener
        self._sealer = sealer
        self._hasher = hasher
        self._client = client
        self._account = client.api.v2010.accounts(settings.twilio_account_sid)
