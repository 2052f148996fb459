"""Dashboard accounts: argon2id password hashes. Sign-in and 2FA build on this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.errors import ConflictError, InvalidInputError
from hotline.tables import users

AccountRole = Literal["dispatcher", "supervisor", "admin"]
ROLES: tuple[AccountRole, ...] = ("dispatcher", "supervisor", "admin")
MIN_PASSWORD = 12

password_hasher = PasswordHasher()  # argon2id with the library's current defaults


async def count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one())


async def add_user(engine: AsyncEngine, username: str, password: str, role: AccountRole) -> int:
    if role not in ROLES:
        raise InvalidInputError("unknown role")
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise InvalidInputError("a username is 1-64 letters, digits, '.', '-' or '_'")
    if len(password) < MIN_PASSWORD:
        raise InvalidInputError(f"a password has at least {MIN_PASSWORD} characters")
    try:
        async with engine.begin() as conn:
            result = await conn.execute(
                sa.insert(users).values(
                    username=username,
                    password_hash=password_hasher.hash(password),
                    role=role,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        raise ConflictError("that username is taken") from None
    return int(result.inserted_primary_key[0])  # type: ignore[index]
