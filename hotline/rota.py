"""The on-call rota: who holds each layer (primary, backup, supervisor) and how to page them.

A shift is a span of time, stored in UTC, with the IANA zone it was written in so it can be
shown back in that zone. An override shift (a swap) wins over the regular shifts of its layer
while it lasts; among shifts of the same kind, the latest created wins. A disabled user is
never on call.

Each user's pager number exists at rest only sealed (bound to the user's own id) and as a
keyed hash, which is how an inbound ``ACK`` text finds its sender without a number in clear.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.keys import KeyedHash
from hotline.seal import Opener, Sealer
from hotline.tables import oncall_contacts, rota_shifts, users

LAYERS = ("primary", "backup", "supervisor")
# Who may hold the supervisor layer: the people escalation ends with.
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
MAX_SHIFT = timedelta(days=31)
PHONE_FIELD = "oncall-phone"
PHONE_DOMAIN = "oncall-phone"
MAX_NUMBER = 32  # characters typed; any real number, with spaces, fits


@dataclass(frozen=True, slots=True)
class OnCall:
    """The person holding a layer at some instant, and the shift that puts them there."""

    layer: str
    user_id: int
    username: str
    shift_id: int
    starts_at: datetime
    ends_at: datetime
    tz: str
    override: bool


@dataclass(frozen=True, slots=True)
class Shift:
    """A rota shift as the rota page and the CLI list it."""

    id: int
    layer: str
    user_id: int
    username: str
    disabled: bool
    starts_at: datetime
    ends_at: datetime
    tz: str
    override: bool
    created_at: datetime


# --- time zones ----------------------------------------------------------------------------


def check_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (an IANA name such as ``Europe/Madrid``), or InvalidInputError."""
    text = name.strip()
    if not text or len(text) > 64 or text not in _zone_names():
        raise InvalidInputError("the time zone is not a known IANA zone name")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError("the time zone is not a known IANA zone name") from exc


@functools.cache
def _zone_names() -> frozenset[str]:
    # Computed once: the list reads hundreds of files.
    return frozenset(available_timezones()) | {"UTC"}


def zone_names() -> list[str]:
    """Every IANA zone name, sorted (for a select box)."""
    return sorted(_zone_names())


def local_to_utc(day: date, clock: time, zone: str) -> datetime:
    """The UTC instant of a wall-clock time in ``zone``.

    A time that does not exist there (skipped when the clocks go forward) is refused; a time
    that happens twice (when the clocks go back) is the first occurrence (``fold=0``).
    """
    tzinfo = check_zone(zone)
    wall = datetime.combine(day, clock.replace(tzinfo=None, fold=0))
    local = wall.replace(tzinfo=tzinfo)
    # A nonexistent wall time does not survive a round trip through UTC.
    back = local.astimezone(UTC).astimezone(tzinfo).replace(tzinfo=None)
    if back != wall:
        raise InvalidInputError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {tzinfo.key}: "
            "the clocks skip that hour; pick a time outside the gap"
        )
    return local.astimezone(UTC)


def parse_local(text: str, zone: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` (or ``T`` between) in ``zone`` as a UTC instant."""
    cleaned = text.strip().replace("T", " ")
    try:
        wall = datetime.strptime(cleaned, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - local by design
    except ValueError as exc:
        raise InvalidInputError("a time is written YYYY-MM-DD HH:MM") from exc
    return local_to_utc(wall.date(), wall.time(), zone)


def in_zone(instant: datetime, zone: str) -> datetime:
    """``instant`` shown in ``zone`` (UTC when the name is not a zone any more)."""
    try:
        return instant.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return instant.astimezone(UTC)


# --- who is on call ------------------------------------------------------------------------


def _on_call(row: Any) -> OnCall:
    return OnCall(
        layer=str(row.layer),
        user_id=int(row.user_id),
        username=str(row.username),
        shift_id=int(row.id),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        tz=str(row.tz),
        override=bool(row.override),
    )


def _check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise InvalidInputError("the layer is not one of primary, backup, supervisor")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise InvalidInputError("a naive time was given where an instant is needed")
    return at.astimezone(UTC)


async def on_call(engine: AsyncEngine, layer: str, at: datetime) -> OnCall | None:
    """Who holds ``layer`` at ``at``: an override shift covering ``at`` wins over a
    regular one; among equals the latest-created shift; disabled users never."""
    _check_layer(layer)
    instant = _aware(at)
    query = (
        sa.select(
            rota_shifts.c.id,
            rota_shifts.c.layer,
            rota_shifts.c.user_id,
            rota_shifts.c.starts_at,
            rota_shifts.c.ends_at,
            rota_shifts.c.tz,
            rota_shifts.c.override,
            users.c.username,
        )
        .join(users, users.c.id == rota_shifts.c.user_id)
        .where(
            rota_shifts.c.layer == layer,
            rota_shifts.c.starts_at <= instant,
            rota_shifts.c.ends_at > instant,
            users.c.disabled == sa.false(),
        )
        .order_by(
            rota_shifts.c.override.desc(),
            rota_shifts.c.created_at.desc(),
            rota_shifts.c.id.desc(),
        )
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else _on_call(row)


async def on_call_now(engine: AsyncEngine, at: datetime) -> dict[str, OnCall | None]:
    """Every layer, in LAYERS order."""
    return {layer: await on_call(engine, layer, at) for layer in LAYERS}


# --- shifts --------------------------------------------------------------------------------


async def add_shift(
    engine: AsyncEngine,
    *,
    layer: str,
    user_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz: str,
    override: bool,
    created_by: int | None,
    now: datetime | None = None,
) -> int:
    """Add a shift and return its id. The times are instants (aware); ``tz`` is the zone
    they were written in. The supervisor layer is for supervisors and admins only."""
    _check_layer(layer)
    zone = check_zone(tz)
    start, end = _aware(starts_at), _aware(ends_at)
    if end <= start:
        raise InvalidInputError("a shift must end after it starts")
    if end - start > MAX_SHIFT:
        raise InvalidInputError("a shift lasts at most 31 days")
    async with engine.begin() as conn:
        user = (
            await conn.execute(
                sa.select(users.c.role, users.c.disabled).where(users.c.id == user_id)
            )
        ).first()
        if user is None:
            raise NotFoundError(f"user {user_id}")
        if user.disabled:
            raise InvalidInputError("a disabled user cannot be on call")
        if layer == "supervisor" and user.role not in SUPERVISOR_ROLES:
            raise InvalidInputError("only a supervisor or an admin can hold the supervisor layer")
        result = await conn.execute(
            rota_shifts.insert().values(
                layer=layer,
                user_id=user_id,
                starts_at=start,
                ends_at=end,
                tz=zone.key,
                override=override,
                created_by=created_by,
                created_at=now or datetime.now(UTC),
            )
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def get_shift(engine: AsyncEngine, shift_id: int) -> Shift:
    """One shift, or NotFoundError."""
    async with engine.connect() as conn:
        row = (await conn.execute(_shift_query().where(rota_shifts.c.id == shift_id))).first()
    if row is None:
        raise NotFoundError(f"shift {shift_id}")
    return _shift(row)


async def remove_shift(engine: AsyncEngine, shift_id: int) -> Shift:
    """Delete a shift and return what it was; NotFoundError when there is none."""
    async with engine.begin() as conn:
        row = (await conn.execute(_shift_query().where(rota_shifts.c.id == shift_id))).first()
        if row is None:
            raise NotFoundError(f"shift {shift_id}")
        await conn.execute(rota_shifts.delete().where(rota_shifts.c.id == shift_id))
    return _shift(row)


def _shift_query() -> sa.Select[Any]:
    return sa.select(
        rota_shifts.c.id,
        rota_shifts.c.layer,
        rota_shifts.c.user_id,
        rota_shifts.c.starts_at,
        rota_shifts.c.ends_at,
        rota_shifts.c.tz,
        rota_shifts.c.override,
        rota_shifts.c.created_at,
        users.c.username,
        users.c.disabled,
    ).join(users, users.c.id == rota_shifts.c.user_id)


def _shift(row: Any) -> Shift:
    return Shift(
        id=int(row.id),
        layer=str(row.layer),
        user_id=int(row.user_id),
        username=str(row.username),
        disabled=bool(row.disabled),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        tz=str(row.tz),
        override=bool(row.override),
        created_at=row.created_at,
    )


async def list_shifts(
    engine: AsyncEngine, start: datetime, end: datetime, *, layer: str | None = None
) -> list[Shift]:
    """Shifts that overlap [start, end), by start time then layer."""
    if layer is not None:
        _check_layer(layer)
    query = _shift_query().where(
        rota_shifts.c.ends_at > _aware(start), rota_shifts.c.starts_at < _aware(end)
    )
    if layer is not None:
        query = query.where(rota_shifts.c.layer == layer)
    order = sa.case({name: index for index, name in enumerate(LAYERS)}, value=rota_shifts.c.layer)
    query = query.order_by(rota_shifts.c.starts_at, order, rota_shifts.c.id)
    async with engine.connect() as conn:
        return [_shift(row) for row in (await conn.execute(query)).all()]


# --- pager numbers -------------------------------------------------------------------------


def contact_tip_id(user_id: int) -> uuid.UUID:
    """What a user's pager number is sealed to (no tip: the user's own id, as a UUID)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hotline:user:{user_id}")


def phone_digest(hasher: KeyedHash, e164: str) -> bytes:
    """The keyed hash a pager number is found by."""
    return hasher.digest(PHONE_DOMAIN, e164)


def normalise_number(number: str, *, region: str) -> str:
    """``number`` in E.164, read as a number of ``region`` when it has no ``+``;
    InvalidInputError (naming no digits) when it is not a valid phone number."""
    text = number.strip()
    if not text or len(text) > MAX_NUMBER:
        raise InvalidInputError("the pager number is not a valid phone number")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInputError("the pager number is not a valid phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInputError("the pager number is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_number(e164: str) -> str:
    """A number shown without giving it away: country code and last two digits only
    (``+1 •••• ••67``)."""
    try:
        parsed = phonenumbers.parse(e164, None)
        country = f"+{parsed.country_code}"
    except phonenumbers.NumberParseException:
        country = "+"
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return f"{country} •••• ••{digits[-2:]}" if len(digits) >= 4 else f"{country} ••••"


async def set_contact(
    engine: AsyncEngine,
    sealer: Sealer,
    hasher: KeyedHash,
    user_id: int,
    number: str,
    *,
    region: str,
    now: datetime | None = None,
) -> None:
    """Normalise with phonenumbers (region for numbers without +), seal (tip_id=
    uuid.uuid5(uuid.NAMESPACE_URL, f"hotline:user:{user_id}"), field "oncall-phone"),
    hash, upsert; InvalidInputError for a bad number; resets opted_out."""
    e164 = normalise_number(number, region=region)
    sealed = sealer.seal(e164.encode("ascii"), tip_id=contact_tip_id(user_id), field=PHONE_FIELD)
    digest = phone_digest(hasher, e164)
    values = {
        "phone_sealed": sealed,
        "phone_hash": digest,
        "opted_out": False,
        "updated_at": now or datetime.now(UTC),
    }
    try:
        async with engine.begin() as conn:
            exists = (
                await conn.execute(sa.select(users.c.id).where(users.c.id == user_id))
            ).first()
            if exists is None:
                raise NotFoundError(f"user {user_id}")
            changed = await conn.execute(
                oncall_contacts.update()
                .where(oncall_contacts.c.user_id == user_id)
                .values(**values)
            )
            if changed.rowcount == 0:
                await conn.execute(oncall_contacts.insert().values(user_id=user_id, **values))
    except IntegrityError as exc:
        raise ConflictError(f"another user has this pager number (user {user_id})") from exc


async def clear_contact(engine: AsyncEngine, user_id: int) -> None:
    """Forget a user's pager number (nothing happens when there was none)."""
    async with engine.begin() as conn:
        await conn.execute(oncall_contacts.delete().where(oncall_contacts.c.user_id == user_id))


async def contact_number(
    engine: AsyncEngine, opener: Opener, user_id: int
) -> tuple[str | None, bool]:
    """(E.164 number or None when the user registered none, opted_out)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(oncall_contacts.c.phone_sealed, oncall_contacts.c.opted_out).where(
                    oncall_contacts.c.user_id == user_id
                )
            )
        ).first()
    if row is None:
        return None, False
    number = opener.open(row.phone_sealed, tip_id=contact_tip_id(user_id), field=PHONE_FIELD)
    return number.decode("ascii"), bool(row.opted_out)


async def contact_states(engine: AsyncEngine) -> dict[int, bool]:
    """Every user with a pager number: user id → opted out (no decryption needed)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(oncall_contacts.c.user_id, oncall_contacts.c.opted_out))
        ).all()
    return {int(row.user_id): bool(row.opted_out) for row in rows}


async def user_for_phone(engine: AsyncEngine, hasher: KeyedHash, e164: str) -> int | None:
    """The user whose pager number is ``e164`` (matched by keyed hash), or None.

    Disabled users are found too: their ACK is refused by the caller, not taken for a
    reporter's new tip."""
    digest = phone_digest(hasher, e164)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(oncall_contacts.c.user_id).where(oncall_contacts.c.phone_hash == digest)
            )
        ).first()
    return None if row is None else int(row.user_id)


async def set_opted_out(
    engine: AsyncEngine,
    user_id: int,
    opted_out: bool,
    *,
    unchanged_since: datetime | None = None,
) -> None:
    """Mark a pager number as opted out (its owner texted STOP) or back in.

    ``unchanged_since``: only if the contact was not changed after then (a late carrier
    report about an old number must not mark the new one)."""
    query = oncall_contacts.update().where(oncall_contacts.c.user_id == user_id)
    if unchanged_since is not None:
        query = query.where(oncall_contacts.c.updated_at <= unchanged_since)
    async with engine.begin() as conn:
        await conn.execute(query.values(opted_out=opted_out, updated_at=datetime.now(UTC)))
