"""Keywords are whole messages, in any case, with accents ignored."""

from __future__ import annotations

import pytest

from sms.keywords import keyword_of


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        (" Stop. ", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("Cancel", "stop"),
        ("END", "stop"),
        ("quit", "stop"),
        ("PARAR", "stop"),
        ("alto", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("HELP", "help"),
        ("info", "help"),
        ("¡Ayúda!", "help"),
        ("DELETE", "delete"),
        ("borrar", "delete"),
        ("ES", "es"),
        ("ESPAÑOL", "es"),
        ("espanol", "es"),
        ("EN", "en"),
        ("English", "en"),
    ],
)
def test_sms_keywords_are_recognised_in_any_case_and_without_accents(
    message: str, action: str
) -> None:
    assert keyword_of(message) == action


@pytest.mark.parametrize(
    "message",
    ["please stop him", "STOP IT NOW they are hurting her", "help me", "", "stopp", "end of story"],
)
def test_sms_keywords_must_be_the_whole_message(message: str) -> None:
    assert keyword_of(message) is None
