"""Sealing at rest: HPKE (RFC 9180) to the case key, bound to a tip id and a field.

An envelope is ``VERSION || key_id (8 bytes) || HPKE(enc || ciphertext)``. The tip id and
field name are bound in as HPKE ``info``, so a ciphertext copied to another row or
another column does not open. The key id lets keys rotate: an :class:`Opener` holds every
private key it may need, a :class:`Sealer` only the current public key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hotline.errors import SealError

VERSION = b"\x01"
KEY_ID_BYTES = 8
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_DOMAIN = b"hotline/seal/v1"


def key_id_of(public_key: X25519PublicKey) -> bytes:
    """The short, stable id of a public key, written into every envelope sealed to it."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(b"hotline/key-id\x00" + raw).digest()[:KEY_ID_BYTES]


def _info(tip_id: uuid.UUID, field: str) -> bytes:
    return b"\x00".join((_DOMAIN, tip_id.bytes, field.encode("ascii")))


@dataclass(frozen=True)
class Sealer:
    """Seals to one public key. This is all the public role ever holds."""

    public_key: X25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id_of(self.public_key)

    def seal(self, plaintext: bytes, *, tip_id: uuid.UUID, field: str) -> bytes:
        body = _SUITE.encrypt(plaintext, self.public_key, info=_info(tip_id, field))
        return VERSION + self.key_id + body


@dataclass(frozen=True)
class Opener:
    """Opens envelopes sealed to any of its private keys (current and rotated-out)."""

    private_keys: Mapping[bytes, X25519PrivateKey]

    @classmethod
    def of(cls, *keys: X25519PrivateKey) -> Opener:
        return cls({key_id_of(k.public_key()): k for k in keys})

    def open(self, envelope: bytes, *, tip_id: uuid.UUID, field: str) -> bytes:
        if len(envelope) <= 1 + KEY_ID_BYTES or envelope[:1] != VERSION:
            raise SealError(f"malformed envelope for tip {tip_id} field {field}")
        key_id = envelope[1 : 1 + KEY_ID_BYTES]
        key = self.private_keys.get(key_id)
        if key is None:
            raise SealError(f"no private key {key_id.hex()} for tip {tip_id} field {field}")
        try:
            return _SUITE.decrypt(envelope[1 + KEY_ID_BYTES :], key, info=_info(tip_id, field))
        except InvalidTag:
            raise SealError(f"envelope does not open for tip {tip_id} field {field}") from None
