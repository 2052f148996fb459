from __future__ import annotations

from web.forms import clean
from web.i18n import _accept_language


def test_clean_removes_nul_and_control_characters_but_keeps_lines() -> None:
    assert clean("a\x00b\x07c\r\nd\te\x9f") == "abc\nd\te"


def test_clean_removes_lone_surrogates() -> None:
    assert clean("ok\ud800") == "ok"


def test_accept_language_is_read_in_order_of_quality() -> None:
    assert _accept_language("en;q=0.5, es-MX, fr;q=0.8") == ["es", "fr", "en"]
    assert _accept_language("garbage;;q=x,,") == []  # an unreadable q counts as 0
    assert _accept_language("es;;,") == ["es"]
    assert _accept_language("") == []
