"""Small helpers the tests share."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

RECEIPT = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4})\b")


async def submit(client: httpx.AsyncClient, what: str, **fields: str) -> httpx.Response:
    return await client.post("/report", data={"what": what, **fields})


async def submit_and_read_receipt(client: httpx.AsyncClient, what: str, **fields: str) -> str:
    answer = await submit(client, what, **fields)
    assert answer.status_code == 303, answer.status_code
    page = await client.get(answer.headers["location"])
    assert page.status_code == 200
    found = RECEIPT.search(page.text)
    assert found, "the confirmation page shows a receipt"
    return found.group(1)


def run_cli(
    *args: str, data_dir: Path | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """``hotline ARGS`` as a real subprocess, with none of this shell's ``HOTLINE_`` settings.

    With ``data_dir``: that data directory, the tests' key passphrase and, on the
    PostgreSQL pass, the test's database; with only ``HOTLINE_DATA_DIR`` in ``env``, just
    that directory's database. ``env`` (``HOTLINE_…=value``) comes last.
    """
    from tests.conftest import CHEAP, database_env

    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment.update({f"HOTLINE_{k.upper()}": str(v) for k, v in CHEAP.items()})
    if data_dir is not None:
        environment.update(
            HOTLINE_DATA_DIR=str(data_dir),
            HOTLINE_KEY_PASSPHRASE="test passphrase",
            **database_env(data_dir),
        )
    elif "HOTLINE_DATA_DIR" in env:  # a directory of the test's own: its database, no more
        environment.update(database_env(Path(env["HOTLINE_DATA_DIR"])))
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
