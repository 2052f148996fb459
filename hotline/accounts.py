"""Dashboard accounts: argon2id passwords, TOTP second factors, recovery codes, lockout.

A sign-in is a password, then a TOTP code (or a one-time recovery code). Wrong passwords
and wrong codes count per account, in a row; the failure that reaches the limit locks the
account for a while (no client address is needed or kept). A locked account refuses even
the right password until the lock runs out or an admin unlocks it.

The TOTP secret exists at rest only sealed, bound to the user's own id; recovery codes
only as SHA-256 digests. Disabling a user or resetting their second factor ends every
session of theirs in the same transaction.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.seal import Opener, Sealer
from hotline.tables import dashboard_sessions, user_recovery_codes, users

AccountRole = Literal["dispatcher", "supervisor", "admin"]
ROLES: tuple[AccountRole, ...] = ("dispatcher", "supervisor", "admin")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a flood of huge ones cheap

TOTP_ISSUER = "Hotline"
TOTP_FIELD = "totp"
TOTP_PERIOD = 30
# Codes from the step before and after the current one are accepted too (clock drift).
TOTP_WINDOW = 1

RECOVERY_CODES = 10
# 32 symbols, none of them easy to misread (no 0/o, 1/l): 5 bits each, 12 symbols = 60 bits.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_SIZE = 4

password_hasher = PasswordHasher()  # argon2id with the library's current defaults

PasswordOutcome = Literal["ok", "wrong", "locked", "disabled"]


@dataclass(frozen=True, slots=True)
class Account:
    """A dashboard user, as the users page and the CLI list them."""

    id: int
    username: str
    role: str
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    totp_confirmed_at: datetime | None
    last_login_at: datetime | None
    created_at: datetime

    def locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or datetime.now(UTC))

    @property
    def enrolled(self) -> bool:
        return self.totp_confirmed_at is not None


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """What a password attempt came to, and for which user (``None``: no such user)."""

    outcome: PasswordOutcome
    user_id: int | None = None


@dataclass(frozen=True, slots=True)
class Lockout:
    """How many failures in a row lock an account, and for how long."""

    after: int
    minutes: int


ACCOUNT_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.role,
    users.c.disabled,
    users.c.failed_logins,
    users.c.locked_until,
    users.c.totp_confirmed_at,
    users.c.last_login_at,
    users.c.created_at,
)


def _account(row: Any) -> Account:
    return Account(
        id=int(row.id),
        username=str(row.username),
        role=str(row.role),
        disabled=bool(row.disabled),
        failed_logins=int(row.failed_logins),
        locked_until=row.locked_until,
        totp_confirmed_at=row.totp_confirmed_at,
        last_login_at=row.last_login_at,
        created_at=row.created_at,
    )


# --- accounts ----------------------------------------------------------------------------


async def count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one())


def check_username(username: str) -> None:
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
        or not username.isascii()
    ):
        raise InvalidInputError("a username is 1-64 letters, digits, '.', '-' or '_'")


async def add_user(
    engine: AsyncEngine,
    username: str,
    password: str,
    role: AccountRole,
    *,
    hasher: PasswordHasher = password_hasher,
) -> int:
    """Add an account. ``hasher`` sets the argon2id cost (tests pass a cheap one; the cost
    is stored in the hash, and the next sign-in rehashes to the standard cost)."""
    if role not in ROLES:
        raise InvalidInputError("unknown role")
    check_username(username)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInputError(
            f"a password has at least {MIN_PASSWORD} and at most {MAX_PASSWORD} characters"
        )
    password_hash = await asyncio.to_thread(hasher.hash, password)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                sa.insert(users).values(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise ConflictError("that username is taken") from None
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def find_user_by_name(engine: AsyncEngine, username: str) -> Account | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(*ACCOUNT_COLUMNS).where(users.c.username == username))
        ).first()
    return _account(row) if row is not None else None


async def get_user(engine: AsyncEngine, user_id: int) -> Account:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(*ACCOUNT_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFoundError(f"user {user_id} not found")
    return _account(row)


async def list_users(engine: AsyncEngine) -> list[Account]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(*ACCOUNT_COLUMNS).order_by(users.c.username))).all()
    return [_account(row) for row in rows]


async def _revoke_sessions(conn: AsyncConnection, user_id: int, now: datetime) -> None:
    await conn.execute(
        sa.update(dashboard_sessions)
        .where(dashboard_sessions.c.user_id == user_id, dashboard_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def _change(
    engine: AsyncEngine,
    user_id: int,
    values: dict[str, object],
    *,
    end_sessions: bool,
    forget_codes: bool = False,
) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
        if result.rowcount != 1:
            raise NotFoundError(f"user {user_id} not found")
        if end_sessions:
            await _revoke_sessions(conn, user_id, now)
        if forget_codes:
            await conn.execute(
                sa.delete(user_recovery_codes).where(user_recovery_codes.c.user_id == user_id)
            )


async def disable_user(engine: AsyncEngine, user_id: int) -> None:
    """The user can no longer sign in; every session of theirs ends now."""
    await _change(engine, user_id, {"disabled": True}, end_sessions=True)


async def enable_user(engine: AsyncEngine, user_id: int) -> None:
    await _change(engine, user_id, {"disabled": False}, end_sessions=False)


async def reset_second_factor(engine: AsyncEngine, user_id: int) -> None:
    """Forget the TOTP secret and recovery codes; the next sign-in enrols again."""
    await _change(
        engine,
        user_id,
        {"totp_sealed": None, "totp_confirmed_at": None, "totp_last_step": None},
        end_sessions=True,
        forget_codes=True,
    )


async def unlock_user(engine: AsyncEngine, user_id: int) -> None:
    await _change(engine, user_id, {"failed_logins": 0, "locked_until": None}, end_sessions=False)


# --- passwords and the lock --------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown usernames, so they take as long as known ones."""
    return password_hasher.hash(secrets.token_urlsafe(24))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def check_password(
    engine: AsyncEngine, username: str, password: str, *, lockout: Lockout
) -> PasswordCheck:
    """Check a sign-in's password. A wrong one counts toward the account's lock.

    The lock and the disabled flag are told only to someone who typed the right password,
    so a stranger learns nothing about which usernames exist.
    """
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    users.c.id, users.c.password_hash, users.c.disabled, users.c.locked_until
                ).where(users.c.username == username[:64])
            )
        ).first()
    if row is None or len(password) > MAX_PASSWORD:
        await asyncio.to_thread(_verify, _dummy_hash(), password[:MAX_PASSWORD])
        if row is not None:
            await record_failure(engine, int(row.id), lockout=lockout)
        return PasswordCheck("wrong")
    user_id = int(row.id)
    if not await asyncio.to_thread(_verify, row.password_hash, password):
        await record_failure(engine, user_id, lockout=lockout)
        return PasswordCheck("wrong", user_id)
    if row.locked_until is not None and row.locked_until > datetime.now(UTC):
        return PasswordCheck("locked", user_id)
    if row.disabled:
        return PasswordCheck("disabled", user_id)
    if password_hasher.check_needs_rehash(row.password_hash):
        fresh = await asyncio.to_thread(password_hasher.hash, password)
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(users).where(users.c.id == user_id).values(password_hash=fresh)
            )
    return PasswordCheck("ok", user_id)


async def record_failure(engine: AsyncEngine, user_id: int, *, lockout: Lockout) -> bool:
    """Count a wrong password or code; ``True`` when this failure locked the account.

    Once a lock has run out, counting starts again from one.
    """
    now = datetime.now(UTC)
    lapsed = sa.and_(users.c.locked_until.is_not(None), users.c.locked_until <= now)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(
                failed_logins=sa.case((lapsed, 1), else_=users.c.failed_logins + 1),
                locked_until=sa.case((lapsed, sa.null()), else_=users.c.locked_until),
            )
        )
        locked = await conn.execute(
            sa.update(users)
            .where(
                users.c.id == user_id,
                users.c.failed_logins >= lockout.after,
                users.c.locked_until.is_(None),
            )
            .values(locked_until=now + timedelta(minutes=lockout.minutes))
        )
    return locked.rowcount == 1


async def record_sign_in(engine: AsyncEngine, user_id: int) -> None:
    """Both factors were right: the failure count starts again, and the time is kept."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(failed_logins=0, locked_until=None, last_login_at=datetime.now(UTC))
        )


# --- TOTP ---------------------------------------------------------------------------------


def totp_tip_id(user_id: int) -> uuid.UUID:
    """What a user's sealed TOTP secret is bound to, so it cannot move to another row."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hotline:user:{user_id}")


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, interval=TOTP_PERIOD).provisioning_uri(
        name=username, issuer_name=TOTP_ISSUER
    )


def _matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step whose code is ``code``, within the window; ``None`` if none is."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_PERIOD)
    now_step = int((time.time() if at is None else at) // TOTP_PERIOD)
    found: int | None = None
    for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
        # Compare every candidate, so the time taken says nothing about which one matched.
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD), code):
            found = step
    return found


def _open_secret(opener: Opener, user_id: int, sealed: bytes) -> str:
    return opener.open(sealed, tip_id=totp_tip_id(user_id), field=TOTP_FIELD).decode("ascii")


async def begin_enrolment(engine: AsyncEngine, sealer: Sealer, opener: Opener, user_id: int) -> str:
    """The pending TOTP secret of a user not yet enrolled: made and sealed once, then reused."""
    for _attempt in range(2):
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(users.c.totp_sealed, users.c.totp_confirmed_at).where(
                        users.c.id == user_id
                    )
                )
            ).first()
        if row is None:
            raise NotFoundError(f"user {user_id} not found")
        if row.totp_confirmed_at is not None:
            raise ConflictError(f"user {user_id} already has a second factor")
        if row.totp_sealed is not None:
            return _open_secret(opener, user_id, bytes(row.totp_sealed))
        secret = pyotp.random_base32()
        sealed = sealer.seal(secret.encode("ascii"), tip_id=totp_tip_id(user_id), field=TOTP_FIELD)
        async with engine.begin() as conn:
            result = await conn.execute(
                sa.update(users)
                .where(users.c.id == user_id, users.c.totp_sealed.is_(None))
                .values(totp_sealed=sealed)
            )
        if result.rowcount == 1:
            return secret
        # Another request stored a secret first: read and use that one.
    raise ConflictError(f"user {user_id}: enrolment raced")


def make_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Random one-time codes such as ``k7f3-9qza-2mxp`` (60 bits each)."""
    size = RECOVERY_GROUPS * RECOVERY_GROUP_SIZE
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(size))
        codes.append(
            "-".join(raw[i : i + RECOVERY_GROUP_SIZE] for i in range(0, size, RECOVERY_GROUP_SIZE))
        )
    return codes


def recovery_digest(code: str) -> bytes:
    """The stored form of a recovery code; case, spaces and dashes do not matter."""
    normal = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(normal.encode("utf-8", "replace")).digest()


async def confirm_enrolment(
    engine: AsyncEngine, opener: Opener, user_id: int, code: str
) -> list[str] | None:
    """Prove the pending secret with a code: enrolled, and here are the recovery codes.

    ``None`` when the code is wrong (or the user is already enrolled).
    """
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(users.c.totp_sealed, users.c.totp_confirmed_at).where(
                    users.c.id == user_id
                )
            )
        ).first()
    if row is None or row.totp_sealed is None or row.totp_confirmed_at is not None:
        return None
    step = _matching_step(_open_secret(opener, user_id, bytes(row.totp_sealed)), code.strip())
    if step is None:
        return None
    codes = make_recovery_codes()
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(users)
            .where(
                users.c.id == user_id,
                users.c.totp_confirmed_at.is_(None),
                users.c.totp_sealed == row.totp_sealed,
            )
            .values(
                totp_confirmed_at=now,
                totp_last_step=step,
                failed_logins=0,
                locked_until=None,
                last_login_at=now,
            )
        )
        if result.rowcount != 1:
            return None
        await conn.execute(
            sa.delete(user_recovery_codes).where(user_recovery_codes.c.user_id == user_id)
        )
        await conn.execute(
            sa.insert(user_recovery_codes),
            [{"user_id": user_id, "code_hash": recovery_digest(c)} for c in codes],
        )
    return codes


async def verify_second_factor(
    engine: AsyncEngine, opener: Opener, user_id: int, code: str
) -> bool:
    """A TOTP code (each time step accepted once) or an unused recovery code (used up now)."""
    code = code.strip()
    if len(code) > 64:
        return False
    if code.isdigit():
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(users.c.totp_sealed, users.c.totp_confirmed_at).where(
                        users.c.id == user_id
                    )
                )
            ).first()
        if row is None or row.totp_sealed is None or row.totp_confirmed_at is None:
            return False
        step = _matching_step(_open_secret(opener, user_id, bytes(row.totp_sealed)), code)
        if step is None:
            return False
        async with engine.begin() as conn:
            result = await conn.execute(
                sa.update(users)
                .where(
                    users.c.id == user_id,
                    sa.or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
        return result.rowcount == 1
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(user_recovery_codes)
            .where(
                user_recovery_codes.c.user_id == user_id,
                user_recovery_codes.c.code_hash == recovery_digest(code),
                user_recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=datetime.now(UTC))
        )
    return result.rowcount == 1


async def count_unused_recovery_codes(engine: AsyncEngine, user_id: int) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(user_recovery_codes)
                    .where(
                        user_recovery_codes.c.user_id == user_id,
                        user_recovery_codes.c.used_at.is_(None),
                    )
                )
            ).scalar_one()
        )
