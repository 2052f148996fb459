"""The hotline command: start-up errors name the setting; init makes what a box needs."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import database_rows
from tests.helpers import run_cli


def hotline(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, **env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOTLINE_PORT", "eighty"),
        ("HOTLINE_DATABASE_URL", "mysql://nope"),
        ("HOTLINE_REDIS_URL", "http://not-redis"),
        ("HOTLINE_LANGUAGES", "english!"),
    ],
)
def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(
    variable: str, value: str, tmp_path: Path
) -> None:
    result = hotline("serve", HOTLINE_DATA_DIR=str(tmp_path), **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"hotline: {variable}: expected")


def test_the_worker_without_a_redis_url_says_which_setting_is_missing(tmp_path: Path) -> None:
    result = hotline("worker", HOTLINE_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "HOTLINE_REDIS_URL" in result.stderr


def test_init_makes_the_database_encrypted_keys_and_a_first_admin(tmp_path: Path) -> None:
    result = hotline(
        "init", HOTLINE_DATA_DIR=str(tmp_path), HOTLINE_KEY_PASSPHRASE="a long passphrase"
    )
    assert result.returncode == 0, result.stderr
    assert "one-time password" in result.stdout
    [(username, role, password_hash)] = database_rows(
        tmp_path, "SELECT username, role, password_hash FROM users"
    )
    assert (username, role) == ("admin", "admin")
    assert password_hash.startswith("$argon2id$")
    key_files = list((tmp_path / "keys").glob("case-*.key"))
    assert len(key_files) == 1
    assert '"kdf": "scrypt"' in key_files[0].read_text()
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    again = hotline(
        "init", HOTLINE_DATA_DIR=str(tmp_path), HOTLINE_KEY_PASSPHRASE="a long passphrase"
    )
    assert again.returncode == 0
    assert "one-time password" not in again.stdout  # never a second admin


def test_init_without_a_passphrase_refuses_unless_told_the_key_may_be_plain(
    tmp_path: Path,
) -> None:
    refused = hotline("init", HOTLINE_DATA_DIR=str(tmp_path))
    assert refused.returncode == 2
    assert "HOTLINE_KEY_PASSPHRASE" in refused.stderr
    allowed = hotline("init", "--insecure-unencrypted-key", HOTLINE_DATA_DIR=str(tmp_path))
    assert allowed.returncode == 0, allowed.stderr
    assert "NOT encrypted" in allowed.stdout


def test_triage_explain_prints_the_assessment_a_dispatcher_reads(tmp_path: Path) -> None:
    result = hotline(
        "triage",
        "explain",
        "They took my passport and lock us in at night, help us now",
        HOTLINE_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CRITICAL")
    assert "rules " in result.stdout


def test_triage_eval_prints_a_confusion_matrix_with_precision_and_recall(tmp_path: Path) -> None:
    corpus = tmp_path / "tips.jsonl"
    corpus.write_text(
        '{"text": "they locked the girl in room 4 tonight, she is 15", "urgency": "critical",'
        ' "category": "sex_trafficking", "lang": "en", "minors": true, "noise": false}\n'
        '{"text": "lol test", "urgency": "low", "category": "other", "lang": "en",'
        ' "minors": false, "noise": true}\n'
    )
    result = hotline("triage", "eval", str(corpus), HOTLINE_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "precision" in result.stdout
    assert "recall" in result.stdout
    assert "critical" in result.stdout
