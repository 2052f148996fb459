"""The dispatcher's queue page with a million tips stored: p50 and p99 latency.

For each backend: a fresh database (SQLite file, or a ``hotline_bench`` PostgreSQL
database created and dropped here) migrated with ``hotline db upgrade``, seeded with N
tips (about 3 % open, the rest closed; every urgency and channel; some linked by entity
digests; 600 random bytes as each sealed body), then ``hotline serve --role dashboard``
at its production log level. A dispatcher's full session is opened directly (the session
store and the cookie format of the sign-in flow). wrk loads, at 1 and 4 connections:

- the first page of the queue, ``/dashboard/``;
- a filtered page, ``?urgency=high&holder=unclaimed``;
- a deep page, reached by following ``Next page`` 20 times (keyset cursors);
- the same server's ``/healthz``, and a bare Starlette page of the queue page's size:
  the baselines, measured in the same run.

Target (DESIGN.md): p99 under 50 ms at 1,000,000 tips.

    .venv/bin/python -m bench.dashboard [--tips 1000000] [--backend sqlite|postgresql|both]

Uses wrk when installed, else bench.dashboard_load (a raw-socket closed loop). Needs a
Redis at 127.0.0.1:6379 (db 14 is flushed) and, for PostgreSQL, a server at
BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/). Prints the server's
CPU time per request too: on a shared, busy machine latency says more about the
neighbours than about the page, CPU time does not.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.dashboard_load import run_load
from bench.dashboard_seed import Seeded, seed_postgresql_sync, seed_sqlite
from bench.harness import HOTLINE, REDIS_URL, ROOT, prepare, run_wrk, wait_ready

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/")
BENCH_DATABASE = "hotline_bench"
HOTLINE_PORT, BARE_PORT = 8711, 8712
TARGET_P99_MS = 50.0
NEXT = re.compile(r'<a href="([^"]+)" rel="next">Next page</a>')
ROW = re.compile(r'<tr data-tip-id="')
LUA = 'wrk.headers["Cookie"] = "{cookie}"\n'


async def _recreate_database(drop_only: bool = False) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL + "postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        if not drop_only:
            await conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    finally:
        await conn.close()


async def open_session() -> str:
    """A dispatcher with a full session, straight into the store; its ``Cookie`` value."""
    import sqlalchemy as sa

    from hotline import db, keys
    from hotline.accounts import add_user
    from hotline.sessions import SessionStore
    from hotline.settings import load_settings
    from hotline.tables import users
    from web.dashboard.core import SESSION_COOKIE, sign_token

    settings = load_settings()
    engine = db.create_engine(settings)
    try:
        user_id = await add_user(engine, "bench-dispatcher", "bench password 12345", "dispatcher")
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(totp_confirmed_at=datetime.now(UTC))
            )
        store = SessionStore(engine, idle=timedelta(hours=1), max_age=timedelta(hours=8))
        token = await store.create(user_id, "full")
    finally:
        await engine.dispose()
    return f"{SESSION_COOKIE}={sign_token(keys.load_hash_key(settings.keys_dir), token)}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_page(client: httpx.Client, path: str) -> httpx.Response:
    page = client.get(path)
    if page.status_code != 200 or not ROW.search(page.text):
        raise SystemExit(f"{path}: {page.status_code}, not a queue page with rows")
    return page


def deep_path(client: httpx.Client, pages: int) -> str:
    path = "/dashboard/"
    for _ in range(pages):
        found = NEXT.search(check_page(client, path).text)
        if found is None:
            break
        path = html.unescape(found.group(1))
    return path


def run_backend(backend: str, args: argparse.Namespace) -> list[tuple[str, int, dict[str, float]]]:
    work = Path(tempfile.mkdtemp(prefix=f"hotline-bench-dashboard-{backend}-"))
    data = work / "data"
    env = {**os.environ, "HOTLINE_DATA_DIR": str(data), "HOTLINE_REDIS_URL": REDIS_URL}
    if backend == "postgresql":
        asyncio.run(_recreate_database())
        env["HOTLINE_DATABASE_URL"] = POSTGRES_URL + BENCH_DATABASE
    else:
        env.pop("HOTLINE_DATABASE_URL", None)
    os.environ.clear()
    os.environ.update(env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        prepare(env)
        seeded: Seeded = (
            seed_postgresql_sync(env["HOTLINE_DATABASE_URL"], args.tips)
            if backend == "postgresql"
            else seed_sqlite(data / "hotline.db", args.tips)
        )
        print(
            f"[{backend}] seeded {seeded.tips:,} tips ({seeded.open:,} open, "
            f"{seeded.entities:,} entity links) in {seeded.seconds:.0f} s",
            flush=True,
        )
        cookie = asyncio.run(open_session())
        hotline = subprocess.Popen(
            [*HOTLINE, "serve", "--role", "dashboard", "--port", str(HOTLINE_PORT)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(hotline)
        wait_ready(f"http://127.0.0.1:{HOTLINE_PORT}/healthz", hotline)
        base = f"http://127.0.0.1:{HOTLINE_PORT}"
        with httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30) as client:
            first = check_page(client, "/dashboard/")
            filtered = "/dashboard/?urgency=high&holder=unclaimed"
            check_page(client, filtered)
            deep = deep_path(client, args.deep_pages)
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.dashboard_bare:app",
                "--port",
                str(BARE_PORT),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**env, "BENCH_PAGE_BYTES": str(len(first.content))},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(bare)
        wait_ready(f"http://127.0.0.1:{BARE_PORT}/healthz", bare)
        script = work / "cookie.lua"
        script.write_text(LUA.format(cookie=cookie))

        def measure(url: str, connections: int, *, warmup: bool = False) -> dict[str, float]:
            server = hotline if url.startswith(base) else bare
            cpu = cpu_seconds(server.pid)
            if shutil.which("wrk"):
                result = run_wrk(url, script, connections, 1 if warmup else args.seconds)
                result["requests"] = result["rps"] * (1 if warmup else args.seconds)
            else:
                result = run_load(url, cookie, connections, 200 if warmup else args.requests)
            # The server's own CPU per request: what the machine's other load cannot inflate.
            result["cpu_ms"] = (cpu_seconds(server.pid) - cpu) * 1000 / max(1, result["requests"])
            return result

        targets = [
            ("queue, first page", f"{base}/dashboard/"),
            ("queue, high+unclaimed", f"{base}{filtered}"),
            (f"queue, page {args.deep_pages + 1}", f"{base}{deep}"),
            ("hotline /healthz", f"{base}/healthz"),
            ("bare page, same size", f"http://127.0.0.1:{BARE_PORT}/page"),
        ]
        results = []
        for connections in [int(c) for c in args.connections.split(",")]:
            for name, url in targets:
                measure(url, connections, warmup=True)
                results.append((name, connections, measure(url, connections)))
        with httpx.Client(base_url=base, headers={"Cookie": cookie}, timeout=30) as client:
            check_page(client, deep)  # the session held to the end: every answer was a page
        return results
    finally:
        for process in procs:
            process.terminate()
            process.wait(timeout=20)
        if backend == "postgresql":
            asyncio.run(_recreate_database(drop_only=True))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"[{backend}] kept {work}")


def report(backend: str, results: list[tuple[str, int, dict[str, float]]]) -> None:
    print(
        f"\n{backend}: {'page':<24} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'not 200':>7} {'CPU ms/req':>10}"
    )
    baseline = {c: r for name, c, r in results if name == "hotline /healthz"}
    bare = {c: r for name, c, r in results if name.startswith("bare page")}
    for name, connections, r in results:
        mark = ""
        if name.startswith("queue"):
            ok = r["p99"] < TARGET_P99_MS
            mark = (
                f"  {'ok' if ok else 'OVER'} (p99 target {TARGET_P99_MS:.0f} ms);"
                f" req/s {r['rps'] / baseline[connections]['rps']:.2f} of /healthz,"
                f" {r['rps'] / bare[connections]['rps']:.2f} of the bare page"
            )
        print(
            f"{'':<{len(backend) + 1}} {name:<24} {connections:>5} {r['rps']:>8.0f}"
            f" {r['p50']:>7.2f} {r['p99']:>7.2f} {r['errors']:>7.0f} {r['cpu_ms']:>10.2f}{mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per measurement")
    parser.add_argument("--requests", type=int, default=3000, help="per measurement, no wrk")
    parser.add_argument("--connections", default="1,4")
    parser.add_argument("--deep-pages", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    print(f"load from {'wrk' if shutil.which('wrk') else 'bench.dashboard_load (no wrk)'}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    measured = {backend: run_backend(backend, args) for backend in backends}
    for backend, results in measured.items():
        report(backend, results)
    print(
        f"\n({args.tips:,} tips per backend; {time.perf_counter() - started:.0f} s in all;"
        f" load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
