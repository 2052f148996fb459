"""Receipt codes: what a web reporter keeps to come back, add details and read answers.

A receipt is 16 decimal digits (53 bits), shown once in groups of four, stored only as a
keyed hash. The same code, stretched with scrypt and a per-tip salt, yields the tip's
reporter key: replies sealed to it open only while the reporter presents the code.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hotline.keys import KeyedHash

DIGITS = 16
SALT_BYTES = 16


def new_receipt() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def format_receipt(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_receipt(text: str) -> str | None:
    """Digits only, whatever the reporter typed between them; ``None`` if it is not a code."""
    folded = unicodedata.normalize("NFKC", text[:64])
    digits = "".join(ch for ch in folded if ch.isdigit() and ch.isascii())
    return digits if len(digits) == DIGITS else None


def receipt_hash(hasher: KeyedHash, code: str) -> bytes:
    return hasher.digest("receipt", code)


def derive_reporter_key(code: str, salt: bytes, *, log2n: int) -> X25519PrivateKey:
    """Stretch the receipt into the tip's reporter key. Slow on purpose: run it in a thread."""
    seed = Scrypt(salt=salt, length=32, n=2**log2n, r=8, p=1).derive(code.encode("ascii"))
    return X25519PrivateKey.from_private_bytes(seed)


# The confirmation page shows the receipt after a 303. It travels there sealed under a
# one-time token that only the redirect URL holds, and is deleted when first shown.


def new_handoff_token() -> str:
    return secrets.token_urlsafe(18)


def handoff_token_hash(token: str) -> bytes:
    return hashlib.sha256(b"hotline/handoff-id\x00" + token.encode("ascii")).digest()


def _handoff_key(token: str) -> bytes:
    return hashlib.sha256(b"hotline/handoff-key\x00" + token.encode("ascii")).digest()


def seal_for_handoff(token: str, code: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_handoff_key(token)).encrypt(nonce, code.encode("ascii"), None)


def open_handoff(token: str, sealed: bytes) -> str:
    return AESGCM(_handoff_key(token)).decrypt(sealed[:12], sealed[12:], None).decode("ascii")
