"""Small helpers the tests share."""

from __future__ import annotations

import re

import httpx

RECEIPT = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4})\b")


async def submit(client: httpx.AsyncClient, what: str, **fields: str) -> httpx.Response:
    return await client.post("/report", data={"what": what, **fields})


async def submit_and_read_receipt(client: httpx.AsyncClient, what: str, **fields: str) -> str:
    answer = await submit(client, what, **fields)
    assert answer.status_code == 303, answer.status_code
    page = await client.get(answer.headers["location"])
    assert page.status_code == 200
    found = RECEIPT.search(page.text)
    assert found, "the confirmation page shows a receipt"
    return found.group(1)
