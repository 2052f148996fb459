"""The Twilio webhook: ``POST /sms/twilio`` (inbound) and ``POST /sms/twilio/status``.

Every request must carry a valid ``X-Twilio-Signature`` for the configured public URL
(so it holds behind a TLS-terminating proxy), under the primary or, during a rotation,
the secondary auth token; anything else gets 403 and nothing is stored. The answer is
TwiML, given as soon as the message is durably committed; slow work (media, deletion at
Twilio) is left to the worker.

An on-call dispatcher acknowledges a page by texting ``ACK <code>`` from their registered
pager number. Only a sender whose number's keyed hash (``rota.phone_digest``) is a pager's
is answered as a dispatcher; that message makes no thread and no tip. From anyone else,
``ACK 1234`` is an ordinary reporter's message, handled exactly as any other, so a reporter
learns nothing of paging.

A page's final delivery report updates the page too (:mod:`hotline.delivery`); when an
undelivered page makes the chain's next step due, the outbox enqueues that step at once
(or brings its waiting job forward), so escalation does not wait out the window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from hotline import delivery, logs, paging, rota
from hotline.accounts import get_user
from hotline.casework import reference_of
from hotline.conversations import Conversations, Inbound, Received, normalise_sender
from hotline.errors import InvalidInputError, NotFoundError
from hotline.keys import KeyedHash
from hotline.settings import Settings
from sms.keywords import ack_code_of, keyword_of
from sms.outbox import CarrierOutbox
from sms.texts import Texts

log = logs.get_logger(__name__)

INBOUND_PATH = "/sms/twilio"
STATUS_PATH = "/sms/twilio/status"
_TWIML = "application/xml"
_MAX_MEDIA = 10  # Twilio sends at most ten attachments with one message
# What a dispatcher's pager is answered (English: the dashboard's language).
ACKNOWLEDGED_TEXT = "Acknowledged: tip {reference}."
NO_PAGE_TEXT = "No open page with that code."


class SmsWebhook:
    """The webhook's routes, built by the app factory for the public role."""

    def __init__(
        self,
        *,
        settings: Settings,
        conversations: Conversations,
        outbox: CarrierOutbox,
        engine: AsyncEngine | None = None,
        hasher: KeyedHash | None = None,
    ) -> None:
        """``engine`` and ``hasher``: for on-call dispatchers' ``ACK`` texts; without them,
        every message is a reporter's."""
        tokens = [settings.twilio_auth_token, settings.twilio_auth_token_secondary]
        self._validators = [RequestValidator(t.get_secret_value()) for t in tokens if t]
        self._account_sid = settings.twilio_account_sid
        self._public_url = settings.public_url
        self._status_url = settings.public_url + STATUS_PATH
        self._conversations = conversations
        self.outbox = outbox
        self._texts = Texts(settings)
        self._engine = engine
        self._hasher = hasher
        self._region = settings.phone_region
        self._settings = settings

    async def start(self) -> None:
        await self.outbox.start()

    async def stop(self) -> None:
        await self.outbox.stop()
        self._conversations.close()

    @property
    def routes(self) -> list[Route]:
        return [
            Route(INBOUND_PATH, self.inbound, methods=["POST"]),
            Route(STATUS_PATH, self.status, methods=["POST"]),
        ]

    async def _signed_form(self, request: Request) -> FormData | None:
        """The form, when Twilio signed it for our public address; else None."""
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not self._validators:
            return None
        form = await request.form()
        url = self._public_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        params = {key: value for key, value in form.items() if isinstance(value, str)}
        if not any(v.validate(url, params, signature) for v in self._validators):
            return None
        if form.get("AccountSid") != self._account_sid:
            return None
        return form

    async def inbound(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if form is None:
            log.warning("sms_signature_rejected", path=INBOUND_PATH, status_code=403)
            return PlainTextResponse("forbidden", status_code=403)
        sid = str(form.get("MessageSid") or form.get("SmsMessageSid") or "")
        sender = str(form.get("From") or "")
        if not sid or not sender:
            return _twiml(MessagingResponse())
        body = str(form.get("Body") or "")
        try:
            media_count = min(int(str(form.get("NumMedia") or "0")), _MAX_MEDIA)
        except ValueError:
            media_count = 0
        answer = MessagingResponse()
        code = ack_code_of(body) if media_count == 0 else None
        if code is not None:
            acknowledged = await self._acknowledge(sender, code)
            if acknowledged is not None:  # a dispatcher's pager: no thread, no tip
                answer.message(acknowledged)
                return _twiml(answer)
        inbound = Inbound(sender=sender, text=body, sid=sid, media_count=max(media_count, 0))
        action = keyword_of(body) if media_count == 0 else None
        try:
            if action is not None:
                received = await self._conversations.keyword(inbound, action)
                text = self._keyword_text(action, received.lang)
            else:
                received = await self._conversations.receive(inbound)
                text = self._reply_text(received)
        except InvalidInputError:
            return _twiml(answer)
        if received.message_id is not None:
            self.outbox.offer(received.message_id)
        if text and received.joined != "duplicate":
            answer.message(text, action=self._status_url, method="POST")
        return _twiml(answer)

    async def _acknowledge(self, sender: str, code: str) -> str | None:
        """The answer to a pager's ``ACK <code>``; None when the sender is no pager."""
        if self._engine is None or self._hasher is None:
            return None
        e164 = normalise_sender(sender, region=self._region)
        user_id = await rota.user_for_phone(self._engine, self._hasher, e164)
        if user_id is None:
            return None
        try:
            enabled = not (await get_user(self._engine, user_id)).disabled
        except NotFoundError:
            enabled = False
        tip_id = await paging.tip_for_code(self._engine, code) if enabled else None
        if tip_id is None:
            log.info("page_ack_refused", user_id=user_id, status="no_open_page")
            return NO_PAGE_TEXT
        now = datetime.now(UTC)
        if not await paging.acknowledge(self._engine, tip_id, user_id=user_id, via="sms", now=now):
            log.info("page_ack_refused", tip_id=str(tip_id), user_id=user_id, status="not_active")
            return NO_PAGE_TEXT
        log.info("page_acknowledged", tip_id=str(tip_id), user_id=user_id, status="sms")
        reference = await reference_of(self._engine, tip_id)
        return ACKNOWLEDGED_TEXT.format(reference=reference or "")

    def _keyword_text(self, action: str, lang: str) -> str:
        if action == "stop":
            return self._texts.stop(lang)
        if action == "start":
            return self._texts.start(lang)
        if action == "delete":
            return self._texts.deleted(lang)
        if action in ("en", "es"):
            return self._texts.language(lang)
        return self._texts.help(lang)

    def _reply_text(self, received: Received) -> str:
        if received.joined == "tip" and received.reference:
            critical = received.urgency == "critical"
            return self._texts.first_reply(
                received.lang, reference=received.reference, critical=critical
            )
        if received.joined == "followup":
            return self._texts.added(received.lang)
        return ""  # a message within the quiet window, or a repeat: no answer needed

    async def status(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if form is None:
            log.warning("sms_signature_rejected", path=STATUS_PATH, status_code=403)
            return PlainTextResponse("forbidden", status_code=403)
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        status = str(form.get("MessageStatus") or form.get("SmsStatus") or "")
        if sid and status:
            final: UUID | None = await self._conversations.record_status(sid, status)
            if final is not None:
                self.outbox.offer(final)
                await self._page_delivery(final, status, str(form.get("ErrorCode") or ""))
        return Response(status_code=204)

    async def _page_delivery(self, message_id: UUID, status: str, error_code: str) -> None:
        """A page's delivery report: recorded on the page; an undelivered page's next step
        enqueued now (the escalation sweep would otherwise bring it forward)."""
        if self._engine is None:
            return
        due = await delivery.record_delivery(
            self._engine,
            message_id,
            status,
            error_code=delivery.error_code_of(error_code or None),
            settings=self._settings,
            now=datetime.now(UTC),
        )
        if due is not None:
            self.outbox.offer_step(due.tip_id, due.step, delay=due.delay)


def _twiml(answer: MessagingResponse) -> Response:
    return Response(str(answer), media_type=_TWIML)
