"""Case key rotation in the database: which envelopes name which key, re-sealing, retiring.

``hotline keys rotate`` (:func:`hotline.keys.rotate_case_key`) only touches key files: new
tips are sealed to the new key and every old envelope still opens, because an envelope
names its key id and the opener holds every private key. This module does the rest:

- :func:`count_envelopes` counts the envelopes naming each key id, column by column;
- :func:`reseal` re-wraps old envelopes' data keys to the current key, in batches, each
  row guarded on its old bytes (idempotent, resumable: it picks up whatever still names
  another key);
- :func:`retire` deletes an old private key only when no envelope names it any more.

Re-sealing changes only an envelope's header (:meth:`hotline.seal.Opener.rewrap`): the
body stays encrypted under the same data key, so no plaintext is ever produced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import keys, logs
from hotline.errors import ConflictError, SealError
from hotline.seal import KEY_ID_BYTES, Opener, Sealer
from hotline.tables import (
    oncall_contacts,
    sms_media,
    sms_messages,
    sms_threads,
    tip_messages,
    tip_notes,
    tip_overrides,
    tips,
    users,
)

log = logs.get_logger(__name__)

RESEAL_BATCH = 500
# The shortest envelope: version, key id, wrapped-length, then at least a nonce and a tag.
_MIN_ENVELOPE = 1 + KEY_ID_BYTES + 2


@dataclass(frozen=True)
class SealedColumn:
    """A column holding envelopes sealed to the case key, in a table with a one-column key."""

    table: sa.Table
    name: str

    @property
    def column(self) -> sa.Column[bytes]:
        return self.table.c[self.name]

    @property
    def key(self) -> sa.Column[object]:
        (primary,) = self.table.primary_key.columns
        return primary

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.name}"


# Every column sealed to the case key. tests/unit/hotline/test_rotation_columns.py holds
# each ``*_sealed`` column of the schema to this list or to NOT_CASE_KEY.
CASE_KEY_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(tips, "body_sealed"),
    SealedColumn(tip_messages, "body_sealed"),
    SealedColumn(tip_notes, "body_sealed"),
    SealedColumn(tip_overrides, "reason_sealed"),
    SealedColumn(users, "totp_sealed"),
    SealedColumn(sms_threads, "sender_sealed"),
    SealedColumn(sms_messages, "sid_sealed"),
    SealedColumn(sms_messages, "body_sealed"),
    SealedColumn(sms_media, "body_sealed"),
    SealedColumn(oncall_contacts, "phone_sealed"),
)

# Sealed columns that do not name a case key, and why.
NOT_CASE_KEY = {
    "tip_messages.reporter_sealed": "sealed to the tip's reporter key, derived from the receipt",
    "receipt_handoffs.receipt_sealed": "sealed under the one-time handoff token",
}


def _key_id_of(sealed: SealedColumn) -> sa.ColumnElement[bytes]:
    return sa.func.substr(sealed.column, 2, KEY_ID_BYTES, type_=sa.LargeBinary)


def _is_envelope(sealed: SealedColumn) -> sa.ColumnElement[bool]:
    return sa.and_(sealed.column.is_not(None), sa.func.length(sealed.column) > _MIN_ENVELOPE)


async def count_envelopes(engine: AsyncEngine) -> Counter[bytes]:
    """How many envelopes name each case key id, over every case-key column."""
    counts: Counter[bytes] = Counter()
    async with engine.connect() as conn:
        for sealed in CASE_KEY_COLUMNS:
            key_id = _key_id_of(sealed).label("key_id")
            rows = await conn.execute(
                sa.select(key_id, sa.func.count())
                .select_from(sealed.table)
                .where(_is_envelope(sealed))
                .group_by(key_id)
            )
            for found, count in rows:
                counts[bytes(found)] += int(count)
    return counts


@dataclass
class ResealReport:
    """What a re-seal pass did: envelopes re-sealed per column, and those it could not."""

    resealed: Counter[str] = field(default_factory=Counter)
    unopenable: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


async def reseal(
    engine: AsyncEngine,
    opener: Opener,
    sealer: Sealer,
    *,
    batch: int = RESEAL_BATCH,
) -> ResealReport:
    """Re-seal every envelope that names another key than ``sealer``'s to ``sealer``'s.

    Batched (one transaction per ``batch`` rows), idempotent and resumable: each update is
    guarded on the row's old bytes, so a row changed meanwhile is left for the next pass,
    and a pass started again finds only what still names an old key. An envelope whose
    key is not held is counted as unopenable and left as it is.
    """
    report = ResealReport()
    target = sealer.key_id
    for sealed in CASE_KEY_COLUMNS:
        after: object = None
        while True:
            query = (
                sa.select(sealed.key, sealed.column)
                .where(_is_envelope(sealed), _key_id_of(sealed) != target)
                .order_by(sealed.key)
                .limit(batch)
            )
            if after is not None:
                query = query.where(sealed.key > after)
            async with engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                break
            after = rows[-1][0]
            await _reseal_rows(engine, opener, sealer, sealed, rows, report)
    if report.total or report.unopenable:
        log.info("envelopes_resealed", count=report.total, status="done")
    return report


async def _reseal_rows(
    engine: AsyncEngine,
    opener: Opener,
    sealer: Sealer,
    sealed: SealedColumn,
    rows: Sequence[sa.Row[object, bytes]],
    report: ResealReport,
) -> None:
    changes = []
    for key, envelope in rows:
        try:
            changes.append(
                (key, bytes(envelope), opener.rewrap(bytes(envelope), sealer.public_key))
            )
        except SealError:
            report.unopenable[sealed.label] += 1
    async with engine.begin() as conn:
        for key, old, new in changes:
            result = await conn.execute(
                sa.update(sealed.table)
                .where(sealed.key == key, sealed.column == old)
                .values({sealed.name: new})
            )
            report.resealed[sealed.label] += int(result.rowcount or 0)


async def retire(engine: AsyncEngine, keys_dir: Path, key_id: bytes) -> None:
    """Delete the private key ``key_id`` once no envelope names it; refuse otherwise."""
    if key_id == keys.current_key_id(keys_dir):
        raise ConflictError(f"{key_id.hex()} is the current case key; rotate first")
    remaining = (await count_envelopes(engine)).get(key_id, 0)
    if remaining:
        raise ConflictError(
            f"{remaining} envelopes still name key {key_id.hex()}; run `hotline keys reseal` first"
        )
    keys.remove_case_private_key(keys_dir, key_id)
    log.info("case_key_retired", status="retired")
