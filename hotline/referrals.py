"""The referral directory: partner services a dispatcher refers victims to.

Admins keep the directory; dispatchers attach services to tips. A service is never
deleted, only deactivated, so a tip's referral history keeps naming what it was referred
to. Services are written by staff, not by reporters, so they are stored in the clear;
those marked public are listed on the public "Get help" page.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.errors import InvalidInputError, NotFoundError
from hotline.tables import referral_services, tip_events, tip_referrals, tips, users

KINDS: tuple[str, ...] = (
    "shelter",
    "medical",
    "legal",
    "counselling",
    "interpreter",
    "law_enforcement",
)
# What staff read in the dashboard (the public page translates its own headings).
KIND_LABELS = {
    "shelter": "Shelter",
    "medical": "Medical care",
    "legal": "Legal aid",
    "counselling": "Counselling",
    "interpreter": "Interpreting",
    "law_enforcement": "Law enforcement",
}
TEXT_FIELDS = ("name", "region", "languages", "hours", "contact", "description")
# Each text field's limit is its column's length, so a valid draft always fits.
LIMITS: dict[str, int] = {
    name: int(referral_services.c[name].type.length)  # type: ignore[attr-defined]
    for name in TEXT_FIELDS
}
# Fields kept on one line; the description may have several.
ONE_LINE = ("name", "region", "languages", "hours", "contact")
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")

Change = Literal["attach", "detach"]


class InvalidServiceError(InvalidInputError):
    """A service draft has fields that are missing, too long or malformed."""

    def __init__(self, problems: dict[str, str]) -> None:
        # Field names only: never the text that was typed.
        super().__init__("invalid service fields: " + ", ".join(sorted(problems)))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ServiceDraft:
    """What an admin typed for a service, before or after :func:`validate_draft`."""

    kind: str
    name: str
    region: str = ""
    languages: str = ""
    hours: str = ""
    contact: str = ""
    description: str = ""
    public: bool = False
    active: bool = True


@dataclass(frozen=True, slots=True)
class Service:
    """One entry of the directory."""

    id: int
    kind: str
    name: str
    region: str
    languages: tuple[str, ...]
    hours: str
    contact: str
    description: str
    public: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def speaks(self, lang: str) -> bool:
        return lang in self.languages


@dataclass(frozen=True, slots=True)
class AttachedReferral:
    """A service attached to a tip: by whom and when."""

    service: Service
    username: str | None
    user_id: int | None
    attached_at: datetime


# --- validation -------------------------------------------------------------------------


def parse_languages(value: str) -> tuple[str, ...] | None:
    """``"en, ES,fr"`` → ``("en", "es", "fr")``; ``None`` if any code is not 2 or 3 letters."""
    codes: list[str] = []
    for part in value.split(","):
        code = part.strip().lower()
        if not code:
            continue
        if not LANGUAGE_CODE.fullmatch(code):
            return None
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def validate_draft(draft: ServiceDraft) -> ServiceDraft:
    """The draft, tidied (one-line fields, language codes normalised), or an error naming
    every field that is wrong."""
    values = {name: str(getattr(draft, name)) for name in TEXT_FIELDS}
    for name in ONE_LINE:
        values[name] = " ".join(values[name].split())
    values["description"] = values["description"].strip()
    problems: dict[str, str] = {}
    if draft.kind not in KINDS:
        problems["kind"] = "Choose a kind of service from the list."
    if not values["name"]:
        problems["name"] = "A name is required."
    languages = parse_languages(values["languages"])
    if languages is None:
        problems["languages"] = (
            "Languages are two- or three-letter codes separated by commas, such as en, es."
        )
    elif not languages:
        problems["languages"] = "Name at least one language the service works in."
    else:
        values["languages"] = ",".join(languages)
    for name in TEXT_FIELDS:
        if len(values[name]) > LIMITS[name] and name not in problems:
            problems[name] = f"At most {LIMITS[name]} characters."
    if problems:
        raise InvalidServiceError(problems)
    return replace(
        draft,
        name=values["name"],
        region=values["region"],
        languages=values["languages"],
        hours=values["hours"],
        contact=values["contact"],
        description=values["description"],
    )


# --- the directory ----------------------------------------------------------------------


def _service(row: Any) -> Service:
    return Service(
        id=int(row.id),
        kind=row.kind,
        name=row.name,
        region=row.region,
        languages=tuple(code for code in row.languages.split(",") if code),
        hours=row.hours,
        contact=row.contact,
        description=row.description,
        public=bool(row.public),
        active=bool(row.active),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _speaks(lang: str) -> sa.ColumnElement[bool]:
    """SQL: the service's comma-separated languages include ``lang``."""
    padded = sa.literal(",") + referral_services.c.languages + sa.literal(",")
    return padded.contains(f",{lang},", autoescape=True)


async def list_services(
    engine: AsyncEngine,
    *,
    kind: str | None = None,
    region: str | None = None,
    language: str | None = None,
    active: bool | None = True,
    public: bool | None = None,
) -> list[Service]:
    """Services by kind then name. ``region`` matches a part of the region, any case;
    ``None`` (or an empty string) leaves a filter out."""
    query = sa.select(referral_services)
    if kind:
        query = query.where(referral_services.c.kind == kind)
    if region:
        query = query.where(
            sa.func.lower(referral_services.c.region).contains(region.lower(), autoescape=True)
        )
    if language:
        query = query.where(_speaks(language.strip().lower()))
    if active is not None:
        query = query.where(referral_services.c.active.is_(active))
    if public is not None:
        query = query.where(referral_services.c.public.is_(public))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    order = {kind: index for index, kind in enumerate(KINDS)}
    services = [_service(row) for row in rows]
    return sorted(services, key=lambda s: (order.get(s.kind, len(order)), s.name.casefold(), s.id))


async def get_service(engine: AsyncEngine, service_id: int) -> Service | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(referral_services).where(referral_services.c.id == service_id)
            )
        ).first()
    return None if row is None else _service(row)


async def create_service(engine: AsyncEngine, draft: ServiceDraft) -> int:
    """Add a service; returns its id. Raises :class:`InvalidServiceError`."""
    valid = validate_draft(draft)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.insert(referral_services).values(**_columns(valid), created_at=now, updated_at=now)
        )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def update_service(engine: AsyncEngine, service_id: int, draft: ServiceDraft) -> None:
    """Replace every field of a service. Raises :class:`InvalidServiceError` or
    :class:`NotFoundError`."""
    valid = validate_draft(draft)
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(referral_services)
            .where(referral_services.c.id == service_id)
            .values(**_columns(valid), updated_at=datetime.now(UTC))
        )
    if result.rowcount == 0:
        raise NotFoundError(f"no referral service {service_id}")


async def set_active(engine: AsyncEngine, service_id: int, active: bool) -> None:
    """(De)activate a service. An inactive one is offered to nobody, but tips keep it."""
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(referral_services)
            .where(referral_services.c.id == service_id)
            .values(active=active, updated_at=datetime.now(UTC))
        )
    if result.rowcount == 0:
        raise NotFoundError(f"no referral service {service_id}")


def _columns(draft: ServiceDraft) -> dict[str, Any]:
    return {
        "kind": draft.kind,
        **{name: getattr(draft, name) for name in TEXT_FIELDS},
        "public": draft.public,
        "active": draft.active,
    }


async def count_services(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(referral_services)
        return int((await conn.execute(query)).scalar_one())


# --- tips -------------------------------------------------------------------------------


async def attach(
    engine: AsyncEngine, *, tip_id: uuid.UUID, service_id: int, user_id: int | None
) -> bool:
    """Attach an active service to a tip, with a ``referral`` tip event. Attaching it again
    changes nothing and returns ``False``. Raises :class:`NotFoundError` for an unknown tip
    or an unknown or inactive service."""
    async with engine.begin() as conn:
        await _require_tip(conn, tip_id)
        active = (
            await conn.execute(
                sa.select(referral_services.c.active).where(referral_services.c.id == service_id)
            )
        ).scalar_one_or_none()
        if not active:
            raise NotFoundError(f"no active referral service {service_id}")
        exists = await _attached(conn, tip_id, service_id)
        if exists:
            return False
        now = datetime.now(UTC)
        await conn.execute(
            sa.insert(tip_referrals).values(
                tip_id=tip_id, service_id=service_id, user_id=user_id, created_at=now
            )
        )
        await _record(conn, tip_id, service_id, user_id, "attach", now)
    return True


async def detach(
    engine: AsyncEngine, *, tip_id: uuid.UUID, service_id: int, user_id: int | None
) -> bool:
    """Take a service off a tip, with a ``referral`` tip event; ``False`` if it was not on
    it. Raises :class:`NotFoundError` for an unknown tip."""
    async with engine.begin() as conn:
        await _require_tip(conn, tip_id)
        result = await conn.execute(
            sa.delete(tip_referrals).where(
                tip_referrals.c.tip_id == tip_id, tip_referrals.c.service_id == service_id
            )
        )
        if result.rowcount == 0:
            return False
        await _record(conn, tip_id, service_id, user_id, "detach", datetime.now(UTC))
    return True


async def is_attached(engine: AsyncEngine, tip_id: uuid.UUID, service_id: int) -> bool:
    async with engine.connect() as conn:
        return await _attached(conn, tip_id, service_id)


async def tip_exists(engine: AsyncEngine, tip_id: uuid.UUID) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(sa.select(tips.c.id).where(tips.c.id == tip_id))
        return found.first() is not None


async def _require_tip(conn: AsyncConnection, tip_id: uuid.UUID) -> None:
    found = await conn.execute(sa.select(tips.c.id).where(tips.c.id == tip_id))
    if found.first() is None:
        raise NotFoundError(f"no tip {tip_id}")


async def _attached(conn: AsyncConnection, tip_id: uuid.UUID, service_id: int) -> bool:
    found = await conn.execute(
        sa.select(tip_referrals.c.service_id).where(
            tip_referrals.c.tip_id == tip_id, tip_referrals.c.service_id == service_id
        )
    )
    return found.first() is not None


async def _record(
    conn: AsyncConnection,
    tip_id: uuid.UUID,
    service_id: int,
    user_id: int | None,
    change: Change,
    at: datetime,
) -> None:
    await conn.execute(
        sa.insert(tip_events).values(
            tip_id=tip_id,
            kind="referral",
            at=at,
            user_id=user_id,
            detail=change_detail(service_id, change),
        )
    )
    await conn.execute(sa.update(tips).where(tips.c.id == tip_id).values(updated_at=at))


def change_detail(service_id: int, change: Change) -> dict[str, Any]:
    """The detail of a referral's tip event and audit entry: ids only."""
    return {"service_id": service_id, "change": change}


async def attached_to(engine: AsyncEngine, tip_id: uuid.UUID) -> list[AttachedReferral]:
    """The services attached to a tip, oldest first, with who attached them."""
    query = (
        sa.select(
            referral_services,
            tip_referrals.c.user_id.label("attached_by"),
            tip_referrals.c.created_at.label("attached_at"),
            users.c.username,
        )
        .select_from(
            tip_referrals.join(
                referral_services, referral_services.c.id == tip_referrals.c.service_id
            ).outerjoin(users, users.c.id == tip_referrals.c.user_id)
        )
        .where(tip_referrals.c.tip_id == tip_id)
        .order_by(tip_referrals.c.created_at, referral_services.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        AttachedReferral(
            service=_service(row),
            username=row.username,
            user_id=row.attached_by,
            attached_at=row.attached_at,
        )
        for row in rows
    ]


# --- the public page --------------------------------------------------------------------


async def public_listing(engine: AsyncEngine, lang: str) -> tuple[list[Service], list[Service]]:
    """Active public services: those that work in ``lang``, then all the others."""
    services = await list_services(engine, active=True, public=True)
    return (
        [s for s in services if s.speaks(lang)],
        [s for s in services if not s.speaks(lang)],
    )
