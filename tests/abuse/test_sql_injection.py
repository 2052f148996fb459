"""SQL injection attempts are inert: classic payloads in every public field, the SMS body and
sender, the dashboard's filters and search fields, and the sign-in form. No 5xx; every
table still there with the rows expected; a payload stored as a tip comes back unchanged.
"""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from markupsafe import escape

from hotline.intake import FIELD_LIMITS
from hotline.tables import metadata, tips, users
from tests.abuse.conftest import LOGIN_CSRF
from tests.dashboard_helpers import sign_in
from tests.fuzz.reliability import record_figures
from tests.sms_helpers import inbound_params, post_signed
from web.app import HotlineApp
from web.public import REPORT_FIELDS

PAYLOADS = [
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE tips; --",
    "1; DELETE FROM users",
    "' UNION SELECT password_hash, NULL FROM users --",
    "admin'--",
    "%' OR 1=1 --",
    "1' AND (SELECT count(*) FROM audit_log) > 0 --",
    "'); UPDATE users SET role='admin' WHERE '1'='1",
    "\\'; DROP TABLE users; --",
    "1 OR 1=1",
    "Robert'); DROP TABLE tip_messages;--",
    "'||(SELECT sqlite_version())||'",
    "$1; SELECT pg_sleep(0)",
    "%_%",
]
DASHBOARD_FILTERS = (
    "urgency",
    "status",
    "channel",
    "category",
    "lang",
    "holder",
    "minors",
    "after",
)
REFERRAL_FILTERS = ("kind", "region", "language", "status")


def phone(n: int) -> str:
    return f"+1415555{n:04d}"


async def table_counts(app: HotlineApp) -> dict[str, int]:
    """Every table the schema names, with its row count (a dropped table raises here)."""
    async with app.state.engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        counts = {}
        for table in metadata.sorted_tables:
            assert table.name in names, f"table {table.name} is gone"
            query = sa.select(sa.func.count()).select_from(table)
            counts[table.name] = int((await conn.execute(query)).scalar_one())
    return counts


def no_server_error(answer: httpx.Response, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code)


async def test_sql_injection_payloads_everywhere_are_inert_and_stored_byte_for_byte(
    channel_app: HotlineApp, channel_client: httpx.AsyncClient
) -> None:
    dispatcher = await sign_in(channel_app, channel_client, role="supervisor")
    before = await table_counts(channel_app)
    requests = 0

    # The public form: every field, the language, and the follow-up page.
    for n, payload in enumerate(PAYLOADS):
        other = PAYLOADS[(n + 1) % len(PAYLOADS)]
        fields = {name: other[: FIELD_LIMITS.get(name, 40)] for name in REPORT_FIELDS}
        fields["what"] = payload
        answer = await channel_client.post("/report", params={"lang": payload}, data=fields)
        assert answer.status_code == 303, answer.status_code
        for path in ("/followup", "/followup/add"):
            answer = await channel_client.post(path, data={"receipt": payload, "text": payload})
            no_server_error(answer, path)
            assert 'name="text"' not in answer.text
        requests += 3

    # The SMS webhook: the body and the sender, each message its own thread.
    for n, payload in enumerate(PAYLOADS):
        answer = await post_signed(channel_client, inbound_params(payload, sender=phone(n)))
        assert answer.status_code == 200, answer.status_code
        weird_sender = await post_signed(channel_client, inbound_params("hello", sender=payload))
        no_server_error(weird_sender, "sms sender")
        requests += 2

    # The dashboard: queue filters and cursor, referral search, statistics period.
    for payload in PAYLOADS:
        for name in DASHBOARD_FILTERS:
            answer = await channel_client.get("/dashboard/", params={name: payload})
            assert answer.status_code == 200, (name, answer.status_code)
        for name in REFERRAL_FILTERS:
            answer = await channel_client.get("/dashboard/referrals", params={name: payload})
            assert answer.status_code == 200, (name, answer.status_code)
        for name in ("from", "to"):
            answer = await channel_client.get("/dashboard/stats", params={name: payload})
            no_server_error(answer, "stats")
        requests += len(DASHBOARD_FILTERS) + len(REFERRAL_FILTERS) + 2

    # Sign-in: the payload as user name and as password, from a client with no session.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=channel_app), base_url=str(channel_client.base_url)
    ) as stranger:
        for payload in PAYLOADS:
            page = await stranger.get("/dashboard/login")
            found = LOGIN_CSRF.search(page.text)
            assert found
            answer = await stranger.post(
                "/dashboard/login",
                data={"login_csrf": found.group(1), "username": payload, "password": payload},
            )
            assert answer.status_code == 400, answer.status_code
            assert "hotline_session" not in answer.headers.get("set-cookie", "")
            requests += 1

    after = await table_counts(channel_app)
    web_tips = len(PAYLOADS)
    sms_tips = after["tips"] - before["tips"] - web_tips
    # One tip per web report and one per SMS thread with a payload body; the odd senders may
    # or may not make threads of their own, so they are counted apart.
    assert sms_tips >= len(PAYLOADS)
    assert after["users"] == before["users"]
    for unchanged in ("referral_services", "rota_shifts"):
        if unchanged in before:
            assert after[unchanged] == before[unchanged], unchanged
    async with channel_app.state.engine.connect() as conn:
        roles = (await conn.execute(sa.select(users.c.username, users.c.role))).all()
        assert [tuple(row) for row in roles] == [(dispatcher.username, "supervisor")]
        tip_ids = (await conn.execute(sa.select(tips.c.id))).scalars().all()

    # Each payload comes back exactly as sent, escaped for HTML, when its tip is opened.
    pages = [(await channel_client.get(f"/dashboard/tips/{tip_id}")) for tip_id in tip_ids]
    assert all(page.status_code == 200 for page in pages)
    for payload in PAYLOADS:
        shown = str(escape(payload))
        holding = [page for page in pages if shown in page.text]
        assert len(holding) >= 2, payload  # its web report and its SMS thread
    record_figures(
        "abuse",
        "sql_injection",
        payloads=len(PAYLOADS),
        requests=requests,
        tables_checked=len(after),
        tips_opened=len(pages),
    )
