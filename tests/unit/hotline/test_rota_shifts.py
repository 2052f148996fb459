"""The rota: wall-clock times in a zone become the right UTC instants, and who is on call.

Time zone arithmetic is checked against instants worked out by hand from the zones' rules
(Madrid is UTC+1 in winter and +2 in summer; New York -5 and -4; both change at 2 a.m. or
3 a.m. local on different Sundays). Who is on call runs against a real SQLite file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import accounts, db, keys, rota
from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.settings import Settings

PASSWORD = "a long enough password"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- wall-clock times in a zone ---------------------------------------------------------


def test_a_madrid_evening_in_winter_is_one_hour_ahead_of_utc() -> None:
    assert rota.parse_local("2026-12-01 22:00", "Europe/Madrid") == utc(2026, 12, 1, 21, 0)


def test_a_madrid_evening_in_summer_is_two_hours_ahead_of_utc() -> None:
    assert rota.parse_local("2026-07-01 22:00", "Europe/Madrid") == utc(2026, 7, 1, 20, 0)


def test_a_new_york_night_shift_across_the_spring_change_lasts_seven_hours() -> None:
    # 2026-03-08: New York goes from EST (-5) to EDT (-4) at 02:00 local.
    start = rota.parse_local("2026-03-07 22:00", "America/New_York")
    end = rota.parse_local("2026-03-08 06:00", "America/New_York")
    assert start == utc(2026, 3, 8, 3, 0)
    assert end == utc(2026, 3, 8, 10, 0)
    assert end - start == timedelta(hours=7)


def test_a_madrid_night_shift_across_the_autumn_change_lasts_nine_hours() -> None:
    # 2026-10-25: Madrid goes from CEST (+2) to CET (+1) at 03:00 local.
    start = rota.parse_local("2026-10-24 22:00", "Europe/Madrid")
    end = rota.parse_local("2026-10-25 06:00", "Europe/Madrid")
    assert start == utc(2026, 10, 24, 20, 0)
    assert end == utc(2026, 10, 25, 5, 0)
    assert end - start == timedelta(hours=9)


@pytest.mark.parametrize(
    ("day", "clock", "zone"),
    [
        (date(2026, 3, 8), time(2, 30), "America/New_York"),
        (date(2026, 3, 29), time(2, 0), "Europe/Madrid"),
        (date(2026, 3, 29), time(2, 59), "Europe/Madrid"),
    ],
)
def test_a_time_the_clocks_skip_is_refused_with_a_clear_message(
    day: date, clock: time, zone: str
) -> None:
    with pytest.raises(InvalidInputError, match="does not exist in") as caught:
        rota.local_to_utc(day, clock, zone)
    assert zone in str(caught.value)
    assert "skip" in str(caught.value)


def test_the_edges_of_a_gap_exist() -> None:
    assert rota.local_to_utc(date(2026, 3, 29), time(1, 59), "Europe/Madrid") == utc(
        2026, 3, 29, 0, 59
    )
    assert rota.local_to_utc(date(2026, 3, 29), time(3, 0), "Europe/Madrid") == utc(
        2026, 3, 29, 1, 0
    )


def test_a_time_that_happens_twice_is_the_first_occurrence() -> None:
    # 2026-11-01 01:30 happens in EDT (05:30 UTC) and again in EST (06:30 UTC).
    first = rota.local_to_utc(date(2026, 11, 1), time(1, 30), "America/New_York")
    assert first == utc(2026, 11, 1, 5, 30)
    # Even when the caller's time asks for the second one.
    again = rota.local_to_utc(date(2026, 11, 1), time(1, 30, fold=1), "America/New_York")
    assert again == first
    assert rota.local_to_utc(date(2026, 10, 25), time(2, 30), "Europe/Madrid") == utc(
        2026, 10, 25, 0, 30
    )


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "", "../etc/passwd", "utc+1", "x" * 80])
def test_an_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidInputError, match="IANA"):
        rota.parse_local("2026-12-01 22:00", zone)


@pytest.mark.parametrize("text", ["2026-12-01", "22:00", "01/12/2026 22:00", "2026-13-01 10:00"])
def test_a_malformed_time_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="YYYY-MM-DD HH:MM"):
        rota.parse_local(text, "UTC")


def test_an_instant_is_shown_in_the_shift_zone() -> None:
    shown = rota.in_zone(utc(2026, 12, 2, 5, 0), "Europe/Madrid")
    assert (shown.hour, shown.tzname()) == (6, "CET")


# --- pager numbers, without a database --------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+1 202-555-0167", "US", "+12025550167"),
        ("(202) 555-0167", "US", "+12025550167"),
        ("612 34 56 78", "ES", "+34612345678"),
        ("+34 612 345 678", "US", "+34612345678"),
    ],
)
def test_a_pager_number_is_normalised_to_e164(typed: str, region: str, e164: str) -> None:
    assert rota.normalise_number(typed, region=region) == e164


@pytest.mark.parametrize("typed", ["", "12", "not a number", "+1 202 555 01", "+" + "9" * 40])
def test_a_bad_pager_number_is_refused_without_echoing_it(typed: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        rota.normalise_number(typed, region="US")
    assert not any(ch.isdigit() for ch in str(caught.value))


def test_a_number_is_masked_to_its_country_code_and_last_two_digits() -> None:
    assert rota.mask_number("+12025550167") == "+1 •••• ••67"
    assert rota.mask_number("+34612345678") == "+34 •••• ••78"
    assert "0167" not in rota.mask_number("+12025550167")


# --- shifts and who is on call, on a real SQLite file -----------------------------------


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = db.create_engine(settings)
    yield eng
    await eng.dispose()


async def make_user(engine: AsyncEngine, name: str, role: str = "dispatcher") -> int:
    return await accounts.add_user(engine, name, PASSWORD, role)  # type: ignore[arg-type]


async def shift(
    engine: AsyncEngine,
    user_id: int,
    *,
    layer: str = "primary",
    hours: tuple[int, int] = (-1, 8),
    override: bool = False,
    created: datetime = T0,
) -> int:
    return await rota.add_shift(
        engine,
        layer=layer,
        user_id=user_id,
        starts_at=T0 + timedelta(hours=hours[0]),
        ends_at=T0 + timedelta(hours=hours[1]),
        tz="Europe/Madrid",
        override=override,
        created_by=None,
        now=created,
    )


async def test_an_override_wins_over_a_regular_shift_even_a_newer_one(engine: AsyncEngine) -> None:
    ana, ben = await make_user(engine, "ana"), await make_user(engine, "ben")
    swap = await shift(engine, ben, hours=(0, 2), override=True, created=T0 - timedelta(days=2))
    await shift(engine, ana, created=T0 - timedelta(days=1))
    holder = await rota.on_call(engine, "primary", T0 + timedelta(minutes=30))
    assert holder is not None
    assert (holder.username, holder.shift_id, holder.override) == ("ben", swap, True)
    # When the swap ends, the regular shift is back in force.
    after = await rota.on_call(engine, "primary", T0 + timedelta(hours=2))
    assert after is not None
    assert after.username == "ana"


async def test_the_latest_created_of_two_overlapping_regular_shifts_wins(
    engine: AsyncEngine,
) -> None:
    ana, ben = await make_user(engine, "ana"), await make_user(engine, "ben")
    newer = await shift(engine, ana, created=T0 - timedelta(hours=1))
    await shift(engine, ben, created=T0 - timedelta(hours=5))
    holder = await rota.on_call(engine, "primary", T0)
    assert holder is not None
    assert (holder.username, holder.shift_id) == ("ana", newer)


async def test_a_disabled_user_is_never_on_call(engine: AsyncEngine) -> None:
    ana, ben = await make_user(engine, "ana"), await make_user(engine, "ben")
    await shift(engine, ben, created=T0 - timedelta(days=1))
    await shift(engine, ana, override=True)
    await accounts.disable_user(engine, ana)
    holder = await rota.on_call(engine, "primary", T0)
    assert holder is not None
    assert holder.username == "ben"
    await accounts.disable_user(engine, ben)
    assert await rota.on_call(engine, "primary", T0) is None


async def test_a_shift_covers_its_start_but_not_its_end(engine: AsyncEngine) -> None:
    ana = await make_user(engine, "ana")
    await shift(engine, ana, hours=(0, 8))
    assert await rota.on_call(engine, "primary", T0) is not None
    assert await rota.on_call(engine, "primary", T0 - timedelta(seconds=1)) is None
    assert await rota.on_call(engine, "primary", T0 + timedelta(hours=8)) is None


async def test_on_call_now_names_every_layer_in_order(engine: AsyncEngine) -> None:
    ana, sue = await make_user(engine, "ana"), await make_user(engine, "sue", "supervisor")
    await shift(engine, ana, layer="backup")
    await shift(engine, sue, layer="supervisor")
    now = await rota.on_call_now(engine, T0)
    assert list(now) == ["primary", "backup", "supervisor"]
    assert now["primary"] is None
    assert now["backup"] is not None
    assert now["backup"].username == "ana"
    assert now["supervisor"] is not None
    assert now["supervisor"].tz == "Europe/Madrid"


async def test_list_shifts_names_the_users_and_filters_by_layer(engine: AsyncEngine) -> None:
    ana, ben = await make_user(engine, "ana"), await make_user(engine, "ben")
    first = await shift(engine, ana, hours=(1, 3))
    second = await shift(engine, ben, layer="backup", hours=(2, 4))
    await shift(engine, ben, hours=(24 * 20, 24 * 20 + 8))  # outside the window
    listed = await rota.list_shifts(engine, T0, T0 + timedelta(days=14))
    assert [(s.id, s.username, s.layer) for s in listed] == [
        (first, "ana", "primary"),
        (second, "ben", "backup"),
    ]
    backups = await rota.list_shifts(engine, T0, T0 + timedelta(days=14), layer="backup")
    assert [s.id for s in backups] == [second]


async def test_removing_a_shift_takes_its_holder_off_call(engine: AsyncEngine) -> None:
    ana = await make_user(engine, "ana")
    shift_id = await shift(engine, ana)
    removed = await rota.remove_shift(engine, shift_id)
    assert (removed.id, removed.username) == (shift_id, "ana")
    assert await rota.on_call(engine, "primary", T0) is None
    with pytest.raises(NotFoundError):
        await rota.remove_shift(engine, shift_id)


async def test_shifts_that_make_no_sense_are_refused(engine: AsyncEngine) -> None:
    ana = await make_user(engine, "ana")
    base = {"layer": "primary", "user_id": ana, "tz": "UTC", "override": False, "created_by": None}
    cases = [
        ({"starts_at": T0, "ends_at": T0}, "end after"),
        ({"starts_at": T0, "ends_at": T0 - timedelta(hours=1)}, "end after"),
        ({"starts_at": T0, "ends_at": T0 + timedelta(days=31, seconds=1)}, "31 days"),
        ({"starts_at": T0.replace(tzinfo=None), "ends_at": T0 + timedelta(hours=1)}, "naive"),
        ({"starts_at": T0, "ends_at": T0 + timedelta(hours=1), "tz": "Mars/Olympus"}, "IANA"),
        ({"starts_at": T0, "ends_at": T0 + timedelta(hours=1), "layer": "tertiary"}, "layer"),
    ]
    for change, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            await rota.add_shift(engine, **{**base, **change})  # type: ignore[arg-type]
    # Exactly 31 days is allowed.
    longest = {**base, "starts_at": T0, "ends_at": T0 + timedelta(days=31)}
    assert await rota.add_shift(engine, **longest) > 0  # type: ignore[arg-type]


async def test_the_supervisor_layer_is_for_supervisors_and_admins_only(engine: AsyncEngine) -> None:
    ana = await make_user(engine, "ana")
    sue = await make_user(engine, "sue", "supervisor")
    root = await make_user(engine, "root", "admin")
    window = {"starts_at": T0, "ends_at": T0 + timedelta(hours=8), "tz": "UTC"}
    with pytest.raises(InvalidInputError, match="supervisor"):
        await rota.add_shift(
            engine, layer="supervisor", user_id=ana, override=False, created_by=None, **window
        )
    for user_id in (sue, root):
        await rota.add_shift(
            engine, layer="supervisor", user_id=user_id, override=False, created_by=None, **window
        )


async def test_a_disabled_or_missing_user_gets_no_shift(engine: AsyncEngine) -> None:
    ana = await make_user(engine, "ana")
    await accounts.disable_user(engine, ana)
    window = {"starts_at": T0, "ends_at": T0 + timedelta(hours=8), "tz": "UTC"}
    with pytest.raises(InvalidInputError, match="disabled"):
        await rota.add_shift(
            engine, layer="primary", user_id=ana, override=False, created_by=None, **window
        )
    with pytest.raises(NotFoundError):
        await rota.add_shift(
            engine, layer="primary", user_id=9999, override=False, created_by=None, **window
        )


async def test_a_pager_number_round_trips_sealed_and_is_found_by_its_hash(
    engine: AsyncEngine, settings: Settings
) -> None:
    sealer, hasher = keys.load_sealer(settings.keys_dir), keys.load_hash_key(settings.keys_dir)
    opener = keys.load_opener(settings.keys_dir, "test passphrase")
    ana, ben = await make_user(engine, "ana"), await make_user(engine, "ben")
    assert await rota.contact_number(engine, opener, ana) == (None, False)
    await rota.set_contact(engine, sealer, hasher, ana, "(202) 555-0167", region="US")
    assert await rota.contact_number(engine, opener, ana) == ("+12025550167", False)
    assert await rota.user_for_phone(engine, hasher, "+12025550167") == ana
    assert await rota.user_for_phone(engine, hasher, "+12025550168") is None
    with pytest.raises(ConflictError):
        await rota.set_contact(engine, sealer, hasher, ben, "+1 202 555 0167", region="US")
    await rota.set_opted_out(engine, ana, True)
    assert await rota.contact_states(engine) == {ana: True}
    # Saving the number again is how its owner opts back in.
    await rota.set_contact(engine, sealer, hasher, ana, "+1 202 555 0167", region="US")
    assert await rota.contact_number(engine, opener, ana) == ("+12025550167", False)
    await rota.clear_contact(engine, ana)
    assert await rota.contact_number(engine, opener, ana) == (None, False)
    assert await rota.user_for_phone(engine, hasher, "+12025550167") is None
