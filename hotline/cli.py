"""The ``hotline`` command: a composition root that wires settings, core, web and worker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline import db, keys, logs
from hotline.errors import HotlineError, SettingsError
from hotline.settings import Settings, load_settings

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncEngine

log = logs.get_logger(__name__)


def _passphrase(settings: Settings, *, insecure: bool, confirm: bool) -> str | None:
    if settings.key_passphrase is not None:
        return settings.key_passphrase.get_secret_value()
    if insecure:
        return None
    if sys.stdin.isatty():
        first = getpass.getpass("Passphrase for the private key: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise SettingsError("HOTLINE_KEY_PASSPHRASE: the two passphrases differ")
        if len(first) < 12:
            raise SettingsError("HOTLINE_KEY_PASSPHRASE: expected at least 12 characters")
        return first
    raise SettingsError(
        "HOTLINE_KEY_PASSPHRASE: expected a passphrase for the private key "
        "(or --insecure-unencrypted-key for development)"
    )


def cmd_keys_init(settings: Settings, args: argparse.Namespace) -> int:
    passphrase = _passphrase(settings, insecure=args.insecure_unencrypted_key, confirm=True)
    key_id = keys.init_keys(
        settings.keys_dir,
        passphrase=passphrase,
        allow_unencrypted=args.insecure_unencrypted_key,
        scrypt_log2n=settings.key_file_scrypt_log2n,
    )
    print(f"Wrote keys to {settings.keys_dir} (case key {key_id.hex()}).")
    if passphrase is None:
        print("WARNING: the private key is NOT encrypted. Use this for development only.")
    return 0


async def _record_key_change(settings: Settings, engine: AsyncEngine, **detail: object) -> None:
    from hotline import audit

    await audit.record(
        engine,
        keys.load_hash_key(settings.keys_dir),
        actor=audit.Actor(None, None),
        action="key_change",
        detail={**detail, "by": "cli"},
    )


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    """A new case key for new tips; old keys kept so old tips open; optionally re-seal."""
    passphrase = _passphrase(settings, insecure=args.insecure_unencrypted_key, confirm=False)
    old_id = keys.current_key_id(settings.keys_dir)
    key_id = keys.rotate_case_key(
        settings.keys_dir,
        passphrase=passphrase,
        allow_unencrypted=args.insecure_unencrypted_key,
        scrypt_log2n=settings.key_file_scrypt_log2n,
    )

    async def record() -> None:
        engine = db.create_engine(settings)
        try:
            await _record_key_change(
                settings, engine, key="rotate", key_id=key_id.hex(), previous=old_id.hex()
            )
        finally:
            await engine.dispose()

    asyncio.run(record())
    print(f"New case key {key_id.hex()}; new tips are sealed to it. {old_id.hex()} is kept.")
    print("Running processes take it up within a second; containers that mount case.pub")
    print("as a single file need a restart (docs/sealing.md).")
    if args.reseal:
        return cmd_keys_reseal(settings, args)
    return 0


def cmd_keys_reseal(settings: Settings, args: argparse.Namespace) -> int:
    """Re-seal every envelope naming an old case key to the current one."""
    from hotline import rotation

    passphrase = _passphrase(settings, insecure=True, confirm=False)
    opener = keys.load_opener(settings.keys_dir, passphrase)
    sealer = keys.load_sealer(settings.keys_dir)

    async def run() -> rotation.ResealReport:
        engine = db.create_engine(settings)
        try:
            report = await rotation.reseal(engine, opener, sealer, batch=args.batch)
            await _record_key_change(
                settings, engine, key="reseal", key_id=sealer.key_id.hex(), count=report.total
            )
            return report
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    for label, count in sorted(report.resealed.items()):
        print(f"{label}\t{count} re-sealed")
    for label, count in sorted(report.unopenable.items()):
        print(f"{label}\t{count} NOT re-sealed: their key is not here", file=sys.stderr)
    print(f"{report.total} envelopes re-sealed to {sealer.key_id.hex()}.")
    return 1 if report.unopenable else 0


def cmd_keys_retire(settings: Settings, args: argparse.Namespace) -> int:
    """Delete an old case private key, only when no envelope names it."""
    from hotline import rotation
    from hotline.errors import InvalidInputError

    try:
        key_id = bytes.fromhex(args.key_id)
    except ValueError:
        raise InvalidInputError("KEY_ID: expected the hexadecimal key id") from None

    async def run() -> None:
        engine = db.create_engine(settings)
        try:
            await rotation.retire(engine, settings.keys_dir, key_id)
            await _record_key_change(settings, engine, key="retire", key_id=key_id.hex())
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"Case key {key_id.hex()} retired: its private key file is deleted.")
    print("Backups taken before the re-seal do not open without it (docs/sealing.md).")
    return 0


def cmd_keys_list(settings: Settings, _args: argparse.Namespace) -> int:
    """Each case key, whether it is current, and how many envelopes name it."""
    from hotline import rotation

    async def count() -> dict[bytes, int]:
        engine = db.create_engine(settings)
        try:
            return dict(await rotation.count_envelopes(engine))
        finally:
            await engine.dispose()

    counts = asyncio.run(count())
    current = keys.current_key_id(settings.keys_dir)
    held = keys.case_key_ids(settings.keys_dir)
    for key_id in sorted(set(held) | set(counts)):
        state = "current" if key_id == current else "old"
        private = "private key here" if key_id in held else "NO PRIVATE KEY"
        print(f"{key_id.hex()}\t{state}\t{counts.get(key_id, 0)} envelopes\t{private}")
    return 0


def cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    from hotline.accounts import add_user, count_users

    db.upgrade(settings)
    print("Database is at the latest schema.")
    if not keys.keys_exist(settings.keys_dir):
        cmd_keys_init(settings, args)

    async def first_admin() -> str | None:
        engine = db.create_engine(settings)
        try:
            if await count_users(engine):
                return None
            password = secrets.token_urlsafe(15)
            await add_user(engine, args.admin, password, "admin")
            return password
        finally:
            await engine.dispose()

    password = asyncio.run(first_admin())
    if password is not None:
        print(f"Created the admin account {args.admin!r} with the one-time password: {password}")
        print("Write it down now; it is not stored anywhere in the clear.")
    return 0


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "upgrade":
        db.upgrade(settings, args.revision)
    else:
        db.downgrade(settings, args.revision)
    print(f"Database {args.db_command}d to {args.revision}.")
    return 0


def _uvicorn_config(settings: Settings, app: object, host: str, port: int) -> object:
    import uvicorn

    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        access_log=False,  # the access log names the client: never on
        proxy_headers=False,  # forwarded-address headers are never trusted, nor read
        server_header=False,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )


def _server(settings: Settings, app: Any, host: str, port: int) -> Any:
    """uvicorn's server, ending the dashboard's live streams before it waits on connections
    (it drains connections before the app's own shutdown would end them)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            await app.end_streams()
            await super().shutdown(sockets)

    return Server(_uvicorn_config(settings, app, host, port))  # type: ignore[arg-type]


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from hotline import exporter
    from web.app import create_app

    app = create_app(settings, role=args.role or settings.role)
    server = _server(settings, app, args.host or settings.host, args.port or settings.port)

    async def serve() -> None:
        async with exporter.serving(settings):  # the internal /metrics, when configured
            await server.serve()

    asyncio.run(serve())
    return 0


async def _run_worker(settings: Settings, *, handle_signals: bool) -> None:
    """Run the arq worker; reconnect with backoff when Redis goes away."""
    from arq.worker import Worker
    from redis.exceptions import RedisError

    from hotline.queue import redis_settings
    from hotline.worker import worker_settings

    delay = 1.0
    while True:
        worker = Worker(
            **worker_settings(settings, redis_settings(settings.redis_url)),
            handle_signals=handle_signals,
        )
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            return  # SIGTERM or SIGINT: arq cancels its main task; a clean stop
        except (OSError, RedisError) as exc:
            log.warning("worker_redis_lost", status=type(exc).__name__, delay_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        finally:
            with contextlib.suppress(OSError, RedisError):
                await worker.close()


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from hotline import exporter

    if not settings.redis_url:
        raise SettingsError("HOTLINE_REDIS_URL: expected a Redis URL for the worker")

    async def work() -> None:
        async with exporter.serving(settings):  # the internal /metrics, when configured
            await _run_worker(settings, handle_signals=True)

    asyncio.run(work())
    return 0


async def _seed_demo(settings: Settings) -> str | None:
    """Seed demo tips into an empty database; returns a demo receipt, or None if not empty."""
    import sqlalchemy as sa

    from hotline.demo import seed
    from hotline.role import PublicRole
    from hotline.tables import tips

    engine = db.create_engine(settings)
    try:
        async with engine.connect() as conn:
            if (await conn.execute(sa.select(sa.func.count()).select_from(tips))).scalar_one():
                return None
        core = PublicRole.build(settings, engine)
        await core.committer.start()
        try:
            return await seed(
                intake=core.intake,
                followup=core.followup,
                committer=core.committer,
                sealer=core.sealer,
                engine=engine,
            )
        finally:
            await core.committer.stop()
    finally:
        await engine.dispose()


async def _demo_admin(settings: Settings) -> str | None:
    """A dashboard admin for a demo with no accounts yet; returns its one-time password."""
    from hotline.accounts import add_user, count_users

    engine = db.create_engine(settings)
    try:
        if await count_users(engine):
            return None
        password = secrets.token_urlsafe(15)
        await add_user(engine, "admin", password, "admin")
        return password
    finally:
        await engine.dispose()


def cmd_demo(settings: Settings, _args: argparse.Namespace) -> int:
    receipt = asyncio.run(_seed_demo(settings))
    if receipt is None:
        print("The database already holds tips; no demo data added.")
    else:
        print(f"Demo tips added. Demo receipt for the follow-up page: {receipt}")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """One box: migrate, make development keys if none, embedded Redis, web and worker."""

    from hotline.embedded import EmbeddedRedis
    from hotline.receipts import format_receipt
    from web.app import create_app

    db.upgrade(settings)
    if not keys.keys_exist(settings.keys_dir):
        passphrase = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
        keys.init_keys(
            settings.keys_dir,
            passphrase=passphrase,
            allow_unencrypted=True,
            scrypt_log2n=settings.key_file_scrypt_log2n,
        )
        if passphrase is None:
            print("Made development keys: the private key is NOT encrypted (see hotline init).")
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis()
        embedded.start()
        settings = settings.model_copy(update={"redis_url": embedded.url})
    host, port = args.host or settings.host, args.port or settings.port
    try:
        receipt = asyncio.run(_seed_demo(settings)) if args.demo else None
        if receipt:
            print(f"Demo data added. Try the follow-up page with receipt {format_receipt(receipt)}")
        admin_password = asyncio.run(_demo_admin(settings)) if args.demo else None
        if admin_password:
            print(
                f"Dashboard: http://{host}:{port}/dashboard/ as 'admin' with the one-time "
                f"password {admin_password} (an authenticator app is set up at first sign-in)."
            )
        print(f"Hotline is running at http://{host}:{port}/ (Ctrl+C stops it).", flush=True)
        app = create_app(settings, role="all")
        server = _server(settings, app, host, port)

        async def both() -> None:
            from hotline import exporter

            async with exporter.serving(settings):  # one /metrics for web and worker
                worker = asyncio.create_task(_run_worker(settings, handle_signals=False))
                try:
                    await server.serve()
                finally:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker

        asyncio.run(both())
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def cmd_audit(settings: Settings, _args: argparse.Namespace) -> int:
    """Walk the audit chain; exit 1 naming the first broken entry."""
    from hotline import audit

    async def check() -> audit.AuditCheck:
        engine = db.create_engine(settings)
        try:
            return await audit.verify(engine, keys.load_hash_key(settings.keys_dir))
        finally:
            await engine.dispose()

    result = asyncio.run(check())
    if result.intact:
        print(f"audit log intact: {result.entries} entries, head {result.head_mac.hex()[:16]}")
        return 0
    print(
        f"audit log BROKEN at entry {result.first_broken_id} "
        f"({result.entries} entries before it verify)",
        file=sys.stderr,
    )
    return 1


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """An online, consistent backup: database snapshot, keys (still encrypted), manifest."""
    from hotline.backup import create_backup

    info = create_backup(settings, Path(args.dest), with_keys=not args.without_keys)
    print(
        f"Backup written to {info.path} ({info.backend}, schema {info.schema_revision}, "
        f"{len(info.files)} files). Sealed data stays sealed."
    )
    if info.skipped_in_keys:
        print(f"WARNING: not backed up from the keys directory: {', '.join(info.skipped_in_keys)}")
    if not info.keys_included:
        print("The keys are NOT in this backup: keep them safe elsewhere, or it opens nothing.")
    elif info.private_key_encrypted:
        print("The private key in it is encrypted under its passphrase, as it is on disk.")
    else:
        print("WARNING: the private key in this backup is NOT encrypted (development keys).")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a backup into an empty data directory (and an empty database)."""
    from hotline.backup import restore_backup

    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": Path(args.data_dir)})
    manifest = restore_backup(settings, Path(args.backup))
    print(
        f"Restored the backup of {manifest['created_at']} into {settings.data_dir} "
        f"(schema {manifest['schema_revision']}). Next: hotline db upgrade."
    )
    if not manifest["keys_included"]:
        print(f"The backup holds no keys: put the keys directory at {settings.keys_dir}.")
    return 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """Retention: purge closed tips past HOTLINE_RETENTION_DAYS (or list them)."""
    from datetime import UTC, datetime

    from hotline import retention

    if settings.retention_days == 0:
        print("Retention is off (HOTLINE_RETENTION_DAYS=0): closed tips are kept.")
        if not args.scrub or args.dry_run:
            return 0
    now = datetime.now(UTC)

    async def run() -> int:
        engine = db.create_engine(settings)
        try:
            if args.dry_run:
                due = await retention.purgeable_tips(
                    engine, now=now, retention_days=settings.retention_days, limit=100_000
                )
                for tip in due:
                    print(f"{tip.reference}\t{tip.tip_id}\tclosed {tip.closed_at:%Y-%m-%d}")
                print(f"{len(due)} closed tips would be purged (dry run: nothing deleted).")
                return 0
            result = await retention.purge_closed_tips(
                engine,
                keys.load_hash_key(settings.keys_dir),
                now=now,
                retention_days=settings.retention_days,
                scrub=args.scrub,
            )
            for tip in result.purged:
                print(f"{tip.reference}\t{tip.tip_id}\tpurged")
            print(f"{len(result.purged)} closed tips purged, each audited.")
            if result.scrub is not None:
                wal = "truncated" if result.scrub.checkpointed else "NOT truncated (busy)"
                print(f"SQLite: vacuumed; write-ahead log {wal}.")
                return 0 if result.scrub.checkpointed else 1
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _new_user_password() -> str:
    from hotline.errors import InvalidInputError

    from_env = os.environ.get("HOTLINE_USER_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise SettingsError(
            "HOTLINE_USER_PASSWORD: expected the new user's password (or run in a terminal)"
        )
    first = getpass.getpass("Temporary password for the new user: ")
    if getpass.getpass("Again: ") != first:
        raise InvalidInputError("the two passwords differ")
    return first


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    """Accounts of the dashboard: add, list, disable, reset the second factor, unlock."""
    from hotline import accounts, audit
    from hotline.errors import NotFoundError

    password = _new_user_password() if args.user_command == "add" else ""

    async def run() -> int:
        engine = db.create_engine(settings)
        try:
            if args.user_command == "list":
                for account in await accounts.list_users(engine):
                    status = "locked" if account.locked() else "active"
                    status = "disabled" if account.disabled else status
                    enrolled = "2fa" if account.enrolled else "no-2fa"
                    last = (
                        account.last_login_at.strftime("%Y-%m-%d %H:%M UTC")
                        if account.last_login_at
                        else "never"
                    )
                    print(f"{account.username}\t{account.role}\t{enrolled}\t{status}\t{last}")
                return 0
            hasher = keys.load_hash_key(settings.keys_dir)  # for the audit trail, before changing
            if args.user_command == "add":
                user_id = await accounts.add_user(engine, args.username, password, args.role)
                change = "add"
            else:
                found = await accounts.find_user_by_name(engine, args.username)
                if found is None:
                    raise NotFoundError("no user by that name")
                user_id = found.id
                change = args.user_command.replace("-", "_")
                await _user_changes()[args.user_command](engine, user_id)
            await audit.record(
                engine,
                hasher,
                actor=audit.Actor(None, None),
                action="user_change",
                detail={"user_id": user_id, "change": change, "by": "cli"},
            )
            print(f"user {args.user_command}: done (user id {user_id}).")
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _user_changes() -> dict[str, Callable[[AsyncEngine, int], Awaitable[None]]]:
    from hotline import accounts

    return {
        "disable": accounts.disable_user,
        "reset-2fa": accounts.reset_second_factor,
        "unlock": accounts.unlock_user,
    }


def cmd_user_phone(settings: Settings, args: argparse.Namespace) -> int:
    """Set or clear a user's pager number; it is printed back masked, never in full."""
    from hotline import accounts, audit, rota
    from hotline.errors import InvalidInputError, NotFoundError

    if args.clear == (args.number is not None):
        raise InvalidInputError("give either a NUMBER or --clear")

    async def run() -> int:
        engine = db.create_engine(settings)
        try:
            found = await accounts.find_user_by_name(engine, args.username)
            if found is None:
                raise NotFoundError("no user by that name")
            hasher = keys.load_hash_key(settings.keys_dir)
            if args.clear:
                await rota.clear_contact(engine, found.id)
                change, shown = "clear", "cleared"
            else:
                await rota.set_contact(
                    engine,
                    keys.load_sealer(settings.keys_dir),
                    hasher,
                    found.id,
                    args.number,
                    region=settings.phone_region,
                )
                number = rota.normalise_number(args.number, region=settings.phone_region)
                change, shown = "set", f"set to {rota.mask_number(number)}"
            await audit.record(
                engine,
                hasher,
                actor=audit.Actor(None, None),
                action="user_change",
                detail={"pager": change, "user_id": found.id, "by": "cli"},
            )
            print(f"user phone: {shown} (user id {found.id}).")
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _until(instant: datetime, zone: str) -> str:
    from hotline import rota

    local = rota.in_zone(instant, zone).strftime("%Y-%m-%d %H:%M %Z")
    return f"{local} ({zone}) = {instant.strftime('%Y-%m-%d %H:%M UTC')}"


async def _rota_record(
    settings: Settings, engine: AsyncEngine, change: str, shift_id: int, layer: str
) -> None:
    from hotline import audit

    await audit.record(
        engine,
        keys.load_hash_key(settings.keys_dir),
        actor=audit.Actor(None, None),
        action="user_change",
        detail={"rota": change, "shift_id": shift_id, "layer": layer, "by": "cli"},
    )


async def _rota_add(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> None:
    from hotline import accounts, rota
    from hotline.errors import NotFoundError

    found = await accounts.find_user_by_name(engine, args.user)
    if found is None:
        raise NotFoundError("no user by that name")
    zone = rota.check_zone(args.tz).key
    shift_id = await rota.add_shift(
        engine,
        layer=args.layer,
        user_id=found.id,
        starts_at=rota.parse_local(args.start, zone),
        ends_at=rota.parse_local(args.end, zone),
        tz=zone,
        override=args.override,
        created_by=None,
    )
    await _rota_record(settings, engine, "add", shift_id, args.layer)
    shift = await rota.get_shift(engine, shift_id)
    print(
        f"rota add: shift {shift_id} ({shift.layer}, {shift.username}"
        f"{', override' if shift.override else ''}) "
        f"from {_until(shift.starts_at, shift.tz)} to {_until(shift.ends_at, shift.tz)}."
    )


async def _rota_remove(settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> None:
    from hotline import rota

    removed = await rota.remove_shift(engine, args.shift_id)
    await _rota_record(settings, engine, "remove", removed.id, removed.layer)
    print(f"rota remove: shift {removed.id} ({removed.layer}) removed.")


async def _rota_list(_settings: Settings, engine: AsyncEngine, args: argparse.Namespace) -> None:
    from datetime import UTC, datetime, timedelta

    from hotline import rota
    from hotline.errors import InvalidInputError

    if not 1 <= args.days <= 366:
        raise InvalidInputError("--days is between 1 and 366")
    now = datetime.now(UTC)
    shifts = await rota.list_shifts(engine, now, now + timedelta(days=args.days))
    for shift in shifts:
        kind = "override" if shift.override else "regular"
        flag = "\tdisabled" if shift.disabled else ""
        print(
            f"{shift.id}\t{shift.layer}\t{shift.username}\t{kind}\t"
            f"{_until(shift.starts_at, shift.tz)}\t{_until(shift.ends_at, shift.tz)}{flag}"
        )
    if not shifts:
        print(f"no shifts in the next {args.days} days.")


async def _rota_now(_settings: Settings, engine: AsyncEngine, _args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from hotline import rota

    contacts = await rota.contact_states(engine)
    for layer, holder in (await rota.on_call_now(engine, datetime.now(UTC))).items():
        if holder is None:
            print(f"{layer}\tNOBODY\tpages for this layer reach no one")
            continue
        pager = "pager ok"
        if holder.user_id not in contacts:
            pager = "NO PAGER NUMBER"
        elif contacts[holder.user_id]:
            pager = "OPTED OUT"
        kind = "override" if holder.override else "regular"
        print(
            f"{layer}\t{holder.username}\t{kind}\t"
            f"until {_until(holder.ends_at, holder.tz)}\t{pager}"
        )


RotaCommand = Callable[[Settings, "AsyncEngine", argparse.Namespace], Awaitable[None]]
ROTA_COMMANDS: dict[str, RotaCommand] = {
    "add": _rota_add,
    "remove": _rota_remove,
    "list": _rota_list,
    "now": _rota_now,
}


def cmd_rota(settings: Settings, args: argparse.Namespace) -> int:
    """The on-call rota: add, list and remove shifts; who is on call now."""

    async def run() -> int:
        engine = db.create_engine(settings)
        try:
            await ROTA_COMMANDS[args.rota_command](settings, engine, args)
            return 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_triage(_settings: Settings, args: argparse.Namespace) -> int:
    import triage
    from triage.evaluation import evaluate

    if args.triage_command == "explain":
        print(triage.assess(" ".join(args.text)).explain())
        return 0
    print(evaluate(Path(args.file)).render())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add_insecure(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--insecure-unencrypted-key",
            action="store_true",
            help="write the private key without a passphrase (development only)",
        )

    p = commands.add_parser("init", help="create the database, keys and the first admin")
    p.add_argument("--admin", default="admin", help="username of the first admin account")
    add_insecure(p)
    p.set_defaults(handler=cmd_init)

    p = commands.add_parser("keys", help="manage keys")
    keys_commands = p.add_subparsers(dest="keys_command", required=True)
    k = keys_commands.add_parser("init", help="write a new case key pair and HMAC keys")
    add_insecure(k)
    k.set_defaults(handler=cmd_keys_init)
    k = keys_commands.add_parser("rotate", help="a new case key for new tips; old keys kept")
    add_insecure(k)
    k.add_argument("--reseal", action="store_true", help="then re-seal old envelopes to it")
    k.add_argument("--batch", type=int, default=500, help="rows per transaction when re-sealing")
    k.set_defaults(handler=cmd_keys_rotate)
    k = keys_commands.add_parser(
        "reseal", help="re-seal envelopes naming old case keys to the current one (resumable)"
    )
    k.add_argument("--batch", type=int, default=500, help="rows per transaction")
    k.set_defaults(handler=cmd_keys_reseal)
    k = keys_commands.add_parser(
        "retire", help="delete an old case private key once no envelope names it"
    )
    k.add_argument("key_id", help="the key id, as `hotline keys list` prints it")
    k.set_defaults(handler=cmd_keys_retire)
    k = keys_commands.add_parser("list", help="case keys and how many envelopes name each")
    k.set_defaults(handler=cmd_keys_list)

    p = commands.add_parser("db", help="database migrations")
    db_commands = p.add_subparsers(dest="db_command", required=True)
    d = db_commands.add_parser("upgrade", help="apply migrations")
    d.add_argument("revision", nargs="?", default="head")
    d.set_defaults(handler=cmd_db)
    d = db_commands.add_parser("downgrade", help="revert migrations")
    d.add_argument("revision")
    d.set_defaults(handler=cmd_db)

    p = commands.add_parser("serve", help="serve the web role")
    p.add_argument("--role", choices=["public", "dashboard", "all"])
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(handler=cmd_serve)

    p = commands.add_parser("worker", help="run the arq worker")
    p.set_defaults(handler=cmd_worker)

    p = commands.add_parser("run", help="one box: web, worker and embedded Redis together")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--demo", action="store_true", help="seed demo tips into an empty database")
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("demo", help="seed realistic demo tips")
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("audit", help="the audit trail of who read what")
    audit_commands = p.add_subparsers(dest="audit_command", required=True)
    a = audit_commands.add_parser("verify", help="check the hash chain; name the first break")
    a.set_defaults(handler=cmd_audit)

    p = commands.add_parser("backup", help="an online backup: database, keys, manifest")
    p.add_argument("dest", help="the backup directory to create (must not exist)")
    p.add_argument(
        "--without-keys", action="store_true", help="leave the keys out (kept elsewhere)"
    )
    p.set_defaults(handler=cmd_backup)

    p = commands.add_parser("restore", help="restore a backup into an empty data directory")
    p.add_argument("backup", help="a directory made by hotline backup")
    p.add_argument("--data-dir", help="restore here instead of HOTLINE_DATA_DIR")
    p.set_defaults(handler=cmd_restore)

    p = commands.add_parser("purge", help="retention: purge closed tips past their period")
    p.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    p.add_argument(
        "--scrub",
        action="store_true",
        help="SQLite: VACUUM and truncate the WAL even if none is due",
    )
    p.set_defaults(handler=cmd_purge)

    p = commands.add_parser("user", help="dashboard accounts")
    user_commands = p.add_subparsers(dest="user_command", required=True)
    u = user_commands.add_parser(
        "add", help="add a user (password from HOTLINE_USER_PASSWORD, or asked for)"
    )
    u.add_argument("username")
    u.add_argument("--role", choices=["dispatcher", "supervisor", "admin"], default="dispatcher")
    u.set_defaults(handler=cmd_user)
    for name, text in (
        ("disable", "stop a user signing in; end their sessions"),
        ("reset-2fa", "forget a user's authenticator and recovery codes; end their sessions"),
        ("unlock", "lift a lock after too many wrong passwords or codes"),
    ):
        u = user_commands.add_parser(name, help=text)
        u.add_argument("username")
        u.set_defaults(handler=cmd_user)
    u = user_commands.add_parser("list", help="list users, roles and status")
    u.set_defaults(handler=cmd_user)
    u = user_commands.add_parser(
        "phone", help="set or clear a user's pager number (printed back masked)"
    )
    u.add_argument("username")
    u.add_argument("number", nargs="?", help="the number, with its country code")
    u.add_argument("--clear", action="store_true", help="forget the user's pager number")
    u.set_defaults(handler=cmd_user_phone)

    p = commands.add_parser("rota", help="the on-call rota")
    rota_commands = p.add_subparsers(dest="rota_command", required=True)
    r = rota_commands.add_parser("add", help="add a shift (times are wall-clock times in --tz)")
    r.add_argument("--layer", choices=["primary", "backup", "supervisor"], required=True)
    r.add_argument("--user", required=True, help="username")
    r.add_argument("--start", required=True, help='"YYYY-MM-DD HH:MM"')
    r.add_argument("--end", required=True, help='"YYYY-MM-DD HH:MM"')
    r.add_argument("--tz", default="UTC", help="IANA zone, such as Europe/Madrid (default UTC)")
    r.add_argument("--override", action="store_true", help="a swap: wins over regular shifts")
    r.set_defaults(handler=cmd_rota)
    r = rota_commands.add_parser("list", help="shifts in the next days")
    r.add_argument("--days", type=int, default=14)
    r.set_defaults(handler=cmd_rota)
    r = rota_commands.add_parser("now", help="who is on call now, per layer")
    r.set_defaults(handler=cmd_rota)
    r = rota_commands.add_parser("remove", help="remove a shift by its id")
    r.add_argument("shift_id", type=int)
    r.set_defaults(handler=cmd_rota)

    p = commands.add_parser("triage", help="run the triage rules")
    triage_commands = p.add_subparsers(dest="triage_command", required=True)
    t = triage_commands.add_parser("explain", help="print the assessment of a text")
    t.add_argument("text", nargs="+")
    t.set_defaults(handler=cmd_triage)
    t = triage_commands.add_parser("eval", help="confusion matrix over a labelled JSONL file")
    t.add_argument("file")
    t.set_defaults(handler=cmd_triage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides: dict[str, object] = {}
        if args.command == "run":
            overrides["environment"] = os.environ.get("HOTLINE_ENVIRONMENT", "development")
        settings = load_settings(**overrides)
        logs.configure(settings.log_level)
        return int(args.handler(settings, args))
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except HotlineError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
