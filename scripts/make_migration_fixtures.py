#!/usr/bin/env python
"""Build the committed migration fixtures: one populated SQLite database per revision.

    .venv/bin/python scripts/make_migration_fixtures.py          # add the missing ones
    .venv/bin/python scripts/make_migration_fixtures.py --all    # rebuild every one

How: a fresh database at head is filled through the real code paths — the public form
and follow-up pages, the signed SMS webhook (with a picture) against the Twilio stand-in,
a burst-mode arq worker on an embedded Redis (dispatch, linkage, paging, replies, carrier
deletion), the dashboard's tip view (audited) and its casework (claim, note, reply,
override, referral, merge, close), accounts with TOTP, sessions and the on-call rota.
Every table must end with at least one row, or the script stops naming the empty one (a
new table needs a line below). Then, for each revision, a copy is downgraded to exactly
that revision, vacuumed into 1 KiB pages and written as
``tests/fixtures/migrations/<revision>.sqlite``, with ``<revision>.json`` beside it: the
tips' ids, texts and receipts, which the tests use to open and follow up the migrated tips.

Everything is sealed to the FIXTURE key pair in ``tests/fixtures/migrations/keys`` (made
on the first run, then reused so old fixtures stay readable). Those keys are test-only.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import shutil
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pyotp  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from arq.worker import Worker  # noqa: E402
from PIL import Image  # noqa: E402

from hotline import accounts, casework, db, keys, referrals, rota  # noqa: E402
from hotline.embedded import EmbeddedRedis  # noqa: E402
from hotline.queue import redis_settings  # noqa: E402
from hotline.settings import Settings, load_settings  # noqa: E402
from hotline.tables import metadata, tips  # noqa: E402
from hotline.worker import worker_settings  # noqa: E402
from tests.conftest import (  # noqa: E402
    CHEAP,
    CLIENT_ADDRESS,
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
)
from tests.dashboard_helpers import CHEAP_PASSWORDS, sign_in  # noqa: E402
from tests.helpers import RECEIPT  # noqa: E402
from tests.sms_helpers import inbound_params, new_sid, post_signed  # noqa: E402
from tests.twilio_standin import Media, TwilioStandIn  # noqa: E402
from web.app import HotlineApp, create_app  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "migrations"
KEYS = FIXTURES / "keys"
# Test-only: the fixture private key's passphrase (tests/fixtures/migrations/README.md).
PASSPHRASE = "hotline fixture passphrase"  # noqa: S105 - a published test-only key
SMS_SENDER = "+14155550177"
PAGER_NUMBERS = {"primary": "+14155550111", "backup": "+14155550112", "supervisor": "+14155550113"}

WEB_TIPS = [
    ("en", "A 15 year old girl is locked in room 214 of the Lakeview Motel right now"),
    ("en", "They took my passport and I work every day without pay. Call 415-555-0199"),
    ("es", "Me quitaron el pasaporte y trabajo sin pago en el restaurante de la calle 9"),
    ("en", "Men bring women to the house on Elm Street at night; plate 7ABC123"),
    ("en", "Same house on Elm Street, plate 7ABC123 again, the van is white"),
    ("en", "I saw a sign for massage jobs with housing included, it looked wrong"),
]


def fixture_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of the fixtures: cheap key derivation, as the tests that read them use."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'hotline.db'}",
        "redis_url": "",
        "environment": "development",
        "key_passphrase": PASSPHRASE,
        "sweep_interval_seconds": 0.5,
        "sweep_grace_seconds": 0.0,
        **CHEAP,
        **overrides,
    }
    return load_settings(**values)


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def install_keys(keys_dir: Path) -> None:
    """The committed fixture keys into ``keys_dir`` (made and committed on the first run)."""
    if not (KEYS / keys.PUBLIC_FILE).exists():
        made = Path(tempfile.mkdtemp(prefix="hotline-fixture-keys-")) / "keys"
        keys.init_keys(made, passphrase=PASSPHRASE, scrypt_log2n=CHEAP["key_file_scrypt_log2n"])
        KEYS.mkdir(parents=True, exist_ok=True)
        for path in made.iterdir():
            shutil.copy2(path, KEYS / path.name)
    shutil.copytree(KEYS, keys_dir)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def _run_worker(settings: Settings) -> None:
    options = worker_settings(settings, redis_settings(settings.redis_url))
    options.pop("cron_jobs", None)
    options.update(burst=True, handle_signals=False, poll_delay=0.01)
    worker = Worker(**options)
    try:
        await worker.main()
    finally:
        await worker.close()


async def _staff(settings: Settings, app: HotlineApp) -> dict[str, int]:
    """Users of every role, one enrolled in TOTP with recovery codes, and the rota."""
    engine = app.state.engine
    board = app.state.dashboard
    now = datetime.now(UTC)
    staff: dict[str, int] = {}
    for layer in rota.LAYERS:
        role = "supervisor" if layer == "supervisor" else "dispatcher"
        user_id = await accounts.add_user(
            engine, f"oncall-{layer}", "a long on-call password", role, hasher=CHEAP_PASSWORDS
        )
        await rota.add_shift(
            engine,
            layer=layer,
            user_id=user_id,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=2),
            tz="Europe/Madrid" if layer == "backup" else "UTC",
            override=False,
            created_by=None,
        )
        await rota.set_contact(
            engine, board.sealer, board.hasher, user_id, PAGER_NUMBERS[layer], region="US"
        )
        staff[layer] = user_id
    admin = await accounts.add_user(
        engine, "admin", "a long admin password", "admin", hasher=CHEAP_PASSWORDS
    )
    secret = await accounts.begin_enrolment(engine, board.sealer, board.opener, admin)
    codes = await accounts.confirm_enrolment(engine, board.opener, admin, pyotp.TOTP(secret).now())
    if not codes:
        raise SystemExit("TOTP enrolment of the fixture admin failed")
    staff["admin"] = admin
    return staff


async def _web_tips(client: httpx.AsyncClient, engine: Any) -> list[dict[str, Any]]:
    """File the web tips; read each receipt from its page, but leave the last one unread
    (its receipt hand-off stays in the database)."""
    filed: list[dict[str, Any]] = []
    for index, (lang, text) in enumerate(WEB_TIPS):
        answer = await client.post(
            f"/report?lang={lang}", data={"what": text, "where": "Oakland", "how_many": "3"}
        )
        if answer.status_code != 303:
            raise SystemExit(f"the public form answered {answer.status_code}")
        receipt = None
        if index < len(WEB_TIPS) - 1:
            page = await client.get(answer.headers["location"])
            found = RECEIPT.search(page.text)
            if found is None:
                raise SystemExit("the confirmation page showed no receipt")
            receipt = found.group(1)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tips.c.id, tips.c.reference)
                    .order_by(tips.c.created_at.desc())
                    .limit(1)
                )
            ).one()
        filed.append(
            {
                "id": str(row.id),
                "reference": row.reference,
                "channel": "web",
                "lang": lang,
                "text": text,
                "receipt": receipt,
            }
        )
    return filed


async def _follow_up(client: httpx.AsyncClient, receipt: str, text: str) -> None:
    opened = await client.post("/followup", data={"receipt": receipt})
    added = await client.post("/followup/add", data={"receipt": receipt, "text": text})
    if opened.status_code != 200 or added.status_code not in (200, 303):
        raise SystemExit(f"follow-up answered {opened.status_code}, {added.status_code}")


async def _casework(app: HotlineApp, staff: dict[str, int], filed: list[dict[str, Any]]) -> None:
    engine = app.state.engine
    board = app.state.dashboard
    dispatcher = casework.Actor(staff["primary"])
    supervisor = casework.Actor(staff["supervisor"], supervisor=True)
    critical, passport, spanish, elm, elm_again, massage = (
        uuid.UUID(tip["id"]) for tip in filed[:6]
    )
    await casework.claim(engine, critical, dispatcher)
    await casework.add_note(
        engine, board.sealer, critical, dispatcher, text="Called local police, unit on the way"
    )
    await casework.reply(
        engine,
        board.committer,
        board.sealer,
        passport,
        dispatcher,
        text="Thank you. Are you safe where you are now?",
    )
    await casework.override_urgency(
        engine, board.sealer, massage, supervisor, to="medium", reason="Recruitment pattern"
    )
    service = await referrals.create_service(
        engine,
        referrals.validate_draft(
            referrals.ServiceDraft(
                kind="shelter",
                name="Safe Harbor Shelter",
                region="Bay Area",
                languages="en,es",
                hours="24/7",
                contact="+1 415 555 0100",
                description="Emergency housing for survivors",
                public=True,
            )
        ),
    )
    await referrals.attach(engine, tip_id=spanish, service_id=service, user_id=staff["primary"])
    await casework.merge(engine, elm_again, supervisor, into_reference=filed[3]["reference"])
    del elm
    await casework.change_status(
        engine, massage, supervisor, to="closed", close_reason="not_enough_information"
    )


def populate(data_dir: Path) -> list[dict[str, Any]]:
    """Fill a database at head through the real code paths; return what the tests need."""
    redis = EmbeddedRedis()
    redis.start()
    twilio = TwilioStandIn(TWILIO_ACCOUNT_SID)
    twilio.start()
    try:
        settings = fixture_settings(
            data_dir,
            redis_url=redis.url,
            public_url=SMS_PUBLIC_URL,
            twilio_account_sid=TWILIO_ACCOUNT_SID,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_from=TWILIO_FROM,
            twilio_api_url=twilio.url,
            escalation_minutes={"critical": 0.0005, "high": 0.0005},
            escalation_rounds=1,
        )
        db.upgrade(settings)  # before the event loop: Alembic runs its own
        install_keys(settings.keys_dir)
        return asyncio.run(_fill(settings, twilio))
    finally:
        twilio.stop()
        redis.stop()


async def _fill(settings: Settings, twilio: TwilioStandIn) -> list[dict[str, Any]]:
    app = create_app(settings, role="all")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as client:
            staff = await _staff(settings, app)
            filed = await _web_tips(client, app.state.engine)
            await _follow_up(client, filed[1]["receipt"], "He keeps the passports in a safe")
            sid = new_sid("MM")
            twilio.media[sid] = [Media("ME" + "4" * 32, "image/png", _png())]
            sms_text = "Girls kept at the nail salon on 5th, boss takes their money"
            await post_signed(
                client, inbound_params(sms_text, sender=SMS_SENDER, sid=sid, num_media=1)
            )
            await post_signed(
                client, inbound_params("They sleep in the back room", sender=SMS_SENDER)
            )
            await _run_worker(settings)  # dispatch, link, page, fetch media, delete
            await _casework(app, staff, filed)
            await sign_in(app, client, role="dispatcher", username="viewer")
            for tip in filed:
                page = await client.get(f"/dashboard/tips/{tip['id']}")
                if page.status_code != 200:
                    raise SystemExit(f"the tip view answered {page.status_code}")
            await _run_worker(settings)  # deliver what the casework queued
        async with app.state.engine.connect() as conn:
            sms_tip = (
                await conn.execute(sa.select(tips.c.id).where(tips.c.channel == "sms"))
            ).scalar_one()
            empty = [
                table.name
                for table in metadata.sorted_tables
                if (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
                == 0
            ]
    if empty:
        raise SystemExit(f"no rows in {', '.join(empty)}: teach this script to fill them")
    filed.append(
        {
            "id": str(sms_tip),
            "reference": None,
            "channel": "sms",
            "lang": "en",
            "text": sms_text,
            "receipt": None,
        }
    )
    return filed


def compact(path: Path) -> None:
    """One self-contained file: WAL folded in, rollback journal, 1 KiB pages, vacuumed."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA page_size=1024")
        conn.execute("VACUUM")
    finally:
        conn.close()


def build(revision_ids: list[str], head_dir: Path, filed: list[dict[str, Any]]) -> None:
    for revision in revision_ids:
        work = Path(tempfile.mkdtemp(prefix=f"hotline-fixture-{revision}-"))
        shutil.copy2(head_dir / "hotline.db", work / "hotline.db")
        db.downgrade(fixture_settings(work), revision)
        compact(work / "hotline.db")
        target = FIXTURES / f"{revision}.sqlite"
        shutil.copy2(work / "hotline.db", target)
        manifest = {"revision": revision, "passphrase": PASSPHRASE, "tips": filed}
        (FIXTURES / f"{revision}.json").write_text(json.dumps(manifest, indent=1) + "\n")
        shutil.rmtree(work)
        print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="rebuild every fixture")
    args = parser.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    wanted = [rev for rev in revisions() if args.all or not (FIXTURES / f"{rev}.sqlite").exists()]
    if not wanted:
        print("every revision has its fixture")
        return 0
    head_dir = Path(tempfile.mkdtemp(prefix="hotline-fixture-head-"))
    try:
        filed = populate(head_dir)
        build(wanted, head_dir, filed)
    finally:
        shutil.rmtree(head_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
