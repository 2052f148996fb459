"""Sealing at rest: HPKE (RFC 9180) key encapsulation to the case key, AES-256-GCM data.

An envelope is::

    VERSION || key_id (8) || len(wrapped) (2) || wrapped || nonce (12) || AES-256-GCM body

``wrapped`` is a 256-bit data key sealed with HPKE (X25519, HKDF-SHA256, AES-256-GCM) to
the case public key named by ``key_id``, so keys rotate. The body is encrypted under the
data key with the tip id and the field name as associated data: a ciphertext copied to
another row or another column does not open.

One data key serves a handful of envelopes sealed within a second of each other, then is
dropped: the X25519 work of HPKE (about 60 µs, the largest cost of a submission) is paid
once per small batch instead of once per field. What a seized public server could still
open is what it holds in memory at that moment: the current data key's few envelopes —
the same tips whose plaintext is passing through it anyway. docs/sealing.md explains.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hotline.errors import SealError

VERSION = b"\x01"
KEY_ID_BYTES = 8
NONCE_BYTES = 12
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_WRAP_INFO = b"hotline/seal/v1/data-key"
_DOMAIN = b"hotline/seal/v1"
# A data key is dropped after this many envelopes or this many seconds, whichever first.
DATA_KEY_USES = 64
DATA_KEY_SECONDS = 1.0


def key_id_of(public_key: X25519PublicKey) -> bytes:
    """The short, stable id of a public key, written into every envelope sealed to it."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(b"hotline/key-id\x00" + raw).digest()[:KEY_ID_BYTES]


def envelope_key_id(envelope: bytes) -> bytes | None:
    """The id of the case key an envelope is sealed to, or None if it is not an envelope."""
    if len(envelope) <= 1 + KEY_ID_BYTES + 2 or envelope[:1] != VERSION:
        return None
    return envelope[1 : 1 + KEY_ID_BYTES]


def _split(envelope: bytes, where: str) -> tuple[bytes, bytes, bytes]:
    """(key id, wrapped data key, nonce and body) of an envelope; SealError if malformed."""
    head = 1 + KEY_ID_BYTES + 2
    if len(envelope) <= head or envelope[:1] != VERSION:
        raise SealError(f"malformed envelope for {where}")
    key_id = envelope[1 : 1 + KEY_ID_BYTES]
    wrapped_len = int.from_bytes(envelope[1 + KEY_ID_BYTES : head], "big")
    wrapped = envelope[head : head + wrapped_len]
    rest = envelope[head + wrapped_len :]
    if len(wrapped) != wrapped_len or len(rest) <= NONCE_BYTES:
        raise SealError(f"malformed envelope for {where}")
    return key_id, wrapped, rest


def _associated_data(tip_id: uuid.UUID, field: str) -> bytes:
    return b"\x00".join((_DOMAIN, tip_id.bytes, field.encode("ascii")))


@dataclass
class Sealer:
    """Seals to one public key. This is all the public role ever holds."""

    public_key: X25519PublicKey
    data_key_uses: int = DATA_KEY_USES
    data_key_seconds: float = DATA_KEY_SECONDS
    # Asked before each new data key (at most once a second): a newer public key after a
    # rotation, or None to keep this one. A running process so follows ``keys rotate``.
    refresh: Callable[[], X25519PublicKey | None] | None = field(default=None, repr=False)
    _header: bytes = field(default=b"", init=False, repr=False)
    _aead: AESGCM | None = field(default=None, init=False, repr=False)
    _uses_left: int = field(default=0, init=False, repr=False)
    _expires: float = field(default=0.0, init=False, repr=False)

    @property
    def key_id(self) -> bytes:
        return key_id_of(self.public_key)

    def _fresh_data_key(self) -> None:
        if self.refresh is not None:
            newer = self.refresh()
            if newer is not None:
                self.public_key = newer
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = _SUITE.encrypt(data_key, self.public_key, info=_WRAP_INFO)
        self._header = VERSION + self.key_id + len(wrapped).to_bytes(2, "big") + wrapped
        self._aead = AESGCM(data_key)
        self._uses_left = self.data_key_uses
        self._expires = time.monotonic() + self.data_key_seconds

    def seal(self, plaintext: bytes, *, tip_id: uuid.UUID, field: str) -> bytes:
        if self._uses_left <= 0 or time.monotonic() >= self._expires or self._aead is None:
            self._fresh_data_key()
        assert self._aead is not None  # noqa: S101 - set just above
        self._uses_left -= 1
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = self._aead.encrypt(nonce, plaintext, _associated_data(tip_id, field))
        return self._header + nonce + body

    def forget(self) -> None:
        """Drop the current data key (before the process sleeps, or after a burst)."""
        self._header, self._aead, self._uses_left = b"", None, 0


@dataclass
class Opener:
    """Opens envelopes sealed to any of its private keys (current and rotated-out)."""

    private_keys: Mapping[bytes, X25519PrivateKey]
    # Asked when an envelope names a key not held: every private key now on disk (a
    # rotation since start-up), or None. The caller bounds how often it reads the disk.
    reload: Callable[[], Mapping[bytes, X25519PrivateKey] | None] | None = field(
        default=None, repr=False
    )
    _unwrapped: OrderedDict[bytes, AESGCM] = field(default_factory=OrderedDict, repr=False)
    _rewrapped: OrderedDict[tuple[bytes, bytes], bytes] = field(
        default_factory=OrderedDict, repr=False
    )

    @classmethod
    def of(cls, *keys: X25519PrivateKey) -> Opener:
        return cls({key_id_of(k.public_key()): k for k in keys})

    def open(self, envelope: bytes, *, tip_id: uuid.UUID, field: str) -> bytes:
        where = f"tip {tip_id} field {field}"
        key_id, wrapped, rest = _split(envelope, where)
        key = self.private_keys.get(key_id) or self._reloaded(key_id)
        if key is None:
            raise SealError(f"no private key {key_id.hex()} for {where}")
        try:
            aead = self._unwrap(key, wrapped)
            return aead.decrypt(
                rest[:NONCE_BYTES], rest[NONCE_BYTES:], _associated_data(tip_id, field)
            )
        except InvalidTag:
            raise SealError(f"envelope does not open for {where}") from None

    def _reloaded(self, key_id: bytes) -> X25519PrivateKey | None:
        """The key ``key_id`` after reading the keys again, if a reload is set and finds it."""
        if self.reload is None:
            return None
        found = self.reload()
        if found is None:
            return None
        self.private_keys = dict(found)
        return self.private_keys.get(key_id)

    def rewrap(self, envelope: bytes, to: X25519PublicKey) -> bytes:
        """The same envelope with its data key wrapped to ``to`` (key rotation's re-seal).

        Only the header changes: the body, its nonce and its binding to a tip and a field
        stay as they were, so the caller need not know which row or field it holds.
        Envelopes that shared a data key share the new header too.
        """
        key_id, wrapped, rest = _split(envelope, "an envelope being re-sealed")
        target = key_id_of(to)
        if key_id == target:
            return envelope
        header = self._rewrapped.get((wrapped, target))
        if header is None:
            key = self.private_keys.get(key_id)
            if key is None:
                raise SealError(f"no private key {key_id.hex()} to re-seal an envelope")
            try:
                data_key = _SUITE.decrypt(wrapped, key, info=_WRAP_INFO)
            except InvalidTag:
                raise SealError(f"an envelope naming key {key_id.hex()} does not open") from None
            new_wrapped = _SUITE.encrypt(data_key, to, info=_WRAP_INFO)
            header = VERSION + target + len(new_wrapped).to_bytes(2, "big") + new_wrapped
            self._rewrapped[(wrapped, target)] = header
            if len(self._rewrapped) > 1024:
                self._rewrapped.popitem(last=False)
        return header + rest

    def _unwrap(self, key: X25519PrivateKey, wrapped: bytes) -> AESGCM:
        aead = self._unwrapped.get(wrapped)
        if aead is None:
            aead = AESGCM(_SUITE.decrypt(wrapped, key, info=_WRAP_INFO))
            self._unwrapped[wrapped] = aead
            if len(self._unwrapped) > 1024:
                self._unwrapped.popitem(last=False)
        return aead
