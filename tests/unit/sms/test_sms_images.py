"""Pictures are re-encoded from their pixels alone: no metadata survives."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sms.carrier import MediaRefusedError, strip_image


def test_sms_image_stripping_drops_exif_and_gps_and_keeps_the_picture() -> None:
    image = Image.new("RGB", (30, 20), (1, 2, 3))
    exif = Image.Exif()
    exif[0x0110] = "SecretPhoneModel"
    gps = exif.get_ifd(0x8825)
    gps[2] = (37.0, 46.0, 29.0)
    raw = io.BytesIO()
    image.save(raw, format="JPEG", exif=exif)
    clean = strip_image(raw.getvalue())
    assert clean.content_type == "image/jpeg"
    assert b"SecretPhoneModel" not in clean.data
    with Image.open(io.BytesIO(clean.data)) as stored:
        assert stored.size == (30, 20)
        assert dict(stored.getexif()) == {}


def test_sms_image_stripping_turns_other_formats_into_png_without_text_chunks() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Elm Street")
    raw = io.BytesIO()
    Image.new("RGBA", (5, 5)).save(raw, format="PNG", pnginfo=info)
    clean = strip_image(raw.getvalue())
    assert clean.content_type == "image/png"
    assert b"Elm Street" not in clean.data


def test_sms_image_stripping_refuses_what_is_not_an_image() -> None:
    with pytest.raises(MediaRefusedError):
        strip_image(b"%PDF-1.7 not a picture")
