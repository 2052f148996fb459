"""``hotline rota`` and ``hotline user phone``, run as the operator runs them: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import accounts, db, keys, rota
from hotline.settings import Settings
from hotline.tables import audit_log, rota_shifts
from tests.conftest import stored_bytes

PASSWORD = "a long enough password"
WINDOW = ("--start", "2026-12-01 22:00", "--end", "2026-12-02 06:00")
NUMBER_FORMS = ("12025550167", "2025550167", "202-555-0167", "202 555 0167", "555-0167")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = db.create_engine(settings)
    yield eng
    await eng.dispose()


def hotline(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *argv],
        env={**os.environ, "HOTLINE_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def shifts(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(rota_shifts).order_by(rota_shifts.c.id))).all())


async def audit_details(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(audit_log.c.detail)
                    .where(audit_log.c.action == "user_change")
                    .order_by(audit_log.c.id)
                )
            ).scalars()
        )


async def test_rota_add_puts_a_madrid_shift_at_the_right_instants_and_remove_takes_it_away(
    settings: Settings, engine: AsyncEngine
) -> None:
    ana = await accounts.add_user(engine, "ana", PASSWORD, "dispatcher")

    added = hotline(
        settings,
        "rota",
        "add",
        "--layer",
        "primary",
        "--user",
        "ana",
        "--start",
        "2026-12-01 22:00",
        "--end",
        "2026-12-02 06:00",
        "--tz",
        "Europe/Madrid",
        "--override",
    )

    assert added.returncode == 0, added.stderr
    [row] = await shifts(engine)
    assert f"rota add: shift {row.id} (primary, ana, override)" in added.stdout
    assert "2026-12-01 22:00 CET (Europe/Madrid) = 2026-12-01 21:00 UTC" in added.stdout
    assert (row.user_id, row.starts_at, row.ends_at, row.tz, row.override) == (
        ana,
        datetime(2026, 12, 1, 21, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
        "Europe/Madrid",
        True,
    )
    assert row.created_by is None

    removed = hotline(settings, "rota", "remove", str(row.id))

    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"rota remove: shift {row.id} (primary) removed."
    assert await shifts(engine) == []
    assert await audit_details(engine) == [
        {"rota": "add", "shift_id": row.id, "layer": "primary", "by": "cli"},
        {"rota": "remove", "shift_id": row.id, "layer": "primary", "by": "cli"},
    ]
    again = hotline(settings, "rota", "remove", str(row.id))
    assert (again.returncode, again.stderr.strip()) == (1, f"hotline: shift {row.id}")


async def test_rota_list_shows_the_shifts_of_the_coming_days(
    settings: Settings, engine: AsyncEngine
) -> None:
    await accounts.add_user(engine, "ana", PASSWORD, "dispatcher")
    # Tomorrow and in 20 days (in UTC, the default zone), whatever the date today.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    later = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%d")
    for day, layer in ((tomorrow, "backup"), (later, "primary")):
        made = hotline(
            settings,
            "rota",
            "add",
            "--layer",
            layer,
            "--user",
            "ana",
            "--start",
            f"{day} 08:00",
            "--end",
            f"{day} 16:00",
        )
        assert made.returncode == 0, made.stderr
    soon, far = (row.id for row in await shifts(engine))

    listed = hotline(settings, "rota", "list")

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{soon}\tbackup\tana\tregular\t{tomorrow} 08:00 UTC (UTC) = {tomorrow} 08:00 UTC"
        f"\t{tomorrow} 16:00 UTC (UTC) = {tomorrow} 16:00 UTC"
    ]
    longer = hotline(settings, "rota", "list", "--days", "30")
    assert [line.split("\t")[0] for line in longer.stdout.splitlines()] == [str(soon), str(far)]
    wrong = hotline(settings, "rota", "list", "--days", "400")
    assert (wrong.returncode, wrong.stderr.strip()) == (
        1,
        "hotline: --days is between 1 and 366",
    )


async def test_rota_now_names_holders_and_warns_for_nobody_and_no_pager(
    settings: Settings, engine: AsyncEngine
) -> None:
    ana = await accounts.add_user(engine, "ana", PASSWORD, "dispatcher")
    ben = await accounts.add_user(engine, "ben", PASSWORD, "dispatcher")
    now = datetime.now(UTC)
    for user_id, layer in ((ana, "primary"), (ben, "backup")):
        await rota.add_shift(
            engine,
            layer=layer,
            user_id=user_id,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            tz="America/New_York",
            override=False,
            created_by=None,
        )
    phoned = hotline(settings, "user", "phone", "ana", "+1 202-555-0167")
    assert phoned.returncode == 0, phoned.stderr

    result = hotline(settings, "rota", "now")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("primary\tana\tregular\tuntil ")
    assert lines[0].endswith("\tpager ok")
    assert "(America/New_York)" in lines[0]
    assert lines[1].startswith("backup\tben\t")
    assert lines[1].endswith("\tNO PAGER NUMBER")
    assert lines[2] == "supervisor\tNOBODY\tpages for this layer reach no one"


async def test_user_phone_stores_the_number_sealed_and_never_prints_it(
    settings: Settings, engine: AsyncEngine
) -> None:
    ana = await accounts.add_user(engine, "ana", PASSWORD, "dispatcher")

    result = hotline(settings, "user", "phone", "ana", "(202) 555-0167")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"user phone: set to +1 •••• ••67 (user id {ana})."
    for form in NUMBER_FORMS:
        assert form not in result.stdout + result.stderr
    opener = keys.load_opener(settings.keys_dir, "test passphrase")
    assert await rota.contact_number(engine, opener, ana) == ("+12025550167", False)
    stored = stored_bytes(settings.data_dir)
    for form in NUMBER_FORMS:
        assert form.encode() not in stored, form

    cleared = hotline(settings, "user", "phone", "ana", "--clear")

    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == f"user phone: cleared (user id {ana})."
    assert await rota.contact_number(engine, opener, ana) == (None, False)
    assert await audit_details(engine) == [
        {"pager": "set", "user_id": ana, "by": "cli"},
        {"pager": "clear", "user_id": ana, "by": "cli"},
    ]


async def test_cli_errors_are_one_line_and_never_echo_a_number(
    settings: Settings, engine: AsyncEngine
) -> None:
    await accounts.add_user(engine, "ana", PASSWORD, "dispatcher")
    cases = [
        (
            (
                "rota",
                "add",
                "--layer",
                "primary",
                "--user",
                "ana",
                "--start",
                "2027-03-14 02:30",
                "--end",
                "2027-03-14 08:00",
                "--tz",
                "America/New_York",
            ),
            "hotline: 2027-03-14 02:30 does not exist in America/New_York",
        ),
        (
            ("rota", "add", "--layer", "supervisor", "--user", "ana", *WINDOW),
            "hotline: only a supervisor or an admin can hold the supervisor layer",
        ),
        (
            ("rota", "add", "--layer", "primary", "--user", "nobody", *WINDOW),
            "hotline: no user by that name",
        ),
        (
            ("rota", "add", "--layer", "primary", "--user", "ana", "--tz", "Mars/Base", *WINDOW),
            "hotline: the time zone is not a known IANA zone name",
        ),
        (
            ("user", "phone", "ana", "555 01 987 12"),
            "hotline: the pager number is not a valid phone number",
        ),
        (("user", "phone", "ana"), "hotline: give either a NUMBER or --clear"),
        (("user", "phone", "nobody", "+12025550167"), "hotline: no user by that name"),
    ]
    for argv, message in cases:
        result = hotline(settings, *argv)
        assert result.returncode == 1, argv
        assert result.stderr.strip().splitlines() == [result.stderr.strip()], argv
        assert result.stderr.strip().startswith(message), (argv, result.stderr)
        assert "987" not in result.stderr
        assert "5550167" not in result.stderr
    assert await shifts(engine) == []
