"""Reply texts carry the configured crisis numbers, in the reporter's language."""

from __future__ import annotations

from pathlib import Path

from hotline.conversations import detect_language, normalise_sender
from hotline.settings import load_settings
from sms.texts import Texts


def _texts(tmp_path: Path) -> Texts:
    return Texts(
        load_settings(
            data_dir=tmp_path,
            emergency_numbers={"en": "Call 999 or text 12345", "es": "Llame al 999"},
        )
    )


def test_sms_first_reply_gives_the_reference_and_the_configured_numbers(tmp_path: Path) -> None:
    reply = _texts(tmp_path).first_reply("en", reference="ABCDE-FGHJK", critical=False)
    assert "ABCDE-FGHJK" in reply
    assert "Call 999 or text 12345" in reply
    assert len(reply) <= 480  # three SMS segments at most


def test_sms_first_reply_to_a_critical_tip_leads_with_the_safety_text(tmp_path: Path) -> None:
    reply = _texts(tmp_path).first_reply("es", reference="ABCDE-FGHJK", critical=True)
    assert reply.startswith("Si usted u otra persona está en peligro ahora")
    assert reply.index("Llame al 999") < reply.index("ABCDE-FGHJK")


def test_sms_help_is_translated_and_unknown_languages_fall_back_to_english(
    tmp_path: Path,
) -> None:
    texts = _texts(tmp_path)
    assert "Llame al 999" in texts.help("es")
    assert "Call 999" in texts.help("fr")


def test_sms_sender_numbers_are_normalised_to_e164() -> None:
    for written in ("+1 415 555 0142", "(415) 555-0142", "415.555.0142", "+14155550142"):
        assert normalise_sender(written, region="US") == "+14155550142"
    assert normalise_sender("233733", region="US") == "233733"


def test_sms_language_detection_tells_spanish_from_english() -> None:
    assert detect_language("Hay unas mujeres en una casa que no pueden salir") == "es"
    assert detect_language("There are women in a house and they cannot leave") == "en"
    assert detect_language("12345") is None
