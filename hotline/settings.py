"""Settings, read once from the environment (``HOTLINE_`` prefix) and passed around frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotline.errors import SettingsError

Role = Literal["public", "dashboard", "all"]


class Settings(BaseSettings):
    """Every knob of a deployment. Build it with :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_", frozen=True, extra="ignore", env_file=None
    )

    environment: Literal["development", "production"] = "production"
    data_dir: Path = Path("./data")
    database_url: str = ""
    redis_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    role: Role = "all"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # Keys. The passphrase opens the private key file; the public role never needs it.
    key_passphrase: SecretStr | None = None
    # scrypt cost for the private key file (log2 of N).
    key_file_scrypt_log2n: int = Field(default=17, ge=10, le=22)
    # scrypt cost for the per-tip reporter key derived from the receipt (log2 of N).
    reporter_kdf_log2n: int = Field(default=15, ge=4, le=20)

    # Public site.
    # Languages of the public site, comma-separated; each needs a catalog (docs/translations.md).
    languages: str = "en,es"
    default_language: str = "en"
    # Crisis numbers shown on every public page, per language (JSON in the environment).
    emergency_numbers: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "Emergency: 911 | National Human Trafficking Hotline: 1-888-373-7888 "
            "(text 233733)",
            "es": "Emergencias: 911 | Línea Nacional contra la Trata de Personas: "
            "1-888-373-7888 (mensaje de texto al 233733)",
        }
    )
    quick_exit_url: str = "https://www.wikipedia.org/"
    hsts: bool = False
    onion_location: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A global bucket of intake submissions: sustained per minute, and burst.
    intake_per_minute: int = Field(default=600, ge=1)
    intake_burst: int = Field(default=200, ge=1)
    # Follow-up: wrong receipts allowed per minute across the whole site, and per code.
    followup_failures_per_minute: int = Field(default=30, ge=1)
    followup_attempts_per_code: int = Field(default=5, ge=1)

    # Intake's group commit: at most this many tips per transaction.
    commit_batch_max: int = Field(default=256, ge=1)
    # How long a SQLite commit waits on another writer's lock before the reporter is told
    # "not saved" (503), in milliseconds.
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    # The same on PostgreSQL: how long a statement of the service waits on another
    # session's lock before it fails (a reporter is told "not saved"), in milliseconds.
    postgres_lock_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    # The longest a worker job may run. A job whose worker died (SIGKILL, power) runs again
    # this long plus ten seconds later, when arq's claim on it lapses.
    job_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    # The relay's safety sweep: re-offers undispatched tips older than the grace period.
    sweep_interval_seconds: float = Field(default=15.0, gt=0)
    sweep_grace_seconds: float = Field(default=10.0, ge=0)

    # Phone numbers written without a country code are read as numbers of this region.
    phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Prometheus metrics on a separate, internal listener (host:port); empty is off.
    # Bind it to loopback or a private network: never the public address (docs/metrics.md).
    metrics_bind: str = ""

    # SMS over Twilio (the sms/ channel). Without an account SID the webhook is not mounted.
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    # During an auth-token rotation Twilio may sign with either token: both are accepted.
    twilio_auth_token_secondary: SecretStr | None = None
    # The sending number (E.164) or a Messaging Service SID (MG…).
    twilio_from: str = ""
    # The REST API's base address; tests point the real client at a local stand-in.
    twilio_api_url: str = "https://api.twilio.com"
    # Messages from one sender within this many minutes of the last join the same tip.
    sms_quiet_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Delete message records and media at Twilio once committed (inbound) or final (outbound).
    sms_delete_at_carrier: bool = True
    # A thread quiet this long is forgotten: its sender hash and sealed number are deleted,
    # so nobody can link a later text from that number to the old tip.
    sms_thread_days: int = Field(default=30, ge=1, le=3650)

    # Dashboard sign-in. A session ends after this many idle minutes, and at the latest
    # after the hours given, however busy.
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=14, ge=1, le=7 * 24)
    # The sign-in that makes this many wrong passwords (or codes) in a row locks the account
    # for the minutes given; an admin can unlock it sooner (``hotline user unlock``).
    login_lock_after: int = Field(default=6, ge=2, le=100)
    login_lock_minutes: int = Field(default=30, ge=1)
    # Failed sign-ins allowed per minute across all accounts, before everyone waits.
    login_failures_per_minute: int = Field(default=60, ge=1)
    # How soon each urgency should be claimed, in minutes (the queue shows age against it).
    urgency_targets: dict[str, int] = Field(
        default_factory=lambda: {"critical": 5, "high": 30, "medium": 240, "low": 1440}
    )
    dashboard_page_size: int = Field(default=50, ge=10, le=500)

    # On-call paging. Urgencies that page the on-call dispatcher, comma-separated.
    page_urgencies: str = "critical"
    # Minutes without an acknowledgement before the next layer is paged, per urgency.
    escalation_minutes: dict[str, float] = Field(
        default_factory=lambda: {"critical": 5.0, "high": 15.0}
    )
    # Rounds through primary, backup and supervisor before paging gives up (and says so).
    escalation_rounds: int = Field(default=2, ge=1, le=10)

    # Retention: a closed tip, and every row that names it, is purged this many days after
    # it was closed (0 keeps closed tips for ever). docs/operations.md explains the default.
    retention_days: int = Field(default=365, ge=0, le=36500)

    @field_validator("page_urgencies")
    @classmethod
    def _page_urgencies_are_urgencies(cls, value: str) -> str:
        chosen = [part.strip() for part in value.split(",") if part.strip()]
        if not chosen or not set(chosen) <= {"critical", "high", "medium", "low"}:
            raise ValueError("comma-separated urgencies such as critical,high")
        return ",".join(chosen)

    @property
    def paged_urgencies(self) -> frozenset[str]:
        return frozenset(self.page_urgencies.split(","))

    def escalation_window(self, urgency: str) -> float:
        """Seconds to wait for an acknowledgement at ``urgency`` before the next page."""
        minutes = self.escalation_minutes
        return 60.0 * minutes.get(urgency, minutes.get("high", 15.0))

    @field_validator("urgency_targets")
    @classmethod
    def _targets_cover_every_urgency(cls, value: dict[str, int]) -> dict[str, int]:
        wanted = {"critical", "high", "medium", "low"}
        if set(value) != wanted or any(minutes <= 0 for minutes in value.values()):
            raise ValueError("a JSON object of minutes for critical, high, medium and low")
        return value

    @field_validator(
        "key_passphrase", "twilio_auth_token", "twilio_auth_token_secondary", mode="before"
    )
    @classmethod
    def _empty_passphrase_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an absolute http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("twilio_api_url")
    @classmethod
    def _twilio_api_url_is_absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("an absolute http:// or https:// URL")
        return value.rstrip("/")

    @property
    def sms_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("a redis://, rediss:// or unix:// URL, or empty for embedded Redis")
        return value

    @field_validator("metrics_bind")
    @classmethod
    def _metrics_bind_is_host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if value and not (sep and host.strip("[]") and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError("host:port, such as 127.0.0.1:9464, or empty for no metrics")
        return value

    @field_validator("languages")
    @classmethod
    def _languages_are_codes(cls, value: str) -> str:
        codes = [code.strip() for code in value.split(",") if code.strip()]
        if not codes or not all(code.isalpha() and 2 <= len(code) <= 3 for code in codes):
            raise ValueError("comma-separated language codes such as en,es")
        return ",".join(codes)

    @property
    def language_codes(self) -> tuple[str, ...]:
        return tuple(self.languages.split(","))

    def emergency_numbers_for(self, lang: str) -> str:
        numbers = self.emergency_numbers
        return (
            numbers.get(lang)
            or numbers.get(self.default_language)
            or next(iter(numbers.values()), "")
        )

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return _with_async_driver(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def _with_async_driver(url: str) -> str:
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    if url.startswith("postgresql:"):
        return "postgresql+asyncpg:" + url.removeprefix("postgresql:")
    return url


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value raises :class:`SettingsError` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        expected = str(first.get("msg", "a valid value")).removeprefix("Value error, ")
        raise SettingsError(f"HOTLINE_{field.upper()}: expected {expected}") from None
