from __future__ import annotations

import pytest

from hotline.errors import SettingsError
from hotline.settings import load_settings


def test_a_malformed_setting_is_named_with_what_it_expects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOTLINE_PORT", "eighty")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("HOTLINE_PORT: expected")
    assert "\n" not in message


def test_a_public_url_must_be_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", "example.org")
    with pytest.raises(SettingsError, match="HOTLINE_PUBLIC_URL: expected an absolute"):
        load_settings()


def test_the_default_database_is_sqlite_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.resolved_database_url.endswith("hotline.db")


def test_a_postgresql_url_gets_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", "postgresql://u@127.0.0.1/test")
    assert load_settings().resolved_database_url.startswith("postgresql+asyncpg://")


def test_the_key_passphrase_never_shows_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_KEY_PASSPHRASE", "do not print me")
    assert "do not print me" not in repr(load_settings())
