"""SMS conversations in the core: threads known by keyed hashes, messages joined to tips.

A thread is one sender. The number, normalised to E.164, becomes a keyed hash (domain
``sms-sender``): that hash is the thread's only handle. The number itself is kept sealed,
for replies, and dropped at once on STOP (the reporter's START brings it back) and with
the whole thread on DELETE. Twilio's MessageSid is kept as a keyed hash (``sms-sid``), so a
retried webhook makes no second message, and sealed only until the record is deleted at
Twilio.

The first message of a thread opens a tip through the same group commit as a web report
(triage in memory, sealed, durable before the answer). Messages within the quiet window of
the last one join that tip; later ones join its follow-up thread (``tip_messages``).

This module knows nothing of Twilio: ``sms/`` adapts the webhook to it and implements the
:class:`TextSender` port for replies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline import logs, metrics
from hotline.commits import GroupCommitter, Write
from hotline.errors import ConflictError, InvalidInputError
from hotline.intake import Report, new_reference
from hotline.keys import KeyedHash
from hotline.seal import Opener, Sealer
from hotline.tables import sms_media, sms_messages, sms_threads, tip_events, tip_messages, tips
from hotline.verdict import TriageRequest
from triage.normalise import fold

log = logs.get_logger(__name__)

SENDER_DOMAIN = "sms-sender"
SID_DOMAIN = "sms-sid"
MEDIA_DOMAIN = "sms-media"
SENDER_FIELD = "sms-sender"
SID_FIELD = "sms-sid"
# Twilio accepts at most 1,600 characters in one (concatenated) message.
TEXT_LIMIT = 1600
DELETED_TEXT = "(deleted at the reporter's request)"
# Outbound statuses after which Twilio sends no more callbacks.
FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})
KNOWN_STATUSES = FINAL_STATUSES | {
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "receiving",
    "received",
}

Joined = Literal["tip", "joined", "followup", "keyword", "duplicate"]
Action = Literal["stop", "start", "help", "en", "es", "delete"]
SendKind = Literal["reply", "page"]


class TextSender(Protocol):
    """The port for texts to a reporter's thread; ``sms/`` implements it on Twilio."""

    async def send_to_thread(
        self,
        thread_id: uuid.UUID,
        text: str,
        *,
        tip_id: uuid.UUID,
        tip_message_id: uuid.UUID,
        job_try: int = 1,
    ) -> str:
        """Send ``text`` unless the thread opted out; return the outbound status.

        May raise ``arq.Retry`` for a transient failure of the carrier."""
        ...


def normalise_sender(raw: str, *, region: str) -> str:
    """The sender in E.164 when it is a phone number; short codes and names as given."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text.casefold()
    if not phonenumbers.is_possible_number(number):
        return text.casefold()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_FUNCTION_WORDS = {
    "es": "el la los las que y en un una es son por para con mi mis su sus lo le les nos pero "
    "muy tiene tienen hay ella esta estan donde cuando porque tengo estoy somos ellos del al "
    "se me yo sin hace mas tambien aqui dice ayuda hola casa trabajo quiero puedo",
    "en": "the and is are was were they she he his her him them we you i my our to of in "
    "with have has this that there at for it from what when where who not but be been would "
    "could help hi hello house work want can",
}
_SPANISH = frozenset(_FUNCTION_WORDS["es"].split())
_ENGLISH = frozenset(_FUNCTION_WORDS["en"].split())


def detect_language(text: str) -> str | None:
    """``en`` or ``es`` by function words, or None when nothing tells (cheap, in memory)."""
    words = fold(text).replace("?", " ").replace(",", " ").replace(".", " ").split()
    spanish = sum(word in _SPANISH for word in words)
    english = sum(word in _ENGLISH for word in words)
    if spanish > english:
        return "es"
    if english > spanish:
        return "en"
    return None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound message as the channel received it. ``repr`` shows no content."""

    sender: str
    text: str
    sid: str
    media_count: int = 0

    def __repr__(self) -> str:
        return f"Inbound(media_count={self.media_count})"


@dataclass(frozen=True, slots=True)
class Received:
    """What became of an inbound message: ids and levels only."""

    joined: Joined
    lang: str
    message_id: uuid.UUID | None = None
    tip_id: uuid.UUID | None = None
    reference: str | None = None
    urgency: str | None = None


@dataclass(frozen=True, slots=True)
class _Thread:
    id: uuid.UUID
    lang: str
    lang_chosen: bool
    opted_out: bool
    last_tip_id: uuid.UUID | None
    last_at: datetime | None


class Conversations:
    """The public role's side of SMS: it seals and hashes, and can read nothing back."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sealer: Sealer,
        hasher: KeyedHash,
        committer: GroupCommitter,
        quiet: timedelta,
        region: str,
        languages: tuple[str, ...],
        default_language: str,
        reader: sa.Engine | None = None,
    ) -> None:
        """``reader``: a synchronous engine on the same SQLite file for the one lookup on
        the webhook's path (a unique-index read in WAL mode takes microseconds; a hop to
        aiosqlite's thread and back costs far more). Without it, the async engine reads."""
        self._engine = engine
        self._reader = reader
        self._sealer = sealer
        self._hasher = hasher
        self._committer = committer
        self._quiet = quiet
        self._region = region
        self._languages = languages
        self._default = default_language

    # -- hashes -------------------------------------------------------------------------

    def sender_hash(self, sender: str) -> bytes:
        return self._hasher.digest(SENDER_DOMAIN, normalise_sender(sender, region=self._region))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()

    def sid_hash(self, sid: str) -> bytes:
        return self._hasher.digest(SID_DOMAIN, sid)

    def _seal_sender(self, thread_id: uuid.UUID, sender: str) -> bytes:
        e164 = normalise_sender(sender, region=self._region)
        return self._sealer.seal(e164.encode(), tip_id=thread_id, field=SENDER_FIELD)

    def _message_row(
        self,
        message_id: uuid.UUID,
        sid: str,
        *,
        thread_id: uuid.UUID | None,
        tip_id: uuid.UUID | None,
        kind: str,
        now: datetime,
        media_count: int = 0,
    ) -> dict[str, object]:
        return {
            "id": message_id,
            "thread_id": thread_id,
            "tip_id": tip_id,
            "direction": "in",
            "kind": kind,
            "created_at": now,
            "sid_hash": self.sid_hash(sid),
            "sid_sealed": self._sealer.seal(sid.encode(), tip_id=message_id, field=SID_FIELD),
            "body_sealed": None,
            "tip_message_id": None,
            "media_count": media_count,
            "media_fetched": media_count == 0,
            "status": "received",
        }

    # -- reading ------------------------------------------------------------------------

    async def _find(
        self, conn: AsyncConnection, sender_hash: bytes, sid_hash: bytes
    ) -> tuple[bool, _Thread | None]:
        first = (await conn.execute(_first_lookup(sender_hash, sid_hash))).one()
        if first.duplicate or first.thread_id is None:
            return bool(first.duplicate), None
        return False, await self._thread(conn, first.thread_id)

    async def _lookup(self, sender_hash: bytes, sid_hash: bytes) -> tuple[bool, _Thread | None]:
        if self._reader is not None:
            try:
                with self._reader.connect() as sync_conn:
                    first = sync_conn.execute(_first_lookup(sender_hash, sid_hash)).one()
            except OperationalError:
                pass  # locked for longer than the reader may wait: read the slow way
            else:
                if first.duplicate or first.thread_id is None:
                    return bool(first.duplicate), None
        async with self._engine.connect() as conn:
            return await self._find(conn, sender_hash, sid_hash)

    async def _thread(self, conn: AsyncConnection, thread_id: uuid.UUID) -> _Thread | None:
        row = (
            await conn.execute(
                sa.select(
                    sms_threads.c.lang, sms_threads.c.lang_chosen, sms_threads.c.opted_out
                ).where(sms_threads.c.id == thread_id)
            )
        ).one_or_none()
        if row is None:
            return None
        last = (
            await conn.execute(
                sa.select(sms_messages.c.tip_id, sms_messages.c.created_at)
                .where(
                    sms_messages.c.thread_id == thread_id,
                    sms_messages.c.kind.in_(("tip", "followup")),
                    sms_messages.c.tip_id.is_not(None),
                )
                .order_by(sms_messages.c.created_at.desc())
                .limit(1)
            )
        ).one_or_none()
        return _Thread(
            thread_id,
            row.lang,
            row.lang_chosen,
            row.opted_out,
            last.tip_id if last else None,
            last.created_at if last else None,
        )

    def _language(self, thread: _Thread | None, text: str) -> str:
        if thread is not None and thread.lang_chosen:
            return thread.lang
        detected = detect_language(text)
        if detected in self._languages:
            return detected
        return thread.lang if thread is not None else self._default

    # -- receiving a message ------------------------------------------------------------

    async def receive(self, inbound: Inbound) -> Received:
        """Commit one inbound message durably; a repeated MessageSid changes nothing."""
        if not inbound.text.strip() and inbound.media_count == 0:
            raise InvalidInputError("an empty message")
        text = inbound.text[:TEXT_LIMIT]
        sender_hash = self.sender_hash(inbound.sender)
        sid_hash = self.sid_hash(inbound.sid)
        for _attempt in range(3):
            duplicate, thread = await self._lookup(sender_hash, sid_hash)
            if duplicate:
                return Received("duplicate", thread.lang if thread else self._default)
            now = datetime.now(UTC)
            lang = self._language(thread, text)
            try:
                if thread is None or thread.last_tip_id is None:
                    return await self._open_tip(inbound, text, thread, sender_hash, lang, now)
                if thread.last_at is not None and now - thread.last_at <= self._quiet:
                    return await self._join_tip(inbound, text, thread, now)
                return await self._follow_up(inbound, text, thread, now)
            except ConflictError:
                continue  # the same sid a moment ago, or a new thread made concurrently
        async with self._engine.connect() as conn:
            duplicate, thread = await self._find(conn, sender_hash, sid_hash)
        if duplicate:
            return Received("duplicate", thread.lang if thread else self._default)
        raise ConflictError("could not store an inbound message")

    async def _open_tip(
        self,
        inbound: Inbound,
        text: str,
        thread: _Thread | None,
        sender_hash: bytes,
        lang: str,
        now: datetime,
    ) -> Received:
        tip_id, message_id = uuid.uuid4(), uuid.uuid4()
        reference = new_reference()
        what = text if text.strip() else "(picture message)"
        tip_row = {
            "id": tip_id,
            "reference": reference,
            "channel": "sms",
            "lang": lang,
            "created_at": now,
            "updated_at": now,
            "status": "new",
            "body_sealed": self._sealer.seal(
                Report(what=what).sealed_json(), tip_id=tip_id, field="body"
            ),
        }
        rows: list[tuple[sa.Table, dict[str, object]]] = [(tips, tip_row)]
        if thread is None:
            thread_id = uuid.uuid4()
            rows.append(
                (
                    sms_threads,
                    {
                        "id": thread_id,
                        "sender_hash": sender_hash,
                        "sender_sealed": self._seal_sender(thread_id, inbound.sender),
                        "lang": lang,
                        "lang_chosen": False,
                        "opted_out": False,
                        "created_at": now,
                    },
                )
            )
        else:
            thread_id = thread.id
        message = self._message_row(
            message_id,
            inbound.sid,
            thread_id=thread_id,
            tip_id=tip_id,
            kind="tip",
            now=now,
            media_count=inbound.media_count,
        )
        message["body_sealed"] = self._sealer.seal(
            text.encode("utf-8"), tip_id=tip_id, field=f"sms:{message_id}"
        )
        rows.append((sms_messages, message))
        urgency = await self._committer.write(
            Write(rows=rows, tip_ids=(tip_id,), triage=TriageRequest(what, False))
        )
        if thread is not None and lang != thread.lang:
            await self._set_language(thread.id, lang, chosen=False)
        metrics.SMS_TIPS_SUBMITTED.inc()
        log.info("tip_submitted", tip_id=str(tip_id), channel="sms", urgency=urgency)
        return Received("tip", lang, message_id, tip_id, reference, urgency)

    async def _join_tip(
        self, inbound: Inbound, text: str, thread: _Thread, now: datetime
    ) -> Received:
        assert thread.last_tip_id is not None  # noqa: S101 - checked by the caller
        tip_id, message_id = thread.last_tip_id, uuid.uuid4()
        message = self._message_row(
            message_id,
            inbound.sid,
            thread_id=thread.id,
            tip_id=tip_id,
            kind="tip",
            now=now,
            media_count=inbound.media_count,
        )
        message["body_sealed"] = self._sealer.seal(
            text.encode("utf-8"), tip_id=tip_id, field=f"sms:{message_id}"
        )
        event = {"tip_id": tip_id, "kind": "sms_joined", "at": now}
        await self._committer.write(Write(rows=((sms_messages, message), (tip_events, event))))
        log.info("sms_joined_tip", tip_id=str(tip_id), channel="sms")
        return Received("joined", thread.lang, message_id, tip_id)

    async def _follow_up(
        self, inbound: Inbound, text: str, thread: _Thread, now: datetime
    ) -> Received:
        assert thread.last_tip_id is not None  # noqa: S101 - checked by the caller
        tip_id, message_id, addition_id = thread.last_tip_id, uuid.uuid4(), uuid.uuid4()
        addition = {
            "id": addition_id,
            "tip_id": tip_id,
            "author": "reporter",
            "created_at": now,
            "body_sealed": self._sealer.seal(
                (text or "(picture message)").encode("utf-8"),
                tip_id=tip_id,
                field=f"message:{addition_id}",
            ),
            "reporter_sealed": None,
        }
        message = self._message_row(
            message_id,
            inbound.sid,
            thread_id=thread.id,
            tip_id=tip_id,
            kind="followup",
            now=now,
            media_count=inbound.media_count,
        )
        message["tip_message_id"] = addition_id
        event = {"tip_id": tip_id, "kind": "reporter_added", "at": now}
        await self._committer.write(
            Write(rows=((tip_messages, addition), (tip_events, event), (sms_messages, message)))
        )
        log.info("followup_added", tip_id=str(tip_id), channel="sms")
        return Received("followup", thread.lang, message_id, tip_id)

    # -- keywords -----------------------------------------------------------------------

    async def keyword(self, inbound: Inbound, action: Action) -> Received:
        """Apply a carrier or language keyword; the keyword message itself keeps no text."""
        sender_hash = self.sender_hash(inbound.sender)
        sid_hash = self.sid_hash(inbound.sid)
        now = datetime.now(UTC)
        message_id = uuid.uuid4()
        try:
            async with self._engine.begin() as conn:
                duplicate, thread = await self._find(conn, sender_hash, sid_hash)
                if duplicate:
                    return Received("duplicate", thread.lang if thread else self._default)
                lang = action if action in ("en", "es") else (thread.lang if thread else "")
                lang = lang or self._default
                thread_id: uuid.UUID | None = thread.id if thread else uuid.uuid4()
                if action == "delete":
                    if thread is not None:
                        await self._delete_thread(conn, thread, now)
                    thread_id = None
                elif thread is None:
                    assert thread_id is not None  # noqa: S101 - made just above
                    sealed = (
                        None if action == "stop" else self._seal_sender(thread_id, inbound.sender)
                    )
                    await conn.execute(
                        sa.insert(sms_threads).values(
                            id=thread_id,
                            sender_hash=sender_hash,
                            sender_sealed=sealed,
                            lang=lang,
                            lang_chosen=action in ("en", "es"),
                            opted_out=action == "stop",
                            created_at=now,
                        )
                    )
                else:
                    changes = self._keyword_changes(action, thread.id, inbound.sender, lang)
                    if changes:
                        await conn.execute(
                            sa.update(sms_threads)
                            .where(sms_threads.c.id == thread.id)
                            .values(**changes)
                        )
                row = self._message_row(
                    message_id,
                    inbound.sid,
                    thread_id=thread_id,
                    tip_id=None,
                    kind="keyword",
                    now=now,
                )
                await conn.execute(sa.insert(sms_messages).values(row))
        except IntegrityError:
            return Received("duplicate", self._default)  # the same sid, a moment ago
        log.info("sms_keyword", status=action, channel="sms")
        return Received("keyword", lang, message_id)

    def _keyword_changes(
        self, action: str, thread_id: uuid.UUID, sender: str, lang: str
    ) -> dict[str, object]:
        if action == "stop":
            return {"opted_out": True, "sender_sealed": None}
        if action == "start":
            return {"opted_out": False, "sender_sealed": self._seal_sender(thread_id, sender)}
        if action in ("en", "es"):
            return {"lang": lang, "lang_chosen": True}
        return {}

    async def _delete_thread(self, conn: AsyncConnection, thread: _Thread, now: datetime) -> None:
        """Remove what the thread sent; keep the tips' clear columns and the hotline's words."""
        thread_tips = sa.select(sms_messages.c.tip_id).where(
            sms_messages.c.thread_id == thread.id, sms_messages.c.tip_id.is_not(None)
        )
        tip_ids = {row.tip_id for row in await conn.execute(thread_tips.distinct())}
        additions = sa.select(sms_messages.c.tip_message_id).where(
            sms_messages.c.thread_id == thread.id, sms_messages.c.tip_message_id.is_not(None)
        )
        await conn.execute(
            sa.delete(tip_messages).where(
                tip_messages.c.id.in_(additions), tip_messages.c.author == "reporter"
            )
        )
        inbound = sa.select(sms_messages.c.id).where(sms_messages.c.thread_id == thread.id)
        await conn.execute(sa.delete(sms_media).where(sms_media.c.message_id.in_(inbound)))
        await conn.execute(
            sa.update(sms_messages)
            .where(sms_messages.c.thread_id == thread.id)
            .values(body_sealed=None, thread_id=None)
        )
        opened_here = sa.select(tips.c.id).where(tips.c.id.in_(tip_ids), tips.c.channel == "sms")
        for tip_id in [row.id for row in await conn.execute(opened_here)]:
            await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip_id)
                .values(
                    body_sealed=self._sealer.seal(
                        Report(what=DELETED_TEXT).sealed_json(), tip_id=tip_id, field="body"
                    ),
                    updated_at=now,
                )
            )
            await conn.execute(
                sa.insert(tip_events).values(tip_id=tip_id, kind="reporter_deleted", at=now)
            )
        await conn.execute(sa.delete(sms_threads).where(sms_threads.c.id == thread.id))

    async def _set_language(self, thread_id: uuid.UUID, lang: str, *, chosen: bool) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(sms_threads)
                .where(sms_threads.c.id == thread_id)
                .values(lang=lang, lang_chosen=chosen)
            )

    async def thread_language(self, sender: str) -> str:
        async with self._engine.connect() as conn:
            lang = (
                await conn.execute(
                    sa.select(sms_threads.c.lang).where(
                        sms_threads.c.sender_hash == self.sender_hash(sender)
                    )
                )
            ).scalar_one_or_none()
        return str(lang) if lang else self._default

    # -- delivery status ----------------------------------------------------------------

    async def record_status(self, sid: str, status: str) -> uuid.UUID | None:
        """Record an outbound message's status; return its id once final (for deletion).

        A message Twilio sent from a TwiML answer is not known yet: it is recorded here,
        with no thread, so that it can be deleted at Twilio too.
        """
        if status not in KNOWN_STATUSES:
            return None
        sid_hash = self.sid_hash(sid)
        async with self._engine.begin() as conn:
            message_id = (
                await conn.execute(
                    sa.update(sms_messages)
                    .where(sms_messages.c.sid_hash == sid_hash, sms_messages.c.direction == "out")
                    .values(status=status)
                    .returning(sms_messages.c.id)
                )
            ).scalar_one_or_none()
            if message_id is None:
                message_id = uuid.uuid4()
                row = self._message_row(
                    message_id,
                    sid,
                    thread_id=None,
                    tip_id=None,
                    kind="twiml",
                    now=datetime.now(UTC),
                )
                row.update(direction="out", status=status)
                try:
                    await conn.execute(sa.insert(sms_messages).values(row))
                except IntegrityError:
                    return None  # an inbound sid: not ours to track
        return message_id if status in FINAL_STATUSES else None


def _first_lookup(sender_hash: bytes, sid_hash: bytes) -> sa.Select[tuple[bool, uuid.UUID]]:
    """Is the sid known, and which thread (if any) is the sender's: one indexed read."""
    return sa.select(
        sa.exists().where(sms_messages.c.sid_hash == sid_hash).label("duplicate"),
        sa.select(sms_threads.c.id)
        .where(sms_threads.c.sender_hash == sender_hash)
        .scalar_subquery()
        .label("thread_id"),
    )


async def thread_of_tip(conn: AsyncConnection, tip_id: uuid.UUID) -> uuid.UUID | None:
    """The SMS thread a tip came from, while it exists."""
    return (
        await conn.execute(
            sa.select(sms_messages.c.thread_id)
            .where(
                sms_messages.c.tip_id == tip_id,
                sms_messages.c.direction == "in",
                sms_messages.c.thread_id.is_not(None),
            )
            .limit(1)
        )
    ).scalar_one_or_none()


async def thread_recipient(
    conn: AsyncConnection, opener: Opener, thread_id: uuid.UUID
) -> str | None:
    """The thread's number (E.164) for sending, or None when it opted out or is gone."""
    row = (
        await conn.execute(
            sa.select(sms_threads.c.sender_sealed, sms_threads.c.opted_out).where(
                sms_threads.c.id == thread_id
            )
        )
    ).one_or_none()
    if row is None or row.opted_out or row.sender_sealed is None:
        return None
    return opener.open(row.sender_sealed, tip_id=thread_id, field=SENDER_FIELD).decode()


async def expire_threads(engine: AsyncEngine, *, quiet_for: timedelta) -> int:
    """Forget threads quiet for ``quiet_for``: their sender hash and sealed number go.

    Phone numbers are a small space, so a sender's keyed hash lives only as long as its
    conversation needs it. The tips and their sealed messages stay; a later text from
    the same number opens a new thread and a new tip.
    """
    cutoff = datetime.now(UTC) - quiet_for
    recent = (
        sa.select(sms_messages.c.id)
        .where(sms_messages.c.thread_id == sms_threads.c.id, sms_messages.c.created_at >= cutoff)
        .exists()
    )
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.delete(sms_threads).where(sms_threads.c.created_at < cutoff, ~recent)
        )
    count = int(result.rowcount or 0)
    if count:
        log.info("sms_threads_expired", count=count)
    return count
