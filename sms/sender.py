"""The one outbound sender: dispatcher replies and on-call pages, on Twilio.

Async all the way (``AsyncTwilioHttpClient`` and the ``*_async`` calls). It honours
opt-outs (a thread that sent STOP has no number to send to), cuts texts to Twilio's
length limits, gives pages a short validity period (a page that cannot be delivered
within minutes is worse than none: escalation takes over), asks Twilio for status
callbacks, and turns Twilio's 429 and 5xx answers into ``arq.Retry`` with backoff.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from twilio.base.exceptions import TwilioRestException

from hotline import logs
from hotline.conversations import SID_DOMAIN, SID_FIELD, TEXT_LIMIT, thread_recipient
from hotline.tables import sms_messages
from sms.client import REST_FAILURES, AccountUser, is_transient, retry
from sms.webhook import STATUS_PATH

log = logs.get_logger(__name__)

PAGE_LIMIT = 320
PAGE_VALIDITY_S = 300
# Twilio's error for a number that has opted out at the carrier.
UNSUBSCRIBED = 21610


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SmsSender(AccountUser):
    """Implements the core's ``TextSender`` port."""

    @property
    def _status_url(self) -> str:
        return self._settings.public_url + STATUS_PATH

    @property
    def _origin(self) -> dict[str, str]:
        sender = self._settings.twilio_from
        return {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}

    async def send_to_thread(
        self,
        thread_id: uuid.UUID,
        text: str,
        *,
        tip_id: uuid.UUID,
        tip_message_id: uuid.UUID,
        job_try: int = 1,
    ) -> str:
        """Send a reply to a reporter's thread, once; return its status."""
        async with self._engine.begin() as conn:
            existing = (
                await conn.execute(
                    sa.select(sms_messages.c.id, sms_messages.c.status).where(
                        sms_messages.c.tip_message_id == tip_message_id,
                        sms_messages.c.direction == "out",
                    )
                )
            ).one_or_none()
            if existing is not None and existing.status != "retry":
                # Sent, refused, or possibly sent before a crash ("sending"): at most once.
                return str(existing.status)
            recipient = await thread_recipient(conn, self._opener, thread_id)
            status = "sending" if recipient else "opted_out"
            if existing is None:
                message_id = uuid.uuid4()
                await conn.execute(
                    sa.insert(sms_messages).values(
                        id=message_id,
                        thread_id=thread_id,
                        tip_id=tip_id,
                        direction="out",
                        kind="reply",
                        created_at=datetime.now(UTC),
                        tip_message_id=tip_message_id,
                        status=status,
                    )
                )
            else:
                message_id = existing.id
                await conn.execute(
                    sa.update(sms_messages)
                    .where(sms_messages.c.id == message_id)
                    .values(status=status)
                )
        if recipient is None:
            log.info("sms_not_sent", tip_id=str(tip_id), status="opted_out")
            return "opted_out"
        return await self._send(
            message_id, recipient, cut(text, TEXT_LIMIT), job_try=job_try, tip_id=tip_id
        )

    async def send_page(
        self, to: str, text: str, *, message_id: uuid.UUID, job_try: int = 1
    ) -> str:
        """Page an on-call dispatcher: short, and dropped by Twilio if not sent in minutes.

        The message row takes the id the page row names, so its delivery report finds it.
        """
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.insert(sms_messages).values(
                    id=message_id,
                    direction="out",
                    kind="page",
                    created_at=datetime.now(UTC),
                    status="sending",
                )
            )
        return await self._send(
            message_id, to, cut(text, PAGE_LIMIT), job_try=job_try, validity=PAGE_VALIDITY_S
        )

    async def _send(
        self,
        message_id: uuid.UUID,
        to: str,
        body: str,
        *,
        job_try: int,
        validity: int | None = None,
        tip_id: uuid.UUID | None = None,
    ) -> str:
        options: dict[str, object] = {"status_callback": self._status_url, **self._origin}
        if validity is not None:
            options["validity_period"] = validity
        try:
            sent = await self._account.messages.create_async(to=to, body=body, **options)
        except REST_FAILURES as exc:
            if is_transient(exc):
                await self._set(message_id, status="retry")
                log.warning("sms_send_deferred", tip_id=str(tip_id), attempt=job_try)
                raise retry(job_try) from None
            code = exc.code if isinstance(exc, TwilioRestException) else None
            status = "opted_out" if code == UNSUBSCRIBED else "failed"
            await self._set(message_id, status=status)
            log.warning("sms_send_failed", tip_id=str(tip_id), status=status)
            return status
        sid = str(sent.sid)
        status = str(sent.status or "queued")
        await self._set(
            message_id,
            status=status[:16],
            sid_hash=self._hasher.digest(SID_DOMAIN, sid),
            sid_sealed=self._sealer.seal(sid.encode(), tip_id=message_id, field=SID_FIELD),
        )
        log.info("sms_sent", tip_id=str(tip_id), status=status)
        return status

    async def _set(self, message_id: uuid.UUID, **values: object) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(sms_messages).where(sms_messages.c.id == message_id).values(**values)
            )
