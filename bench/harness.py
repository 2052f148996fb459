"""What the benches share: a fresh data directory, the servers, wrk, rounds and medians.

Each bench runs a bare Starlette handler and Hotline one after the other in the same
run, one uvicorn worker each, in alternating rounds so that drift on a shared machine
hits both alike, and prints the medians and their ratio.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
HOTLINE = [sys.executable, "-m", "hotline.cli"]

Results = dict[tuple[str, int], dict[str, float]]
Servers = Mapping[str, tuple[list[str], int]]


def prepare(env: Mapping[str, str]) -> None:
    """Migrate a fresh database, write development keys, empty the bench's Redis db."""
    subprocess.run([*HOTLINE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*HOTLINE, "keys", "init", "--insecure-unencrypted-key"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["redis-cli", "-n", REDIS_URL.rsplit("/", 1)[1], "flushdb"],
        capture_output=True,
        check=False,
    )


def bare_server(port: int) -> tuple[list[str], int]:
    command = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port)]
    return [*command, "--no-access-log", "--log-level", "warning"], port


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


def compare(
    servers: Servers,
    *,
    env: Mapping[str, str],
    path: str,
    script: Callable[[int], Path],
    connections: list[int],
    rounds: int,
    seconds: int,
) -> Results:
    """Start the servers, warm them up, run alternating rounds; medians per server."""
    results: Results = {}
    procs = {
        name: subprocess.Popen(
            command,
            env=dict(env),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, (command, _port) in servers.items()
    }
    try:
        wait_ready(f"http://127.0.0.1:{servers['hotline'][1]}/healthz", procs["hotline"])
        time.sleep(1)
        for count in connections:
            for _command, port in servers.values():  # warm up
                run_wrk(f"http://127.0.0.1:{port}{path}", script(2), count, 2)
            measured: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _round in range(rounds):  # alternate, so drift hits both alike
                for name, (_command, port) in servers.items():
                    url = f"http://127.0.0.1:{port}{path}"
                    measured[name].append(run_wrk(url, script(seconds), count, seconds))
            for name, runs in measured.items():
                results[(name, count)] = {
                    key: statistics.median(run[key] for run in runs) for key in runs[0]
                }
    finally:
        for process in procs.values():
            process.terminate()
            process.wait(timeout=20)
    return results


def report(results: Results, *, failures: str) -> None:
    print(f"{'server':<8} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {failures:>8}")
    for (name, connections), r in results.items():
        print(
            f"{name:<8} {connections:>5} {r['rps']:>9.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
            f" {r['errors']:>8.0f}"
        )
    for connections in sorted({c for _n, c in results}):
        ratio = results[("hotline", connections)]["rps"] / results[("bare", connections)]["rps"]
        print(f"ratio hotline/bare at {connections} connections: {ratio:.2f} (target >= 0.40)")
