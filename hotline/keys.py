"""Key files: the case key pair, the keyed-hash key and the linkage key.

Layout of the keys directory (every file mode 0600, the directory 0700):

- ``case.pub``            the current case public key (all the public role needs);
- ``case-<key id>.key``   a case private key, encrypted under a passphrase with scrypt and
                          AES-256-GCM, or in the clear only when explicitly allowed; after
                          ``hotline keys rotate`` there is one per key that envelopes name;
- ``hash.key``            the HMAC key for receipts, SMS senders and message ids;
- ``linkage.key``         the HMAC key for entity linkage, held by the worker only.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from hotline.errors import KeyFileError
from hotline.seal import Opener, Sealer, key_id_of

PUBLIC_FILE = "case.pub"
HASH_FILE = "hash.key"
LINKAGE_FILE = "linkage.key"
_PUBLIC_HEADER = "hotline-case-public-v1"


@dataclass(frozen=True)
class KeyedHash:
    """HMAC-SHA256 under a secret key, separated by domain (``receipt``, ``sms-sender`` …)."""

    key: bytes

    def digest(self, domain: str, value: str | bytes) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else value
        return hmac.digest(self.key, domain.encode("ascii") + b"\x00" + data, "sha256")

    def __repr__(self) -> str:
        return "KeyedHash(key=****)"


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(content)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def keys_exist(keys_dir: Path) -> bool:
    return (keys_dir / PUBLIC_FILE).exists()


def init_keys(
    keys_dir: Path,
    *,
    passphrase: str | None,
    allow_unencrypted: bool = False,
    scrypt_log2n: int = 17,
) -> bytes:
    """Write a new case key pair and the HMAC keys; return the case key id.

    Refuses to overwrite, and refuses an unencrypted private key unless told so.
    """
    if passphrase is None and not allow_unencrypted:
        raise KeyFileError(
            "a passphrase is needed for the private key (HOTLINE_KEY_PASSPHRASE), "
            "or --insecure-unencrypted-key for development"
        )
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys_dir, 0o700)
    if keys_exist(keys_dir):
        raise KeyFileError(f"keys already exist in {keys_dir}; refusing to overwrite")
    private = X25519PrivateKey.generate()
    key_id = write_case_private_key(keys_dir, private, passphrase, scrypt_log2n=scrypt_log2n)
    write_case_public_key(keys_dir, private.public_key())
    for name in (HASH_FILE, LINKAGE_FILE):
        if not (keys_dir / name).exists():
            _write_private(keys_dir / name, _b64(secrets.token_bytes(32)) + "\n")
    return key_id


def write_case_public_key(keys_dir: Path, public: X25519PublicKey) -> None:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    line = f"{_PUBLIC_HEADER} {key_id_of(public).hex()} {_b64(raw)}\n"
    tmp = keys_dir / (PUBLIC_FILE + ".tmp")
    tmp.unlink(missing_ok=True)
    _write_private(tmp, line)
    tmp.replace(keys_dir / PUBLIC_FILE)


def write_case_private_key(
    keys_dir: Path, private: X25519PrivateKey, passphrase: str | None, *, scrypt_log2n: int
) -> bytes:
    key_id = key_id_of(private.public_key())
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    if passphrase is None:
        record = {"v": 1, "kdf": "none", "key": _b64(raw)}
    else:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        wrap = Scrypt(salt=salt, length=32, n=2**scrypt_log2n, r=8, p=1).derive(
            passphrase.encode("utf-8")
        )
        sealed = AESGCM(wrap).encrypt(nonce, raw, key_id)
        record = {
            "v": 1,
            "kdf": "scrypt",
            "log2n": scrypt_log2n,
            "r": 8,
            "p": 1,
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "ct": _b64(sealed),
        }
    _write_private(keys_dir / f"case-{key_id.hex()}.key", json.dumps(record) + "\n")
    return key_id


def load_sealer(keys_dir: Path) -> Sealer:
    """The current case public key: all the public role loads.

    The sealer looks at ``case.pub`` again before each new data key (a ``stat``, at most
    once a second) and takes up a rotated key, so a process that was not restarted after
    ``hotline keys rotate`` stops sealing to the old key within a second, and a later
    ``keys retire`` cannot strand what it seals.
    """
    path = keys_dir / PUBLIC_FILE
    sealer = Sealer(_read_public(path))
    stamp = [_file_stamp(path)]

    def refresh() -> X25519PublicKey | None:
        now = _file_stamp(path)
        if now == stamp[0]:
            return None
        try:
            newer = _read_public(path)
        except KeyFileError:
            return None  # half-written or gone: keep sealing to the key we hold
        stamp[0] = now
        return newer

    sealer.refresh = refresh
    return sealer


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def _read_public(path: Path) -> X25519PublicKey:
    try:
        header, key_id_hex, raw_b64 = path.read_text(encoding="ascii").split()
    except (OSError, ValueError):
        raise KeyFileError(f"cannot read the case public key at {path}") from None
    if header != _PUBLIC_HEADER:
        raise KeyFileError(f"{path} is not a Hotline case public key")
    public = X25519PublicKey.from_public_bytes(_unb64(raw_b64))
    if key_id_of(public).hex() != key_id_hex:
        raise KeyFileError(f"{path}: key id does not match the key")
    return public


def load_opener(keys_dir: Path, passphrase: str | None) -> Opener:
    """Every case private key in the directory, unlocked. Only dashboard and worker call this.

    An envelope naming a key the opener lacks makes it read the directory again, once per
    change of its key files, so a key made by ``keys rotate`` opens without a restart.
    """
    opener = Opener.of(*_read_case_keys(keys_dir, passphrase))
    files = [_case_key_files(keys_dir)]

    def reload() -> dict[bytes, X25519PrivateKey] | None:
        # Only when a key file was added or removed since the last read: an envelope naming
        # an unknown key does not buy another round of scrypt.
        now = _case_key_files(keys_dir)
        if now == files[0]:
            return None
        files[0] = now
        try:
            return {key_id_of(k.public_key()): k for k in _read_case_keys(keys_dir, passphrase)}
        except KeyFileError:
            return None

    opener.reload = reload
    return opener


def _case_key_files(keys_dir: Path) -> frozenset[str]:
    return frozenset(path.name for path in keys_dir.glob("case-*.key"))


def _read_case_keys(keys_dir: Path, passphrase: str | None) -> list[X25519PrivateKey]:
    found = [_read_private(path, passphrase) for path in sorted(keys_dir.glob("case-*.key"))]
    if not found:
        raise KeyFileError(f"no case private key in {keys_dir}")
    return found


def current_key_id(keys_dir: Path) -> bytes:
    """The id of the case key new tips are sealed to (the one ``case.pub`` holds)."""
    return load_sealer(keys_dir).key_id


def case_key_ids(keys_dir: Path) -> list[bytes]:
    """The ids of every case private key file in the directory (current and rotated out)."""
    found = []
    for path in sorted(keys_dir.glob("case-*.key")):
        try:
            found.append(bytes.fromhex(path.stem.removeprefix("case-")))
        except ValueError:
            continue  # not one of ours
    return found


def rotate_case_key(
    keys_dir: Path,
    *,
    passphrase: str | None,
    allow_unencrypted: bool = False,
    scrypt_log2n: int = 17,
) -> bytes:
    """Make a new case key pair the one new tips are sealed to; return its id.

    Every private key already here must open under ``passphrase`` first (so the keys stay
    under one passphrase) and is kept: envelopes name their key id, and the old ones still
    open. The private key is written before ``case.pub`` is replaced, so a crash in between
    leaves the old key current and one unused key file, never a public key without its
    private half. Running processes take up the new key by themselves: sealers look at
    ``case.pub`` before each data key, openers read the key files again when an envelope
    names a key they lack.
    """
    if passphrase is None and not allow_unencrypted:
        raise KeyFileError(
            "a passphrase is needed for the private key (HOTLINE_KEY_PASSPHRASE), "
            "or --insecure-unencrypted-key for development"
        )
    opener = load_opener(keys_dir, passphrase)
    current = current_key_id(keys_dir)
    if current not in opener.private_keys:
        raise KeyFileError(f"no private key for the current case key {current.hex()}")
    private = X25519PrivateKey.generate()
    key_id = write_case_private_key(keys_dir, private, passphrase, scrypt_log2n=scrypt_log2n)
    write_case_public_key(keys_dir, private.public_key())
    return key_id


def remove_case_private_key(keys_dir: Path, key_id: bytes) -> None:
    """Delete a rotated-out private key file. The caller checks nothing still needs it."""
    if key_id == current_key_id(keys_dir):
        raise KeyFileError(f"{key_id.hex()} is the current case key; rotate first")
    path = keys_dir / f"case-{key_id.hex()}.key"
    if not path.exists():
        raise KeyFileError(f"no private key file for {key_id.hex()}")
    path.unlink()


def _read_private(path: Path, passphrase: str | None) -> X25519PrivateKey:
    try:
        record = json.loads(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        raise KeyFileError(f"cannot read the private key file {path.name}") from None
    key_id = bytes.fromhex(path.stem.removeprefix("case-"))
    if record.get("kdf") == "none":
        raw = _unb64(record["key"])
    elif record.get("kdf") == "scrypt":
        if passphrase is None:
            raise KeyFileError(f"{path.name} is encrypted: set HOTLINE_KEY_PASSPHRASE")
        wrap = Scrypt(
            salt=_unb64(record["salt"]),
            length=32,
            n=2 ** int(record["log2n"]),
            r=int(record["r"]),
            p=int(record["p"]),
        ).derive(passphrase.encode("utf-8"))
        try:
            raw = AESGCM(wrap).decrypt(_unb64(record["nonce"]), _unb64(record["ct"]), key_id)
        except InvalidTag:
            raise KeyFileError(f"wrong passphrase for {path.name}") from None
    else:
        raise KeyFileError(f"{path.name}: unknown key file format")
    private = X25519PrivateKey.from_private_bytes(raw)
    if key_id_of(private.public_key()) != key_id:
        raise KeyFileError(f"{path.name}: key id does not match the key")
    return private


def _load_secret(path: Path) -> bytes:
    try:
        return _unb64(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        raise KeyFileError(f"cannot read the key file {path.name}") from None


def load_hash_key(keys_dir: Path) -> KeyedHash:
    return KeyedHash(_load_secret(keys_dir / HASH_FILE))


def load_linkage_key(keys_dir: Path) -> KeyedHash:
    return KeyedHash(_load_secret(keys_dir / LINKAGE_FILE))
