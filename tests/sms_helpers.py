"""Twilio webhook requests as Twilio makes them, signed by the real RequestValidator."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator

from tests.conftest import SMS_PUBLIC_URL, TWILIO_ACCOUNT_SID, TWILIO_FROM, TWILIO_TOKEN

# A phone number the privacy scans look for, in every form it could take.
PHONE = "+14155550142"
PHONE_FORMS = ("+14155550142", "14155550142", "4155550142", "(415) 555-0142", "415-555-0142")
REFERENCE = re.compile(r"\b([2-9A-Z]{5}-[2-9A-Z]{5})\b")


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def inbound_params(
    body: str, *, sender: str = PHONE, sid: str | None = None, num_media: int = 0
) -> dict[str, str]:
    message_sid = sid or new_sid("MM" if num_media else "SM")
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": str(num_media),
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": message_sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": TWILIO_FROM,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": TWILIO_ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def sign(path: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(SMS_PUBLIC_URL + path, params))


async def post_signed(
    client: httpx.AsyncClient,
    params: dict[str, str],
    *,
    path: str = "/sms/twilio",
    token: str = TWILIO_TOKEN,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "X-Twilio-Signature": signature if signature is not None else sign(path, params, token)
    }
    return await client.post(path, data=params, headers=headers)


async def text(client: httpx.AsyncClient, body: str, **kwargs: Any) -> str:
    """Send one signed inbound SMS; return the TwiML reply's text ("" for none)."""
    answer = await post_signed(client, inbound_params(body, **kwargs))
    assert answer.status_code == 200, answer.status_code
    assert answer.headers["content-type"].startswith("application/xml")
    found = re.search(r"<Message[^>]*>(.*)</Message>", answer.text, re.S)
    return found.group(1) if found else ""


async def count(engine: AsyncEngine, table: sa.Table, *where: Any) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int((await conn.execute(query)).scalar_one())


async def wait_for_job(redis: aioredis.Redis, job_id: str, within: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await redis.exists(f"arq:job:{job_id}"):
        assert loop.time() < deadline, "the job was enqueued"
        await asyncio.sleep(0.02)


def job_id_of(prefix: str, message_id: uuid.UUID) -> str:
    return f"{prefix}:{message_id}"
