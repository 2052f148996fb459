"""Reading public forms: bounded, total over any bytes, and cleaned of control characters."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_FIELDS = 32
# C0 and C1 controls except tab and newline; NUL included. Also lone surrogates.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


async def read_form(request: Request) -> dict[str, str]:
    """The form's text fields (first value wins). Invalid UTF-8 becomes U+FFFD, never a 500."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        except HTTPException:
            raise
        except (ValueError, KeyError) as exc:  # malformed multipart framing
            raise HTTPException(400) from exc
        return {k: clean(v) for k, v in form.multi_items() if not isinstance(v, UploadFile)}
    body = await request.body()
    text = body.decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            encoding="utf-8",
            errors="replace",
        )
    except ValueError as exc:  # too many fields
        raise HTTPException(400) from exc
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, clean(value))
    return fields


def clean(value: str) -> str:
    """NFC, unified newlines, no control characters, no surrounding blank space."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return unicodedata.normalize("NFC", value).strip()
