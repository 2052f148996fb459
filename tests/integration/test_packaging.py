"""The wheel carries templates, static files, translations, migrations and rule files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_wheel_ships_every_data_file_the_service_reads(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("hotline-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = [
        "web/templates/public/report.html",
        "web/static/style.css",
        "web/static/exit.js",
        "web/translations/es/LC_MESSAGES/messages.po",
        "hotline/migrations/env.py",
        "hotline/migrations/script.py.mako",
        "hotline/migrations/versions/0001_initial_schema.py",
        "hotline/migrations/versions/0004_dashboard.py",
        "hotline/fonts/DejaVuSans.ttf",
        "hotline/fonts/DejaVuSans-Bold.ttf",
        "hotline/fonts/LICENSE-DejaVu.txt",
        "web/templates/dashboard/tip.html",
        "web/templates/dashboard/_chart.html",
        "web/static/dashboard.css",
        "web/static/queue-live.js",
        "web/static/stats.css",
    ]
    for name in expected:
        assert name in names, name
    assert any(n.startswith("triage/rules/") and n.endswith(".toml") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "hotline = hotline.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
