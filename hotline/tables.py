"""The database schema, as SQLAlchemy Core tables. Alembic revisions mirror it.

Only what sorting and routing need is in the clear. Everything a person wrote is sealed
(``*_sealed`` columns hold :mod:`hotline.seal` envelopes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTC_DATETIME = UtcDateTime()

tips = sa.Table(
    "tips",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("channel", sa.String(8), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="new"),
    # Triage, in the clear: never the matched words.
    sa.Column("assessed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("urgency", sa.String(8)),
    sa.Column("score", sa.Float),
    sa.Column("category", sa.String(24)),
    sa.Column("minors", sa.Boolean),
    sa.Column("indicator_ids", sa.JSON),
    sa.Column("rules_version", sa.String(32)),
    # What the reporter wrote, sealed to the case key.
    sa.Column("body_sealed", sa.LargeBinary, nullable=False),
    # Web reporters: keyed hash of the receipt; reporter key (set on first return).
    sa.Column("receipt_hash", sa.LargeBinary(32), unique=True),
    sa.Column("reporter_salt", sa.LargeBinary(16)),
    sa.Column("reporter_public_key", sa.LargeBinary(32)),
    # Outbox state: set once by the dispatch job, exactly once.
    sa.Column("dispatched_at", UTC_DATETIME),
    # The dispatcher's work. ``priority`` is the rank of the urgency in force (0 critical …
    # 3 low): a dispatcher's override when there is one, triage's verdict otherwise.
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="1"),
    sa.Column("urgency_override", sa.String(8)),
    sa.Column("claimed_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("claimed_at", UTC_DATETIME),
    sa.Column("first_claimed_at", UTC_DATETIME),
    sa.Column("closed_at", UTC_DATETIME),
    # resolved, duplicate, not_trafficking, not_enough_information.
    sa.Column("close_reason", sa.String(24)),
    sa.Column("merged_into", sa.Uuid, sa.ForeignKey("tips.id", ondelete="SET NULL")),
    # Paging: None (never paged), "active" (escalating), "acknowledged", "exhausted"
    # (every round done, nobody answered) or "nobody" (no one on call to page).
    sa.Column("page_state", sa.String(12)),
    sa.Column("acknowledged_at", UTC_DATETIME),
    sa.Column("acknowledged_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Index("ix_tips_queue", "status", "urgency", "created_at"),
    # The open queue, most urgent then oldest first; ``id`` completes the keyset of a page.
    sa.Index(
        "ix_tips_open_queue",
        "priority",
        "created_at",
        "id",
        sqlite_where=sa.text("status != 'closed'"),
        postgresql_where=sa.text("status != 'closed'"),
    ),
    sa.Index("ix_tips_created", "created_at"),
    # The queue's change stamp (max(updated_at)), read by the live dashboard every second.
    sa.Index("ix_tips_updated", "updated_at"),
    sa.Index("ix_tips_undispatched", "dispatched_at", "created_at"),
    # Open tips with a paging chain, in queue order: the queue's alerts and banner and the
    # page sweep. Partial, because nearly every tip has no page state (migration 0006).
    sa.Index(
        "ix_tips_paging",
        "page_state",
        "priority",
        "created_at",
        "id",
        sqlite_where=sa.text("page_state IS NOT NULL AND status != 'closed'"),
        postgresql_where=sa.text("page_state IS NOT NULL AND status != 'closed'"),
    ),
)

tip_messages = sa.Table(
    "tip_messages",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    # "reporter": more information from the reporter; "hotline": a reply to the reporter.
    sa.Column("author", sa.String(8), nullable=False),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("body_sealed", sa.LargeBinary, nullable=False),
    # A hotline reply, sealed again to the tip's reporter key so the public role can show it.
    sa.Column("reporter_sealed", sa.LargeBinary),
    # The dispatcher who wrote a hotline reply.
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Index("ix_tip_messages_tip", "tip_id", "created_at"),
)

receipt_handoffs = sa.Table(
    "receipt_handoffs",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    sa.Column("receipt_sealed", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", UTC_DATETIME, nullable=False),
)

tip_events = sa.Table(
    "tip_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UTC_DATETIME, nullable=False),
    # Who did it (dashboard actions), and what changed, as ids and levels only.
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("detail", sa.JSON),
    sa.Index("ix_tip_events_tip", "tip_id", "kind"),
    sa.Index("ix_tip_events_at", "at"),
)

# Keyed hashes (under the worker-only linkage key) of what tips mention: phone numbers,
# e-mail addresses, URLs, plates, addresses. Equal hashes link tips; no value is stored.
tip_entities = sa.Table(
    "tip_entities",
    metadata,
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("digest", sa.LargeBinary(32), primary_key=True),
    sa.Index("ix_tip_entities_digest", "digest"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("totp_sealed", sa.LargeBinary),
    # Set when the user proved the TOTP secret with a code; until then, enrolment only.
    sa.Column("totp_confirmed_at", UTC_DATETIME),
    # The last TOTP time step accepted, so a code is never accepted twice.
    sa.Column("totp_last_step", sa.BigInteger),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTC_DATETIME),
    sa.Column("last_login_at", UTC_DATETIME),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
)

# One-time recovery codes, stored as SHA-256 digests (each code carries 60 random bits).
user_recovery_codes = sa.Table(
    "user_recovery_codes",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("used_at", UTC_DATETIME),
)

# Server-side dashboard sessions. The cookie carries a random token, signed; only its
# SHA-256 digest is stored, so a copy of the database opens no session.
# stage: "password" (password accepted, TOTP or enrolment still due) or "full".
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("stage", sa.String(8), nullable=False),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
    sa.Column("revoked_at", UTC_DATETIME),
    sa.Index("ix_dashboard_sessions_user", "user_id"),
)

# Append-only, hash-chained: each entry's MAC covers the previous entry's, so editing,
# deleting or inserting a row breaks the chain from there on (``hotline audit verify``).
# No foreign keys: the trail outlives the tips and accounts it names.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTC_DATETIME, nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("username", sa.String(64)),
    # view_tip, export_tip, reply, note, … (hotline.audit names them).
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("tip_id", sa.Uuid),
    sa.Column("detail", sa.JSON),
    sa.Column("prev_mac", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("mac", sa.LargeBinary(32), nullable=False),
    sa.Index("ix_audit_log_tip", "tip_id", "id"),
)

# A dispatcher's notes on a tip: internal, never shown to the reporter; sealed.
tip_notes = sa.Table(
    "tip_notes",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("body_sealed", sa.LargeBinary, nullable=False),
    sa.Index("ix_tip_notes_tip", "tip_id", "created_at"),
)

# A dispatcher's urgency override, kept beside triage's verdict. ``indicator_ids`` is a
# copy of the indicators that had fired, so statistics can name the rules people overrule.
tip_overrides = sa.Table(
    "tip_overrides",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("at", UTC_DATETIME, nullable=False),
    sa.Column("from_urgency", sa.String(8), nullable=False),
    sa.Column("to_urgency", sa.String(8), nullable=False),
    sa.Column("indicator_ids", sa.JSON),
    sa.Column("reason_sealed", sa.LargeBinary, nullable=False),
    sa.Index("ix_tip_overrides_tip", "tip_id", "at"),
)

# The referral directory: partner services. Not written by reporters, so in the clear.
# kind: shelter, medical, legal, counselling, interpreter, law_enforcement.
referral_services = sa.Table(
    "referral_services",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("region", sa.String(120), nullable=False, server_default=""),
    # Comma-separated language codes the service works in.
    sa.Column("languages", sa.String(64), nullable=False, server_default=""),
    sa.Column("hours", sa.String(200), nullable=False, server_default=""),
    sa.Column("contact", sa.String(300), nullable=False, server_default=""),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    # Listed on the public "Get help" page.
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
)

tip_referrals = sa.Table(
    "tip_referrals",
    metadata,
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "service_id",
        sa.Integer,
        sa.ForeignKey("referral_services.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
)

# SMS conversations. A thread is one sender, known only by a keyed hash of the number
# (E.164, domain "sms-sender"); the number itself is kept sealed, for replies, and dropped
# at once on STOP (the reporter's START brings it back) and with the thread on DELETE.
sms_threads = sa.Table(
    "sms_threads",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("sender_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("sender_sealed", sa.LargeBinary),
    sa.Column("lang", sa.String(8), nullable=False),
    # The reporter chose the language with a keyword (ES, EN): detection no longer changes it.
    sa.Column("lang_chosen", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("opted_out", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
)

# Every SMS in or out. Twilio's MessageSid is kept as a keyed hash (idempotency) and, only
# until the record is deleted at Twilio, sealed (the deletion needs it).
sms_messages = sa.Table(
    "sms_messages",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "thread_id", sa.Uuid, sa.ForeignKey("sms_threads.id", ondelete="SET NULL"), index=True
    ),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), index=True),
    # "in" or "out".
    sa.Column("direction", sa.String(3), nullable=False),
    # in: "tip" (part of the tip), "followup", "keyword"; out: "reply", "page", "twiml".
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("sid_hash", sa.LargeBinary(32), unique=True),
    sa.Column("sid_sealed", sa.LargeBinary),
    # What a "tip" message said, sealed to the case key; follow-ups live in tip_messages.
    sa.Column("body_sealed", sa.LargeBinary),
    sa.Column("tip_message_id", sa.Uuid, sa.ForeignKey("tip_messages.id", ondelete="SET NULL")),
    sa.Column("media_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("media_fetched", sa.Boolean, nullable=False, server_default=sa.false()),
    # in: "received"; out: "sending", "queued", "sent", "delivered", "failed", "opted_out" …
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("carrier_deleted_at", UTC_DATETIME),
    sa.Index("ix_sms_messages_at_carrier", "carrier_deleted_at", "created_at"),
)

# MMS attachments: re-encoded without metadata, then sealed. ``body_sealed`` is empty when
# the attachment was refused (type or size); the refusal is what the dispatcher sees.
sms_media = sa.Table(
    "sms_media",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "message_id",
        sa.Uuid,
        sa.ForeignKey("sms_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), index=True),
    sa.Column("media_sid_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("body_sealed", sa.LargeBinary),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
)

# On-call. A user's pager: the number sealed (to send pages) and keyed-hashed (domain
# "oncall-phone", to know an "ACK <code>" text is theirs). Never in the clear.
oncall_contacts = sa.Table(
    "oncall_contacts",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("phone_sealed", sa.LargeBinary, nullable=False),
    sa.Column("phone_hash", sa.LargeBinary(32), nullable=False, unique=True),
    # The number texted STOP to our line: pages to it are not sent (and shown as such).
    sa.Column("opted_out", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UTC_DATETIME, nullable=False),
)

# The rota: who is on call in each layer (primary, backup, supervisor) and when. Times are
# stored in UTC; ``tz`` is the IANA zone the shift was written in, to show it back. An
# override (a swap) wins over the regular shifts of its layer while it lasts.
rota_shifts = sa.Table(
    "rota_shifts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.String(12), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("starts_at", UTC_DATETIME, nullable=False),
    sa.Column("ends_at", UTC_DATETIME, nullable=False),
    sa.Column("tz", sa.String(64), nullable=False),
    sa.Column("override", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Index("ix_rota_shifts_layer_time", "layer", "ends_at", "starts_at"),
)

# Every page sent, or tried, for a tip: one row per escalation step (0 primary, 1 backup,
# 2 supervisor, 3 primary again …). The unique (tip, step) makes each step happen once,
# whatever runs it twice. ``code`` is what the dispatcher texts back: "ACK <code>".
# status: sending, sent, failed, no_number, opted_out, nobody (no one on call in the layer).
pages = sa.Table(
    "pages",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tip_id", sa.Uuid, sa.ForeignKey("tips.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("layer", sa.String(12), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("code", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTC_DATETIME, nullable=False),
    sa.Column("sent_at", UTC_DATETIME),
    # The page's outbound message (``sms_messages.id``), chosen before it is sent so that a
    # delivery report always finds its page. No foreign key: the message row comes after.
    sa.Column("message_id", sa.Uuid),
    # Twilio's error code when the page was reported undelivered: the code, nothing else.
    sa.Column("error_code", sa.Integer),
    sa.UniqueConstraint("tip_id", "step"),
    sa.Index("ix_pages_user", "user_id", "created_at"),
    # The latest pages, newest first: the banner's "pages are failing" check (0006).
    sa.Index("ix_pages_created", "created_at"),
    # A delivery report's page, by its message (0007).
    sa.Index("ix_pages_message_id", "message_id", unique=True),
)

# Parents before children: the order in which a batch's rows are inserted.
INSERT_ORDER = {table.name: index for index, table in enumerate(metadata.sorted_tables)}


def insert_groups(
    rows: Iterable[tuple[str, dict[str, Any]]],
) -> list[tuple[str, list[dict[str, Any]]]]:
    """A batch's rows as executemany groups: parents first, one group per set of columns.

    One executemany takes the columns of its first row: a later row missing one fails the
    whole statement, and a later row's extra column is silently dropped. A web tip names
    its receipt hash and an SMS tip does not, so rows are grouped by the columns they name.
    """
    groups: dict[tuple[str, frozenset[str]], list[dict[str, Any]]] = {}
    for name, row in rows:
        groups.setdefault((name, frozenset(row)), []).append(row)
    ordered = sorted(groups.items(), key=lambda item: INSERT_ORDER[item[0][0]])
    return [(name, group) for (name, _columns), group in ordered]
