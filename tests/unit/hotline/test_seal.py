from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hotline.errors import SealError
from hotline.seal import KEY_ID_BYTES, Opener, Sealer, key_id_of


@pytest.fixture
def private() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def test_a_sealed_field_opens_under_its_own_tip_and_field(private: X25519PrivateKey) -> None:
    tip = uuid.uuid4()
    envelope = Sealer(private.public_key()).seal(b"seen at the motel", tip_id=tip, field="body")
    assert Opener.of(private).open(envelope, tip_id=tip, field="body") == b"seen at the motel"


def test_an_envelope_names_its_key_id(private: X25519PrivateKey) -> None:
    envelope = Sealer(private.public_key()).seal(b"x", tip_id=uuid.uuid4(), field="body")
    assert envelope[1 : 1 + KEY_ID_BYTES] == key_id_of(private.public_key())


def test_a_ciphertext_copied_to_another_tip_does_not_open(private: X25519PrivateKey) -> None:
    envelope = Sealer(private.public_key()).seal(b"secret", tip_id=uuid.uuid4(), field="body")
    with pytest.raises(SealError):
        Opener.of(private).open(envelope, tip_id=uuid.uuid4(), field="body")


def test_a_ciphertext_moved_to_another_field_does_not_open(private: X25519PrivateKey) -> None:
    tip = uuid.uuid4()
    envelope = Sealer(private.public_key()).seal(b"secret", tip_id=tip, field="body")
    with pytest.raises(SealError):
        Opener.of(private).open(envelope, tip_id=tip, field="message:1")


def test_a_tampered_envelope_does_not_open(private: X25519PrivateKey) -> None:
    tip = uuid.uuid4()
    envelope = bytearray(Sealer(private.public_key()).seal(b"secret", tip_id=tip, field="body"))
    envelope[-1] ^= 1
    with pytest.raises(SealError):
        Opener.of(private).open(bytes(envelope), tip_id=tip, field="body")


def test_an_opener_holds_rotated_keys_and_picks_by_key_id() -> None:
    old, new = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    tip = uuid.uuid4()
    sealed_old = Sealer(old.public_key()).seal(b"old", tip_id=tip, field="body")
    sealed_new = Sealer(new.public_key()).seal(b"new", tip_id=tip, field="body")
    opener = Opener.of(old, new)
    assert opener.open(sealed_old, tip_id=tip, field="body") == b"old"
    assert opener.open(sealed_new, tip_id=tip, field="body") == b"new"


def test_an_envelope_for_an_unknown_key_names_the_key_not_the_content(
    private: X25519PrivateKey,
) -> None:
    tip = uuid.uuid4()
    envelope = Sealer(private.public_key()).seal(b"the content", tip_id=tip, field="body")
    with pytest.raises(SealError) as caught:
        Opener.of(X25519PrivateKey.generate()).open(envelope, tip_id=tip, field="body")
    assert key_id_of(private.public_key()).hex() in str(caught.value)
    assert "the content" not in str(caught.value)
