"""Linking tips that mention the same phone number, plate, address, e-mail or URL.

The worker, which holds the private key, reads a tip, extracts its entities with triage,
and stores only keyed hashes of them under the linkage key — a key the public role
never holds, so a seized public server cannot test phone numbers against the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.keys import KeyedHash
from hotline.tables import tip_entities

if TYPE_CHECKING:
    import triage

# Ages, times and bare room numbers are too common to link tips on their own.
LINKED_KINDS = frozenset({"phone", "email", "url", "plate", "address"})


def entity_digests(linkage: KeyedHash, entities: Iterable[triage.Entity]) -> set[tuple[str, bytes]]:
    """(kind, keyed hash) of each linkable entity, from its normalised value."""
    return {
        (entity.kind, linkage.digest(f"entity:{entity.kind}", entity.value.casefold()))
        for entity in entities
        if entity.kind in LINKED_KINDS and entity.value
    }


async def store_links(
    conn: AsyncConnection, tip_id: uuid.UUID, digests: set[tuple[str, bytes]]
) -> None:
    """Replace the tip's entity hashes (idempotent: a re-run writes the same rows)."""
    await conn.execute(sa.delete(tip_entities).where(tip_entities.c.tip_id == tip_id))
    if not digests:
        return
    rows = [{"tip_id": tip_id, "kind": kind, "digest": digest} for kind, digest in digests]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        await conn.execute(postgresql.insert(tip_entities).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        await conn.execute(sqlite.insert(tip_entities).on_conflict_do_nothing(), rows)
    else:
        await conn.execute(tip_entities.insert(), rows)


async def linked_tips(conn: AsyncConnection, tip_id: uuid.UUID) -> list[uuid.UUID]:
    """Other tips sharing at least one entity hash with ``tip_id``."""
    mine = sa.select(tip_entities.c.digest).where(tip_entities.c.tip_id == tip_id)
    rows = await conn.execute(
        sa.select(tip_entities.c.tip_id)
        .where(tip_entities.c.digest.in_(mine), tip_entities.c.tip_id != tip_id)
        .distinct()
    )
    return [row.tip_id for row in rows]
