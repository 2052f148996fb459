"""The README's first command: one box, embedded Redis, demo data, web and worker."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_rows, free_port
from tests.server import ServerProcess

pytestmark = pytest.mark.slow


def test_hotline_run_serves_demo_data_and_dispatches_it_with_an_embedded_redis(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fresh"  # nothing made beforehand: run initialises everything
    server = ServerProcess(
        data_dir, free_port(), "run", "--demo", HOTLINE_REDIS_URL="", HOTLINE_KEY_PASSPHRASE=""
    )
    try:
        server.wait_ready(timeout=60)
        landing = httpx.get(server.base_url + "/")
        assert landing.status_code == 200
        assert 'id="quick-exit"' in landing.text
        receipt = re.search(r"receipt (\d{4} \d{4} \d{4} \d{4})", server.output())
        assert receipt, server.output()
        follow = httpx.post(server.base_url + "/followup", data={"receipt": receipt.group(1)})
        assert "Thank you for your report" in follow.text  # the demo reply opens
        deadline = time.monotonic() + 30
        while True:
            [(total, waiting)] = database_rows(
                data_dir,
                "SELECT count(*), count(*) - count(dispatched_at) FROM tips",
            )
            if total >= 6 and waiting == 0:
                break
            assert time.monotonic() < deadline, f"{waiting} of {total} tips undispatched"
            time.sleep(0.2)
    finally:
        server.stop()
    assert "Traceback" not in server.output()
