"""Carrier-side minimisation: what Twilio holds is fetched if needed, then deleted there.

For an inbound message, once it is committed: its media are fetched with the account's
credentials (within size and type limits), re-encoded with Pillow so no metadata (EXIF,
GPS, XMP, ICC) survives, sealed, and stored; then the media and the message record are
deleted at Twilio. An outbound message is deleted once its status is final. A 404 at
Twilio means already deleted. Twilio's 429 and 5xx answers become ``arq.Retry``.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import sqlalchemy as sa
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.exc import IntegrityError
from twilio.base.exceptions import TwilioRestException

from hotline import logs
from hotline.conversations import FINAL_STATUSES, MEDIA_DOMAIN, SID_FIELD
from hotline.tables import sms_media, sms_messages
from sms.client import REST_FAILURES, AccountUser, basic_authorization, is_transient, retry

log = logs.get_logger(__name__)

# Twilio accepts at most 5 MB of media per MMS; anything larger is refused unread.
MEDIA_MAX_BYTES = 5 * 1024 * 1024
MEDIA_MAX_PIXELS = 40_000_000
# Only images, which Pillow can re-encode without their metadata. Video and audio carry
# metadata we cannot strip here, so they are refused (and still deleted at Twilio).
IMAGE_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "PNG",
    "image/webp": "PNG",
}


class MediaRefusedError(Exception):
    """An attachment is of a refused type or size."""


@dataclass(frozen=True, slots=True)
class CleanImage:
    content_type: str
    data: bytes


def strip_image(data: bytes) -> CleanImage:
    """Re-encode an image from its pixels alone: no EXIF, GPS, XMP, ICC or comments."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MEDIA_MAX_PIXELS:
                raise MediaRefusedError("too many pixels")
            oriented = ImageOps.exif_transpose(image)  # keep the picture upright
            kind = "JPEG" if image.format == "JPEG" else "PNG"
            mode = "RGB" if kind == "JPEG" else "RGBA"
            pixels = oriented.convert(mode)
            clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise MediaRefusedError("not a readable image") from None
    out = io.BytesIO()
    clean.save(out, format=kind, **({"quality": 90} if kind == "JPEG" else {}))
    return CleanImage("image/jpeg" if kind == "JPEG" else "image/png", out.getvalue())


class Carrier(AccountUser):
    """Fetches and deletes message records and media at Twilio."""

    @property
    def _auth(self) -> dict[str, str]:
        token = self._settings.twilio_auth_token
        secret = token.get_secret_value() if token else ""
        return {"Authorization": basic_authorization(self._settings.twilio_account_sid, secret)}

    async def clean_up(self, message_id: uuid.UUID, *, job_try: int = 1) -> bool:
        """Fetch the message's media if any, then delete it at Twilio; True when done."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(sms_messages).where(sms_messages.c.id == message_id))
            ).one_or_none()
        if row is None or row.sid_sealed is None or row.carrier_deleted_at is not None:
            return False
        if row.direction == "out" and row.status not in FINAL_STATUSES:
            return False  # Twilio refuses to delete a message still on its way
        sid = self._opener.open(row.sid_sealed, tip_id=message_id, field=SID_FIELD).decode()
        message = self._account.messages(sid)
        try:
            media = await message.media.list_async() if row.media_count else []
            if row.direction == "in" and not row.media_fetched:
                for item in media:
                    await self._keep_media(row.id, row.tip_id, str(item.sid), item.uri)
                await self._update(message_id, media_fetched=True)
            if not self._settings.sms_delete_at_carrier:
                return False
            for item in media:
                await _deleted(message.media(str(item.sid)).delete_async())
            await _deleted(message.delete_async())
        except REST_FAILURES as exc:
            if is_transient(exc):
                log.warning("sms_carrier_deferred", job_id=str(message_id), attempt=job_try)
                raise retry(job_try) from None
            log.error("sms_carrier_failed", job_id=str(message_id), status=type(exc).__name__)
            return False
        await self._update(message_id, carrier_deleted_at=datetime.now(UTC), sid_sealed=None)
        log.info("sms_deleted_at_carrier", job_id=str(message_id), count=len(media))
        return True

    async def _keep_media(
        self, message_id: uuid.UUID, tip_id: uuid.UUID | None, media_sid: str, uri: str | None
    ) -> None:
        digest = self._hasher.digest(MEDIA_DOMAIN, media_sid)
        async with self._engine.connect() as conn:
            known = (
                await conn.execute(
                    sa.select(sms_media.c.id).where(sms_media.c.media_sid_hash == digest)
                )
            ).first()
        if known is not None:
            return  # fetched on an earlier try
        media_id = uuid.uuid4()
        content_type, size, sealed = "refused", 0, None
        try:
            raw_type, data = await self._fetch(uri or "")
            content_type, size = raw_type, len(data)
            if raw_type not in IMAGE_TYPES:
                raise MediaRefusedError("type")
            clean = strip_image(data)
            content_type, size = clean.content_type, len(clean.data)
            if tip_id is not None:
                sealed = self._sealer.seal(clean.data, tip_id=tip_id, field=f"media:{media_id}")
        except MediaRefusedError:
            sealed = None
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.insert(sms_media).values(
                        id=media_id,
                        message_id=message_id,
                        tip_id=tip_id,
                        media_sid_hash=digest,
                        content_type=content_type[:32],
                        size=size,
                        body_sealed=sealed,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            return  # another try stored it first

    async def _fetch(self, uri: str) -> tuple[str, bytes]:
        """The media's bytes, with the account's credentials, refused past the limit."""
        url = self._settings.twilio_api_url + uri.removesuffix(".json")
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=self._auth) as answer,
        ):
            if answer.status == 429 or answer.status >= 500:
                raise TwilioRestException(answer.status, "media", "media fetch failed")
            if answer.status != 200:
                raise MediaRefusedError("not fetched")
            if (answer.content_length or 0) > MEDIA_MAX_BYTES:
                raise MediaRefusedError("too large")
            content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            data = bytearray()
            async for chunk in answer.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MEDIA_MAX_BYTES:
                    raise MediaRefusedError("too large")
        return content_type, bytes(data)

    async def _update(self, message_id: uuid.UUID, **values: object) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(sms_messages).where(sms_messages.c.id == message_id).values(**values)
            )


async def _deleted(call: object) -> None:
    """Await a delete; a 404 means Twilio no longer has it, which is what we want."""
    try:
        await call  # type: ignore[misc]
    except TwilioRestException as exc:
        if exc.status != 404:
            raise
