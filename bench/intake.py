"""Intake throughput: POST /report on Hotline against a bare Starlette form handler.

Both servers run in this same run, one uvicorn worker each, loaded in turn by wrk with
one thread at 16 and at 64 connections, in alternating rounds (medians are printed).
Hotline runs its real public role at its production log level: triage, sealing, a
durable group commit to SQLite (WAL, synchronous=FULL) through its writer process, the
relay to a real Redis. The ratio of requests/s is DESIGN.md's target (>= 0.40).

    .venv/bin/python bench/intake.py [--seconds 5] [--rounds 3] [--connections 16,64]

Needs wrk (apt-get install -y wrk) and a Redis at 127.0.0.1:6379 (db 14 is flushed).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
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


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early ({url})")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready: {url}")


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    latency = {
        p: _ms(m.group(2))
        for p in ("50", "99")
        if (m := re.search(rf"\s{p}(\.0+)?%\s+([\d.]+\w+)", out))
    }
    return {
        "rps": rps,
        "p50": latency.get("50", 0),
        "p99": latency.get("99", 0),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


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
    hotline = [sys.executable, "-m", "hotline.cli"]
    subprocess.run([*hotline, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*hotline, "keys", "init", "--insecure-unencrypted-key"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["redis-cli", "-n", REDIS_URL.rsplit("/", 1)[1], "flushdb"],
        capture_output=True,
        check=False,
    )
    servers = {
        "bare": (
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                "8701",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            8701,
        ),
        "hotline": ([*hotline, "serve", "--role", "public", "--port", "8702"], 8702),
    }
    results: dict[tuple[str, int], dict[str, float]] = {}
    procs = {}
    try:
        for name, (command, _port) in servers.items():
            procs[name] = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        wait_ready("http://127.0.0.1:8702/healthz", procs["hotline"])
        time.sleep(1)
        for connections in (int(c) for c in args.connections.split(",")):
            for _command, port in servers.values():  # warm up
                run_wrk(f"http://127.0.0.1:{port}/report", script, connections, 2)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _round in range(args.rounds):  # alternate, so drift hits both alike
                for name, (_command, port) in servers.items():
                    url = f"http://127.0.0.1:{port}/report"
                    rounds[name].append(run_wrk(url, script, connections, args.seconds))
            for name, runs in rounds.items():
                results[(name, connections)] = {
                    key: statistics.median(run[key] for run in runs) for key in runs[0]
                }
    finally:
        for process in procs.values():
            process.terminate()
            process.wait(timeout=20)
    import sqlite3

    with sqlite3.connect(data / "hotline.db") as conn:
        stored = conn.execute("SELECT count(*) FROM tips").fetchone()[0]
    print(f"{'server':<8} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-3xx':>8}")
    for (name, connections), r in results.items():
        print(
            f"{name:<8} {connections:>5} {r['rps']:>9.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
            f" {r['errors']:>8.0f}"
        )
    for connections in sorted({c for _n, c in results}):
        ratio = results[("hotline", connections)]["rps"] / results[("bare", connections)]["rps"]
        print(f"ratio hotline/bare at {connections} connections: {ratio:.2f} (target >= 0.40)")
    print(f"tips committed during the run: {stored}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
