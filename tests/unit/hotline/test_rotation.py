"""Re-sealing an envelope to a new key, and the list of columns sealed to the case key."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hotline.errors import SealError
from hotline.rotation import CASE_KEY_COLUMNS, NOT_CASE_KEY
from hotline.seal import Opener, Sealer, envelope_key_id, key_id_of
from hotline.tables import metadata


def test_a_rewrapped_envelope_names_the_new_key_and_opens_only_with_it() -> None:
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    tip = uuid.uuid4()
    envelope = Sealer(old.public_key()).seal(b"what I saw", tip_id=tip, field="body")
    rewrapped = Opener.of(old).rewrap(envelope, new.public_key())
    assert envelope_key_id(rewrapped) == key_id_of(new.public_key())
    assert Opener.of(new).open(rewrapped, tip_id=tip, field="body") == b"what I saw"
    with pytest.raises(SealError, match="no private key"):
        Opener.of(old).open(rewrapped, tip_id=tip, field="body")


def test_a_rewrapped_envelope_stays_bound_to_its_tip_and_field() -> None:
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    tip = uuid.uuid4()
    envelope = Sealer(old.public_key()).seal(b"note", tip_id=tip, field="note:1")
    rewrapped = Opener.of(old).rewrap(envelope, new.public_key())
    with pytest.raises(SealError, match="does not open"):
        Opener.of(new).open(rewrapped, tip_id=uuid.uuid4(), field="note:1")
    with pytest.raises(SealError, match="does not open"):
        Opener.of(new).open(rewrapped, tip_id=tip, field="body")


def test_envelopes_that_shared_a_data_key_share_the_new_header() -> None:
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    sealer, opener = Sealer(old.public_key()), Opener.of(old)
    first = sealer.seal(b"a", tip_id=uuid.uuid4(), field="body")
    second = sealer.seal(b"b", tip_id=uuid.uuid4(), field="body")
    head = len(first) - len(b"a") - 12 - 16  # version, id, length, wrapped; then nonce, body
    assert first[:head] == second[:head]
    one, two = opener.rewrap(first, new.public_key()), opener.rewrap(second, new.public_key())
    assert one[:head] == two[:head] != first[:head]


def test_rewrap_to_the_key_already_named_changes_nothing_and_unknown_keys_are_refused() -> None:
    key, stranger = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    envelope = Sealer(key.public_key()).seal(b"x", tip_id=uuid.uuid4(), field="body")
    assert Opener.of(key).rewrap(envelope, key.public_key()) == envelope
    with pytest.raises(SealError, match="no private key"):
        Opener.of(stranger).rewrap(envelope, stranger.public_key())
    assert envelope_key_id(b"\x02not an envelope") is None


def test_every_sealed_column_is_listed_as_case_key_or_not() -> None:
    """A new ``*_sealed`` column must be named here, or re-seal would miss it."""
    listed = {sealed.label for sealed in CASE_KEY_COLUMNS}
    schema = {
        f"{table.name}.{column.name}"
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_sealed")
    }
    assert schema == listed | set(NOT_CASE_KEY)
    assert not listed & set(NOT_CASE_KEY)
    for sealed in CASE_KEY_COLUMNS:
        assert sealed.key is not None  # one-column primary keys only
