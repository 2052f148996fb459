"""The import directions of DESIGN.md hold (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_triage_imports_nothing_of_the_project() -> None:
    for path in (ROOT / "triage").rglob("*.py"):
        text = path.read_text()
        for package in ("hotline", "web", "sms"):
            assert f"import {package}" not in text, path
            assert f"from {package}" not in text, path
