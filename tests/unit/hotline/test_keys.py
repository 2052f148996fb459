from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest

from hotline import keys
from hotline.errors import KeyFileError


def test_init_writes_every_key_file_with_mode_0600(tmp_path: Path) -> None:
    keys.init_keys(tmp_path / "k", passphrase="correct horse battery", scrypt_log2n=10)
    files = list((tmp_path / "k").iterdir())
    assert {f.name.split("-")[0] for f in files} >= {"case.pub", "case", "hash.key", "linkage.key"}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700


def test_the_private_key_file_is_encrypted_under_the_passphrase(tmp_path: Path) -> None:
    key_id = keys.init_keys(tmp_path, passphrase="correct horse battery", scrypt_log2n=10)
    text = (tmp_path / f"case-{key_id.hex()}.key").read_text()
    assert '"kdf": "scrypt"' in text
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        keys.load_opener(tmp_path, "wrong passphrase!!")
    with pytest.raises(KeyFileError, match="HOTLINE_KEY_PASSPHRASE"):
        keys.load_opener(tmp_path, None)


def test_the_public_key_seals_what_the_private_key_opens(tmp_path: Path) -> None:
    keys.init_keys(tmp_path, passphrase="correct horse battery", scrypt_log2n=10)
    tip = uuid.uuid4()
    envelope = keys.load_sealer(tmp_path).seal(b"hello", tip_id=tip, field="body")
    opener = keys.load_opener(tmp_path, "correct horse battery")
    assert opener.open(envelope, tip_id=tip, field="body") == b"hello"


def test_an_unencrypted_private_key_needs_an_explicit_flag(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="passphrase"):
        keys.init_keys(tmp_path, passphrase=None)
    keys.init_keys(tmp_path, passphrase=None, allow_unencrypted=True)
    assert keys.load_opener(tmp_path, None).private_keys


def test_init_refuses_to_overwrite_existing_keys(tmp_path: Path) -> None:
    keys.init_keys(tmp_path, passphrase="correct horse battery", scrypt_log2n=10)
    with pytest.raises(KeyFileError, match="refusing"):
        keys.init_keys(tmp_path, passphrase="correct horse battery", scrypt_log2n=10)


def test_keyed_hashes_differ_by_domain_and_key(tmp_path: Path) -> None:
    keys.init_keys(tmp_path, passphrase="correct horse battery", scrypt_log2n=10)
    hasher = keys.load_hash_key(tmp_path)
    linkage = keys.load_linkage_key(tmp_path)
    assert hasher.digest("receipt", "1") != hasher.digest("sms-sender", "1")
    assert hasher.digest("receipt", "1") != linkage.digest("receipt", "1")
    assert "****" in repr(hasher)
