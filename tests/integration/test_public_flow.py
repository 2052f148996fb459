"""A reporter's whole path through the public site, on a real SQLite file and Redis."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from hotline.tables import receipt_handoffs, tip_messages, tips
from tests.helpers import RECEIPT, submit, submit_and_read_receipt
from web.app import HotlineApp


async def test_a_report_answers_303_and_shows_the_receipt_once(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    answer = await submit(client, "Three women are kept in the back of the salon.")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/report/done/")
    first = await client.get(location)
    assert first.status_code == 200
    assert RECEIPT.search(first.text)
    again = await client.get(location)
    assert again.status_code == 404
    assert not RECEIPT.search(again.text)
    async with app.state.engine.connect() as conn:
        handoffs = (
            await conn.execute(sa.select(sa.func.count()).select_from(receipt_handoffs))
        ).scalar_one()
        stored = (await conn.execute(sa.select(tips.c.receipt_hash, tips.c.body_sealed))).one()
    assert handoffs == 0
    assert len(stored.receipt_hash) == 32


async def test_the_receipt_opens_the_follow_up_page_which_accepts_more_information(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    receipt = await submit_and_read_receipt(client, "A man keeps the workers' passports.")
    page = await client.post("/followup", data={"receipt": receipt})
    assert page.status_code == 200
    assert 'name="text"' in page.text
    added = await client.post(
        "/followup/add", data={"receipt": receipt, "text": "Blue van, plate ABC123"}
    )
    assert added.status_code == 200
    async with app.state.engine.connect() as conn:
        messages = (await conn.execute(sa.select(tip_messages))).all()
    assert len(messages) == 1
    assert messages[0].author == "reporter"
    assert b"ABC123" not in messages[0].body_sealed


async def test_a_receipt_typed_without_spaces_also_opens_the_follow_up(
    client: httpx.AsyncClient,
) -> None:
    receipt = await submit_and_read_receipt(client, "Someone is locked in the basement.")
    page = await client.post("/followup", data={"receipt": receipt.replace(" ", "")})
    assert 'name="text"' in page.text


async def test_a_wrong_receipt_gets_a_neutral_answer_and_counts_toward_the_limit(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    await submit_and_read_receipt(client, "Workers sleep in the warehouse.")
    site = app.state.public
    before = site.followup_failures._tokens
    wrong = await client.post("/followup", data={"receipt": "0000 0000 0000 0000"})
    assert wrong.status_code == 200
    assert 'name="text"' not in wrong.text
    assert site.followup_failures._tokens < before
    malformed = await client.post("/followup", data={"receipt": "12"})
    assert malformed.status_code == 200
    assert malformed.text.count("receipt") >= 1


async def test_repeated_wrong_tries_of_one_code_are_refused_with_429(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    limit = app.state.public.settings.followup_attempts_per_code
    for _ in range(limit):
        assert (
            await client.post("/followup", data={"receipt": "1111 1111 1111 1111"})
        ).status_code == 200
    refused = await client.post("/followup", data={"receipt": "1111 1111 1111 1111"})
    assert refused.status_code == 429


async def test_a_guessing_flood_empties_the_global_bucket_and_gets_429(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    per_minute = app.state.public.settings.followup_failures_per_minute
    for n in range(per_minute):
        await client.post("/followup", data={"receipt": f"{n:016d}"})
    refused = await client.post("/followup", data={"receipt": "9999 9999 9999 9998"})
    assert refused.status_code == 429


async def test_the_only_required_field_is_what_happened(client: httpx.AsyncClient) -> None:
    missing = await client.post("/report", data={"where": "Main St"})
    assert missing.status_code == 400
    assert "Main St" in missing.text  # what they typed is kept


async def test_an_overlong_field_is_refused_and_the_text_kept(client: httpx.AsyncClient) -> None:
    answer = await client.post("/report", data={"what": "x" * 6000})
    assert answer.status_code == 400


async def test_the_honeypot_field_answers_429_and_keeps_the_text(client: httpx.AsyncClient) -> None:
    answer = await submit(client, "Girls in the van", website="http://spam.example")
    assert answer.status_code == 429
    assert "Girls in the van" in answer.text


async def test_a_flood_of_reports_gets_a_human_429_page(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    bucket = app.state.public.intake_bucket
    bucket._tokens = 0.0
    bucket._rate = 0.0
    answer = await submit(client, "They took our papers")
    assert answer.status_code == 429
    assert "They took our papers" in answer.text


async def test_spanish_is_chosen_by_query_then_accept_language(client: httpx.AsyncClient) -> None:
    by_query = await client.get("/report?lang=es")
    assert '<html lang="es"' in by_query.text
    by_header = await client.get("/report", headers={"Accept-Language": "es-MX,es;q=0.9"})
    assert '<html lang="es"' in by_header.text
    default = await client.get("/report")
    assert '<html lang="en"' in default.text


async def test_a_reply_sealed_to_the_reporter_key_is_shown_on_the_follow_up_page(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    from hotline.replies import add_reply

    receipt = await submit_and_read_receipt(client, "A child sells candy at night for a man.")
    async with app.state.engine.connect() as conn:
        tip = (await conn.execute(sa.select(tips.c.id, tips.c.reporter_public_key))).one()
    assert tip.reporter_public_key is not None  # derived when the receipt was shown
    site = app.state.public
    await add_reply(
        app.state.committer,
        site.intake._sealer,
        tip.id,
        X25519PublicKey.from_public_bytes(tip.reporter_public_key),
        "We have passed this to a partner.",
    )
    page = await client.post("/followup", data={"receipt": receipt})
    assert "We have passed this to a partner." in page.text


async def test_an_empty_or_overlong_addition_is_refused_and_the_text_kept(
    client: httpx.AsyncClient, app: HotlineApp
) -> None:
    receipt = await submit_and_read_receipt(client, "Men sleep in the restaurant basement.")
    empty = await client.post("/followup/add", data={"receipt": receipt, "text": "  "})
    assert empty.status_code == 400
    overlong = "b" * 3001
    refused = await client.post("/followup/add", data={"receipt": receipt, "text": overlong})
    assert refused.status_code == 400
    assert overlong in refused.text
    async with app.state.engine.connect() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(tip_messages))
        ).scalar_one()
    assert count == 0
