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
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.harness import HOTLINE, REDIS_URL, bare_server, compare, prepare, report
from bench.intake import TEXT

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
    prepare(env)
    servers = {
        "bare": bare_server(8711),
        "hotline": ([*HOTLINE, "serve", "--role", "public", "--port", "8712"], 8712),
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

    results = compare(
        servers,
        env=env,
        path=PATH,
        script=script,
        connections=[int(c) for c in args.connections.split(",")],
        rounds=args.rounds,
        seconds=args.seconds,
    )
    with sqlite3.connect(data / "hotline.db") as conn:
        stored = conn.execute("SELECT count(*) FROM tips WHERE channel = 'sms'").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM sms_messages").fetchone()[0]
    report(results, failures="non-2xx")
    print(f"SMS tips committed during the run: {stored} ({messages} messages)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
