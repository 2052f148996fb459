from __future__ import annotations

import math

from hotline import receipts


def test_a_receipt_has_sixteen_digits_and_at_least_fifty_bits() -> None:
    code = receipts.new_receipt()
    assert len(code) == 16
    assert code.isdigit()
    assert math.log2(10**receipts.DIGITS) >= 50


def test_receipts_are_shown_in_groups_of_four() -> None:
    assert receipts.format_receipt("1234567890123456") == "1234 5678 9012 3456"


def test_a_receipt_typed_with_spaces_dashes_or_wide_digits_is_understood() -> None:
    assert receipts.normalise_receipt("1234 5678-9012 3456") == "1234567890123456"
    wide = "".join(chr(0xFF10 + int(d)) for d in "1234567890123456")  # full-width digits
    assert receipts.normalise_receipt(wide) == "1234567890123456"
    assert receipts.normalise_receipt("1234") is None
    assert receipts.normalise_receipt("") is None


def test_the_reporter_key_depends_on_the_receipt_and_the_salt() -> None:
    a = receipts.derive_reporter_key("1234567890123456", b"s" * 16, log2n=4)
    b = receipts.derive_reporter_key("1234567890123456", b"s" * 16, log2n=4)
    c = receipts.derive_reporter_key("1234567890123457", b"s" * 16, log2n=4)
    d = receipts.derive_reporter_key("1234567890123456", b"t" * 16, log2n=4)
    raw = [k.public_key().public_bytes_raw() for k in (a, b, c, d)]
    assert raw[0] == raw[1]
    assert len(set(raw)) == 3


def test_a_handoff_opens_only_with_its_token() -> None:
    token = receipts.new_handoff_token()
    sealed = receipts.seal_for_handoff(token, "1234567890123456")
    assert receipts.open_handoff(token, sealed) == "1234567890123456"
    assert b"1234567890123456" not in sealed
