"""Online backups and restores: a consistent database snapshot, the keys, a manifest.

A backup is a directory (mode 0700, its files 0600), written under a temporary name
beside the destination and renamed into place once complete:

- ``hotline.db``       SQLite: ``VACUUM INTO`` from a connection of its own, one read
                       transaction, so the snapshot is consistent while the service writes
                       (and holds no freed page of deleted rows);
- ``database.dump``    PostgreSQL: ``pg_dump --format=custom`` (one snapshot);
- ``keys/…``           the keys directory as it is on disk: the private key file stays
                       encrypted under its passphrase (left out with ``--without-keys``);
- ``manifest.json``    format, creation time, backend, schema revision, and the SHA-256
                       and size of every other file.

Nothing is decrypted: sealed columns are copied as the bytes they are. A restore goes
into an empty data directory only (and, on PostgreSQL, an empty database), refuses a
backup whose files do not match the manifest, and checks that the database is at the
recorded schema revision.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hotline.errors import HotlineError
from hotline.keys import PUBLIC_FILE
from hotline.settings import Settings

FORMAT = "hotline-backup-v1"
MANIFEST = "manifest.json"
SQLITE_FILE = "hotline.db"
DUMP_FILE = "database.dump"
KEYS = "keys"
# Every name a manifest may list: nothing outside the backup, nothing unexpected.
ALLOWED_NAME = re.compile(r"^(hotline\.db|database\.dump|keys/[A-Za-z0-9][A-Za-z0-9._-]{0,120})$")
CHUNK = 1 << 20


class BackupError(HotlineError):
    """A backup could not be made, or a backup or restore target was refused."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    backend: str
    schema_revision: str
    keys_included: bool
    private_key_encrypted: bool | None  # None without keys
    files: dict[str, dict[str, Any]]
    skipped_in_keys: tuple[str, ...]  # entries of the keys directory not backed up


# -- helpers -------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        shutil.copyfileobj(src, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def _pg_env(url: str) -> dict[str, str]:
    """libpq's environment for a database URL: the password never on a command line."""
    parsed = sa.make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for name, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools "
            f"(the same major version as the server) to back up or restore PostgreSQL"
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(  # noqa: S603 - a fixed tool, arguments we built
        command, env=env, capture_output=True, text=True, check=False, timeout=24 * 3600
    )
    if result.returncode != 0:
        # The tool's message names objects and options, not rows: safe to show the operator.
        last = (result.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise BackupError(f"{what} failed (exit {result.returncode}): {last}")
    return result.stdout


def _sqlite_path(settings: Settings) -> Path:
    url = sa.make_url(settings.resolved_database_url)
    if not url.database:
        raise BackupError("HOTLINE_DATABASE_URL names no SQLite file")
    return Path(url.database)


def _sqlite_revision(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    conn.close()
    if row is None:
        raise BackupError("the database has no schema revision (run hotline db upgrade)")
    return str(row[0])


# -- backup --------------------------------------------------------------------------------


def _snapshot_sqlite(source: Path, target: Path) -> None:
    """``VACUUM INTO`` on a connection of our own: one read transaction, so consistent."""
    if not source.exists():
        raise BackupError(f"no database file at {source}")
    conn = sqlite3.connect(source, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    os.chmod(target, 0o600)
    # VACUUM INTO does not fsync what it wrote.
    _fsync(target)


def _dump_postgresql(settings: Settings, target: Path) -> str:
    tool = _pg_tool("pg_dump")
    env = _pg_env(settings.resolved_database_url)
    _run(
        [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"],
        env,
        "pg_dump",
    )
    os.chmod(target, 0o600)
    _fsync(target)
    return _dump_revision(target)


def _dump_revision(dump: Path) -> str:
    """The schema revision inside the dump itself (the snapshot's, not today's)."""
    text = _run(
        [
            _pg_tool("pg_restore"),
            "--data-only",
            "--table=alembic_version",
            "--file=-",
            str(dump),
        ],
        {k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "pg_restore (reading the schema revision)",
    )
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and index + 1 < len(lines):
            value = lines[index + 1].strip()
            if value and value != "\\.":
                return value
    raise BackupError("the dump holds no schema revision (run hotline db upgrade)")


def _copy_keys(keys_dir: Path, target: Path) -> tuple[dict[str, Path], bool, list[str]]:
    """Copy the key files; return them, whether every private key is encrypted, and the
    names of entries left out (not a plain file, or a name no key file has)."""
    if not (keys_dir / PUBLIC_FILE).exists():
        raise BackupError(f"no keys in {keys_dir} (or use --without-keys)")
    _private_dir(target)
    copied: dict[str, Path] = {}
    skipped: list[str] = []
    encrypted = True
    for path in sorted(keys_dir.iterdir()):
        if path.name.endswith(".tmp"):
            continue  # a key file being written: keys.py renames it into place
        name = f"{KEYS}/{path.name}"
        if path.is_symlink() or not path.is_file() or not ALLOWED_NAME.match(name):
            skipped.append(path.name)
            continue
        _copy_private(path, target / path.name)
        copied[name] = target / path.name
        if path.name.startswith("case-") and path.suffix == ".key":
            record = json.loads(path.read_text(encoding="ascii"))
            encrypted = encrypted and record.get("kdf") != "none"
    return copied, encrypted, skipped


def create_backup(
    settings: Settings, dest: Path, *, with_keys: bool = True, now: datetime | None = None
) -> BackupInfo:
    """Write a backup directory at ``dest`` (which must not exist yet)."""
    dest = dest.absolute()
    if dest.exists():
        raise BackupError(f"{dest} already exists; a backup is never written over anything")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a directory")
    staging = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    _private_dir(staging)
    try:
        files: dict[str, Path] = {}
        if settings.is_sqlite:
            backend = "sqlite"
            _snapshot_sqlite(_sqlite_path(settings), staging / SQLITE_FILE)
            revision = _sqlite_revision(staging / SQLITE_FILE)
            files[SQLITE_FILE] = staging / SQLITE_FILE
        else:
            backend = "postgresql"
            revision = _dump_postgresql(settings, staging / DUMP_FILE)
            files[DUMP_FILE] = staging / DUMP_FILE
        encrypted: bool | None = None
        skipped: list[str] = []
        if with_keys:
            copied, encrypted, skipped = _copy_keys(settings.keys_dir, staging / KEYS)
            files.update(copied)
        listed = {
            name: {"sha256": sha256_of(path), "size": path.stat().st_size}
            for name, path in sorted(files.items())
        }
        manifest = {
            "format": FORMAT,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "backend": backend,
            "schema_revision": revision,
            "keys_included": with_keys,
            "private_key_encrypted": encrypted,
            "files": listed,
        }
        fd = os.open(staging / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        if with_keys:
            _fsync(staging / KEYS)
        _fsync(staging)
        staging.rename(dest)
        _fsync(dest.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BackupInfo(dest, backend, revision, with_keys, encrypted, listed, tuple(skipped))


# -- verify and restore --------------------------------------------------------------------


def read_manifest(backup: Path) -> dict[str, Any]:
    """The manifest, once every file it lists matches its hash and nothing else is there."""
    try:
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError(f"{backup} holds no readable {MANIFEST}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{backup}: not a {FORMAT} backup")
    files = manifest.get("files")
    if not isinstance(files, dict) or manifest.get("backend") not in {"sqlite", "postgresql"}:
        raise BackupError(f"{backup}: the manifest is malformed")
    for name, entry in files.items():
        if not ALLOWED_NAME.match(name) or not isinstance(entry, dict):
            raise BackupError(f"{backup}: the manifest lists an unexpected file")
        path = backup / name
        if not path.is_file() or path.is_symlink():
            raise BackupError(f"{backup}: {name} is missing")
        if path.stat().st_size != entry.get("size") or sha256_of(path) != entry.get("sha256"):
            raise BackupError(f"{backup}: {name} does not match the manifest (damaged or altered)")
    present = {
        path.relative_to(backup).as_posix()
        for path in backup.rglob("*")
        if path.is_file() or path.is_symlink()
    }
    extra = present - set(files) - {MANIFEST}
    if extra:
        raise BackupError(f"{backup}: {len(extra)} file(s) not in the manifest")
    database = SQLITE_FILE if manifest["backend"] == "sqlite" else DUMP_FILE
    if database not in files:
        raise BackupError(f"{backup}: the manifest lists no database")
    return manifest


def _require_empty(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty; restore only into an empty directory")


async def _postgresql_tables(url: str) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.text(
                            "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                        )
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()


async def _postgresql_revision(url: str) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            return str(
                (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
            )
    finally:
        await engine.dispose()


def _check_target(settings: Settings, manifest: dict[str, Any]) -> str:
    """Refuse a data directory or database that is not empty, or of the wrong kind."""
    import asyncio

    _require_empty(settings.data_dir.absolute())
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest["backend"] != backend:
        raise BackupError(
            f"the backup is of a {manifest['backend']} database but HOTLINE_DATABASE_URL "
            f"names a {backend} one"
        )
    if backend == "postgresql":
        if asyncio.run(_postgresql_tables(settings.resolved_database_url)):
            raise BackupError(
                "the PostgreSQL database is not empty; restore only into an empty one"
            )
    elif _sqlite_path(settings).exists():
        raise BackupError(f"{_sqlite_path(settings)} exists; restore only into an empty directory")
    return backend


def _restore_keys(backup: Path, manifest: dict[str, Any], keys_dir: Path) -> None:
    _private_dir(keys_dir)
    for name in manifest["files"]:
        if name.startswith(f"{KEYS}/"):
            _copy_private(backup / name, keys_dir / name.removeprefix(f"{KEYS}/"))
    _fsync(keys_dir)


def _restore_sqlite(backup: Path, manifest: dict[str, Any], target: Path) -> str:
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        _copy_private(backup / SQLITE_FILE, partial)
        if sha256_of(partial) != manifest["files"][SQLITE_FILE]["sha256"]:
            raise BackupError("the database changed while it was copied")
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    _fsync(target.parent)
    return _sqlite_revision(target)


def _restore_postgresql(backup: Path, url: str) -> str:
    import asyncio

    _run(
        [
            _pg_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={sa.make_url(url).database}",
            str(backup / DUMP_FILE),
        ],
        _pg_env(url),
        "pg_restore",
    )
    return asyncio.run(_postgresql_revision(url))


def restore_backup(settings: Settings, backup: Path) -> dict[str, Any]:
    """Restore ``backup`` into ``settings.data_dir`` (empty) and its database; the manifest.

    On a failure, what the restore wrote is removed again, so the target stays empty.
    """
    backup = backup.absolute()
    manifest = read_manifest(backup)
    backend = _check_target(settings, manifest)
    data_dir = settings.data_dir.absolute()
    made_dir = not data_dir.exists()
    data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    os.chmod(data_dir, 0o700)
    try:
        if manifest["keys_included"]:
            _restore_keys(backup, manifest, settings.keys_dir.absolute())
        if backend == "sqlite":
            revision = _restore_sqlite(backup, manifest, _sqlite_path(settings))
        else:
            revision = _restore_postgresql(backup, settings.resolved_database_url)
    except BaseException:
        shutil.rmtree(settings.keys_dir.absolute(), ignore_errors=True)
        if backend == "sqlite":
            _sqlite_path(settings).unlink(missing_ok=True)
        if made_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    if revision != manifest["schema_revision"]:
        raise BackupError(
            f"the restored database is at {revision}, the manifest says "
            f"{manifest['schema_revision']}"
        )
    return manifest
