"""The database locked or the disk full: the reporter is told plainly that nothing was
saved (503, in their language, with the numbers to call), no partial row is left, and the
next report after the fault goes through.

The SMS webhook answers the same fault with a 503 and no reply text: Twilio then calls the
number's fallback URL if one is set, and retries the webhook when its URL asks for retries
on 5xx answers (a ``#rc=3&rp=5xx,ct,rt`` connection override). A retry carries the same
MessageSid, which the webhook stores as a keyed hash, so it opens the tip exactly once.

Every fault here is real: another connection's EXCLUSIVE lock held past the busy timeout;
a tmpfs filled to its last block; a file-size limit (RLIMIT_FSIZE) on the writer process.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shutil
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline.errors import StorageUnavailableError
from hotline.intake import Report
from hotline.settings import Settings
from hotline.tables import receipt_handoffs, sms_messages, sms_threads, tip_events, tips
from tests.conftest import (
    CLIENT_ADDRESS,
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
    make_settings,
)
from tests.faults.support import record
from tests.helpers import submit
from tests.sms_helpers import inbound_params, post_signed
from tests.twilio_standin import TwilioStandIn
from web.app import HotlineApp, create_app

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only("locks and fills the SQLite file")]

BUSY_TIMEOUT_MS = 300
TABLES = (tips, receipt_handoffs, tip_events, sms_messages, sms_threads)
NOT_SAVED = {"en": "Your report was NOT saved", "es": "Tu denuncia NO se guardó"}


def fault_settings(data_dir: Path, twilio_api: TwilioStandIn) -> Settings:
    return make_settings(
        data_dir,
        key_passphrase="test passphrase",
        sqlite_busy_timeout_ms=BUSY_TIMEOUT_MS,
        public_url=SMS_PUBLIC_URL,
        twilio_account_sid=TWILIO_ACCOUNT_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from=TWILIO_FROM,
        twilio_api_url=twilio_api.url,
    )


@contextlib.asynccontextmanager
async def site(settings: Settings) -> AsyncIterator[tuple[HotlineApp, httpx.AsyncClient]]:
    app = create_app(settings, role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as client:
            yield app, client


async def row_counts(app: HotlineApp) -> dict[str, int]:
    async with app.state.engine.connect() as conn:
        return {
            table.name: int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )
            for table in TABLES
        }


def assert_not_saved_page(answer: httpx.Response, lang: str, settings: Settings, text: str) -> None:
    assert answer.status_code == 503
    assert NOT_SAVED[lang] in answer.text
    assert settings.emergency_numbers_for(lang) in answer.text.replace("&#39;", "'")
    assert text in answer.text, "the reporter's text is kept, to send again"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in answer.headers


async def report_during_fault(
    client: httpx.AsyncClient, settings: Settings, sms: dict[str, str]
) -> tuple[float, httpx.Response]:
    """A report in English and one in Spanish at once, then a text message: all refused."""
    started = time.monotonic()
    english, spanish = await asyncio.gather(
        submit(client, "Seen at the harbour gate tonight"),
        client.post("/report?lang=es", data={"what": "Visto en la puerta del puerto"}),
    )
    elapsed = time.monotonic() - started
    assert_not_saved_page(english, "en", settings, "Seen at the harbour gate tonight")
    assert_not_saved_page(spanish, "es", settings, "Visto en la puerta del puerto")
    texted = await post_signed(client, sms)
    assert texted.status_code == 503, "a 5xx, so that Twilio's retry policy applies"
    assert "<Message" not in texted.text, "no reply that claims the message was received"
    return elapsed, texted


async def report_after_fault(client: httpx.AsyncClient, sms: dict[str, str]) -> None:
    """The fault cleared: a report goes through, and Twilio's retry opens one tip."""
    assert (await submit(client, "Seen again at the harbour gate")).status_code == 303
    retried = await post_signed(client, sms)  # the same MessageSid: Twilio's retry
    assert retried.status_code == 200
    assert "<Message" in retried.text
    again = await post_signed(client, sms)  # a second retry changes nothing
    assert again.status_code == 200


async def test_a_locked_database_answers_503_not_saved_and_keeps_no_partial_row(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis
) -> None:
    settings = fault_settings(data_dir, twilio_api)
    sms = inbound_params("Someone is held at the farm on route 9")
    async with site(settings) as (app, client):
        assert (await submit(client, "A first report before the lock")).status_code == 303
        before = await row_counts(app)
        locker = sqlite3.connect(data_dir / "hotline.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # held until the reports have been refused
            waited, _texted = await report_during_fault(client, settings, sms)
            during = await row_counts(app)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await report_after_fault(client, sms)
        after = await row_counts(app)

    assert during == before, "nothing of the refused reports was written"
    assert waited >= BUSY_TIMEOUT_MS / 1000, "the lock outlasted the busy timeout"
    assert after["tips"] == before["tips"] + 2  # the web report and the retried SMS
    assert after["sms_messages"] == before["sms_messages"] + 1
    record(
        "database_locked",
        refused_with_503=3,
        partial_rows=sum(during.values()) - sum(before.values()),
        busy_timeout_ms=BUSY_TIMEOUT_MS,
        seconds_to_answer=round(waited, 2),
        tips_after_fault_cleared=after["tips"] - before["tips"],
    )


async def test_a_locked_database_fails_a_whole_batch_after_one_wait_not_one_per_report(
    data_dir: Path,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Six reporters who share a batch share its one lock wait: the batch is not retried
    report by report (only a collided identifier is worth isolating)."""
    settings = fault_settings(data_dir, twilio_api)
    async with site(settings) as (app, _client):
        intake = app.state.public.intake
        locker = sqlite3.connect(data_dir / "hotline.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            capfd.readouterr()
            # Queued in one go, so the group committer takes them as one batch.
            outcomes = await asyncio.gather(
                *(intake.submit_web(Report(what=f"report {n}"), lang="en") for n in range(6)),
                return_exceptions=True,
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        transactions = capfd.readouterr().err.count("writer_commit_failed")
    assert all(isinstance(outcome, StorageUnavailableError) for outcome in outcomes)
    assert transactions == 1


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of the test's own (root only)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(
            "mounting a tmpfs needs root (CAP_SYS_ADMIN); "
            "the RLIMIT_FSIZE case still fills the disk for the writer"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def fill(path: Path) -> int:
    """Write to ``path`` until the file system has no block left; the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as filler:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            with contextlib.suppress(OSError):
                while True:
                    written += filler.write(b"\0" * chunk)
    return written


class _DiskFull:
    """A full disk for the SQLite writer: ``start`` fills it, ``clear`` frees it."""

    def __init__(self, how: str, data_dir: Path, app: HotlineApp) -> None:
        self.how = how
        self.data_dir = data_dir
        self.app = app
        self.filler = data_dir / "filler"
        self.limits = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)  # the writer's, saved

    def start(self) -> None:
        if self.how == "tmpfs":
            assert fill(self.filler) > 0
            return
        # RLIMIT_FSIZE on the writer process: no file of its may grow past the log's
        # size now (the soft limit: it can be lifted again without privileges).
        writer: Any = self.app.state.committer._writer._process
        wal = (self.data_dir / "hotline.db-wal").stat().st_size
        self.limits = resource.prlimit(writer.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, (wal, self.limits[1]))

    def clear(self) -> None:
        if self.how == "tmpfs":
            self.filler.unlink()
            return
        writer: Any = self.app.state.committer._writer._process
        resource.prlimit(writer.pid, resource.RLIMIT_FSIZE, self.limits)


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
async def test_a_full_disk_answers_503_not_saved_and_keeps_no_partial_row(
    how: str,
    data_dir: Path,
    tmp_path: Path,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    request: pytest.FixtureRequest,
) -> None:
    if how == "tmpfs":
        target = request.getfixturevalue("tiny_disk") / "data"
        shutil.copytree(data_dir, target)
        data_dir = target
    settings = fault_settings(data_dir, twilio_api)
    sms = inbound_params("They took our papers at the farm")
    async with site(settings) as (app, client):
        # A first report: the log file exists, the next commit must grow it.
        assert (await submit(client, "A first report before the disk fills")).status_code == 303
        before = await row_counts(app)
        disk = _DiskFull(how, data_dir, app)
        disk.start()
        try:
            _waited, _texted = await report_during_fault(client, settings, sms)
            during = await row_counts(app)
        finally:
            disk.clear()
        await report_after_fault(client, sms)
        after = await row_counts(app)

    assert during == before, "nothing of the refused reports was written"
    assert after["tips"] == before["tips"] + 2
    assert after["sms_messages"] == before["sms_messages"] + 1
    record(
        f"disk_full_{how}",
        refused_with_503=3,
        partial_rows=sum(during.values()) - sum(before.values()),
        tips_after_fault_cleared=after["tips"] - before["tips"],
    )
