"""SMS webhook throughput: signed POST /sms/twilio on Hotline against a bare handler.

Both servers run in this same run, one uvicorn worker each, loaded in turn by wrk with one
thread at 32 connections, in alternating rounds (medians are printed). Every request is a
real Twilio inbound webhook (Twilio's twenty form fields, a 300-character body), signed
with the real ``RequestValidator``, with a fresh MessageSid and a fresh sender: each is a
new thread and a new tip, the heaviest path (signature check, keyword check, E.164 and
keyed hashes, sealing, triage and a durable group commit through the writer process, the
TwiML answer). The bare handler parses the same form and answers a fixed TwiML message.
The ratio of requests/s is DESIGN.md's target (>= 0.40; p99 < 100 ms at 32 connections).

    .venv/bin/python -m bench.sms [--seconds 5] [--rounds 3] [--connections 32]

Needs wrk (apt-get install -y wrk) and a Redis at 127.0.0.1:6379 (db 14 is flushed).
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.intake import REDIS_URL, ROOT, TEXT, run_wrk, wait_ready

ACCOUNT_SID = "AC" + "be9c4" * 6 + "00"
TOKEN = "bench-auth-token"  # noqa: S105 - a throwaway token for a local benchmark
PUBLIC_URL = "https://tips.example.org"
PATH = "/sms/twilio"
# Enough distinct requests that none repeats within one wrk run (a repeat is a cheap no-op).
REQUESTS_PER_SECOND_CEILING = 6000

LUA = """
local requests = {{}}
local i = 0
init = function(args)
  for line in io.lines("{file}") do
    local signature, body = line:match("^([^\\t]*)\\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "{path}", {{
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = signature,
    }}, body)
  end
end
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
"""


def _requests(path: Path, count: int, serial: itertools.count[int]) -> None:
    validator = RequestValidator(TOKEN)
    with path.open("w") as out:
        for _ in range(count):
            n = next(serial)
            sid = "SM" + secrets.token_hex(16)
            params = {
                "ToCountry": "US",
                "ToState": "CA",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "ToCity": "",
                "FromZip": "94105",
                "SmsSid": sid,
                "FromState": "CA",
                "SmsStatus": "received",
                "FromCity": "SAN FRANCISCO",
                "Body": TEXT[:300],
                "FromCountry": "US",
                "To": "+15005550006",
                "ToZip": "",
                "NumSegments": "2",
                "MessageSid": sid,
                "AccountSid": ACCOUNT_SID,
                "From": f"+1415{2000000 + n:07d}",
                "ApiVersion": "2010-04-01",
            }
            signature = validator.compute_signature(PUBLIC_URL + PATH, params)
            out.write(f"{signature}\t{urlencode(params)}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", default="32")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-sms-"))
    data = work / "data"
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(data),
        "HOTLINE_REDIS_URL": REDIS_URL,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "HOTLINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_TWILIO_FROM": "+15005550006",
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
    bare = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", "8711"]
    servers = {
        "bare": ([*bare, "--no-access-log", "--log-level", "warning"], 8711),
        "hotline": ([*hotline, "serve", "--role", "public", "--port", "8712"], 8712),
    }
    serial = itertools.count()
    runs = 0

    def script(seconds: int) -> Path:
        nonlocal runs
        runs += 1
        requests = work / f"requests-{runs}.txt"
        _requests(requests, seconds * REQUESTS_PER_SECOND_CEILING, serial)
        lua = work / f"sms-{runs}.lua"
        lua.write_text(LUA.format(file=requests, path=PATH))
        return lua

    results: dict[tuple[str, int], dict[str, float]] = {}
    procs = {}
    try:
        for name, (command, _port) in servers.items():
            procs[name] = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        wait_ready("http://127.0.0.1:8712/healthz", procs["hotline"])
        time.sleep(1)
        for connections in (int(c) for c in args.connections.split(",")):
            for _command, port in servers.values():  # warm up
                run_wrk(f"http://127.0.0.1:{port}{PATH}", script(2), connections, 2)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _round in range(args.rounds):  # alternate, so drift hits both alike
                for name, (_command, port) in servers.items():
                    url = f"http://127.0.0.1:{port}{PATH}"
                    lua = script(args.seconds)
                    rounds[name].append(run_wrk(url, lua, connections, args.seconds))
            for name, measured in rounds.items():
                results[(name, connections)] = {
                    key: statistics.median(run[key] for run in measured) for key in measured[0]
                }
    finally:
        for process in procs.values():
            process.terminate()
            process.wait(timeout=20)
    with sqlite3.connect(data / "hotline.db") as conn:
        stored = conn.execute("SELECT count(*) FROM tips WHERE channel = 'sms'").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM sms_messages").fetchone()[0]
    print(f"{'server':<8} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for (name, connections), r in results.items():
        print(
            f"{name:<8} {connections:>5} {r['rps']:>9.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
            f" {r['errors']:>8.0f}"
        )
    for connections in sorted({c for _n, c in results}):
        ratio = results[("hotline", connections)]["rps"] / results[("bare", connections)]["rps"]
        print(f"ratio hotline/bare at {connections} connections: {ratio:.2f} (target >= 0.40)")
    print(f"SMS tips committed during the run: {stored} ({messages} messages)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
