from __future__ import annotations

import logging

from hotline import logs


def test_log_events_keep_only_allowlisted_keys(capture_logs: list[str]) -> None:
    log = logs.get_logger("test")
    log.info("tip_submitted", tip_id="abc", text="secret words", phone="+15551234567", ip="1.2.3.4")
    line = capture_logs[-1]
    assert '"tip_id": "abc"' in line
    for secret in ("secret words", "5551234567", "1.2.3.4", "text", "phone"):
        assert secret not in line


def test_library_log_records_lose_their_arguments_and_tracebacks(capture_logs: list[str]) -> None:
    try:
        raise ValueError("a secret in an exception")
    except ValueError:
        logging.getLogger("somelib").exception("failed for %s", "a secret argument")
    line = capture_logs[-1]
    assert "failed for %s" in line
    assert "secret" not in line


def test_the_uvicorn_access_log_is_off(capture_logs: list[str]) -> None:
    logging.getLogger("uvicorn.access").info('%s - "%s %s" %d', "203.0.113.9", "GET", "/", 200)
    assert not any("203.0.113.9" in line or "%s - " in line for line in capture_logs)
