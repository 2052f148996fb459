"""Intake throughput: POST /report on Hotline against a bare Starlette form handler.

Both servers run in this same run, one uvicorn worker each, loaded in turn by wrk with
one thread at 16 and at 64 connections, in alternating rounds (medians are printed).
Hotline runs its real public role at its production log level: triage, sealing, a
durable group commit to SQLite (WAL, synchronous=FULL) through its writer process, the
relay to a real Redis. The ratio of requests/s is DESIGN.md's target (>= 0.40).

    .venv/bin/python -m bench.intake [--seconds 5] [--rounds 3] [--connections 16,64]

Needs wrk (apt-get install -y wrk) and a Redis at 127.0.0.1:6379 (db 14 is flushed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import HOTLINE, REDIS_URL, bare_server, compare, prepare, report

TEXT = (
    "There is a house on Elm Street where six women live with the man who drives them to "
    "the nail salon every morning at six and back after ten at night. One of them told my "
    "sister they owe him for the trip from abroad and he keeps their passports. They never "
    "go out alone and look very tired. A black SUV, plate 7XYZ123, picks them up. "
)
FORM = urlencode(
    {
        "what": (TEXT * 3)[:900],
        "where": "Elm Street, the grey house next to the laundromat",
        "when": "every day",
        "who": "six women, maybe one younger",
        "minors": "unknown",
        "how_many": "6",
        "other": "",
    }
)

LUA = """
wrk.method = "POST"
wrk.body = io.open("{body}", "r"):read("*a")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    body = work / "body.txt"
    body.write_text(FORM)
    script = work / "post.lua"
    script.write_text(LUA.format(body=body))
    data = work / "data"
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(data),
        "HOTLINE_REDIS_URL": REDIS_URL,
        "HOTLINE_INTAKE_PER_MINUTE": "100000000",
        "HOTLINE_INTAKE_BURST": "100000000",
    }
    prepare(env)
    servers = {
        "bare": bare_server(8701),
        "hotline": ([*HOTLINE, "serve", "--role", "public", "--port", "8702"], 8702),
    }
    results = compare(
        servers,
        env=env,
        path="/report",
        script=lambda _seconds: script,
        connections=[int(c) for c in args.connections.split(",")],
        rounds=args.rounds,
        seconds=args.seconds,
    )
    with sqlite3.connect(data / "hotline.db") as conn:
        stored = conn.execute("SELECT count(*) FROM tips").fetchone()[0]
    report(results, failures="non-3xx")
    print(f"tips committed during the run: {stored}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
