"""Intake: triage in memory, seal, commit durably — then the relay takes it from there.

``submit`` is the one way a tip enters Hotline, from any channel. It returns only after
the tip's transaction is committed, so an acknowledgement means the tip survives a crash.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from hotline import logs, metrics
from hotline.commits import GroupCommitter, Write
from hotline.errors import ConflictError, InvalidInputError
from hotline.keys import KeyedHash
from hotline.receipts import (
    SALT_BYTES,
    handoff_token_hash,
    new_handoff_token,
    new_receipt,
    receipt_hash,
    seal_for_handoff,
)
from hotline.seal import Sealer
from hotline.tables import receipt_handoffs, tips
from hotline.verdict import TriageRequest

log = logs.get_logger(__name__)

Channel = Literal["web", "sms"]
Minors = Literal["yes", "no", "unknown", ""]

# Bounds for every field of the web form, in characters.
FIELD_LIMITS: dict[str, int] = {
    "what": 5000,
    "where": 500,
    "when": 200,
    "who": 1000,
    "how_many": 40,
    "other": 3000,
}
MINORS_CHOICES = ("yes", "no", "unknown")
REPORT_FIELDS = ("what", "where", "when", "who", "minors", "how_many", "other")
HANDOFF_TTL = timedelta(minutes=30)
_REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class Report:
    """What a web reporter wrote. Only ``what`` is required."""

    what: str
    where: str = ""
    when: str = ""
    who: str = ""
    minors: Minors = ""
    how_many: str = ""
    other: str = ""

    def __post_init__(self) -> None:
        if not self.what.strip():
            raise InvalidInputError("the report needs a description of what happened")
        for name, limit in FIELD_LIMITS.items():
            if len(getattr(self, name)) > limit:
                raise InvalidInputError(f"field {name} is longer than {limit} characters")
        if self.minors not in (*MINORS_CHOICES, ""):
            raise InvalidInputError("field minors has an unknown choice")

    def triage_text(self) -> str:
        """The prose triage reads: every free-text field, one per line."""
        parts = (self.what, self.where, self.when, self.who, self.how_many, self.other)
        return "\n".join(part for part in parts if part.strip())

    @classmethod
    def from_sealed_json(cls, data: bytes) -> Report:
        fields = json.loads(data.decode("utf-8"))
        return cls(**{name: str(fields.get(name, "")) for name in REPORT_FIELDS})  # type: ignore[arg-type]

    def sealed_json(self) -> bytes:
        fields = {name: getattr(self, name) for name in REPORT_FIELDS}
        return json.dumps(
            {key: value for key, value in fields.items() if value}, ensure_ascii=False
        ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class WebSubmission:
    tip_id: uuid.UUID
    reference: str
    handoff_token: str


def new_reference() -> str:
    """A short reference for dispatchers and SMS reporters: 10 symbols, about 49 bits."""
    number = secrets.randbelow(len(_REFERENCE_ALPHABET) ** 10)
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_REFERENCE_ALPHABET))
        chars.append(_REFERENCE_ALPHABET[digit])
    return f"{''.join(chars[:5])}-{''.join(chars[5:])}"


class Intake:
    """Turns reports into committed, sealed tips."""

    def __init__(self, *, sealer: Sealer, hasher: KeyedHash, committer: GroupCommitter) -> None:
        self._sealer = sealer
        self._hasher = hasher
        self._committer = committer

    async def submit_web(self, report: Report, *, lang: str) -> WebSubmission:
        """Triage, seal and commit a web report; the receipt waits under a one-time token.

        Triage runs where the commit runs (the SQLite writer process, or here for
        PostgreSQL), on the plaintext in memory, just before the row is written.
        """
        started = time.perf_counter()
        triage_request = TriageRequest(report.triage_text(), report.minors == "yes")
        body = report.sealed_json()
        for attempt in range(3):
            tip_id = uuid.uuid4()
            receipt = new_receipt()
            token = new_handoff_token()
            now = datetime.now(UTC)
            reference = new_reference()
            tip_row = {
                "id": tip_id,
                "reference": reference,
                "channel": "web",
                "lang": lang,
                "created_at": now,
                "updated_at": now,
                "status": "new",
                "body_sealed": self._sealer.seal(body, tip_id=tip_id, field="body"),
                "receipt_hash": receipt_hash(self._hasher, receipt),
                "reporter_salt": secrets.token_bytes(SALT_BYTES),
            }
            handoff_row = {
                "token_hash": handoff_token_hash(token),
                "tip_id": tip_id,
                "receipt_sealed": seal_for_handoff(token, receipt),
                "expires_at": now + HANDOFF_TTL,
            }
            write = Write(
                rows=((tips, tip_row), (receipt_handoffs, handoff_row)),
                tip_ids=(tip_id,),
                triage=triage_request,
            )
            try:
                urgency = await self._committer.write(write)
            except ConflictError:
                log.warning("intake_id_collision", attempt=attempt)
                continue
            metrics.WEB_TIPS_SUBMITTED.inc()
            metrics.SUBMIT_SECONDS.observe(time.perf_counter() - started)
            log.info("tip_submitted", tip_id=str(tip_id), channel="web", urgency=urgency)
            return WebSubmission(tip_id, reference, token)
        raise ConflictError("could not allocate identifiers for a tip")
