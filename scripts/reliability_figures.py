"""Print the figures the fault, fuzz and abuse suites recorded, latest run of each test.

The suites append one JSON line per test to ``artifacts/reliability.jsonl`` (git-ignored)
as they pass; docs/reliability.md quotes them. After a run of the suite:

    .venv/bin/python scripts/reliability_figures.py [artifacts/reliability.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parent.parent / "artifacts" / "reliability.jsonl"


def latest(path: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The last record of each (suite, test, variant): later runs replace earlier ones."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        variant = str(record.get("layout") or record.get("database") or record.get("profile", ""))
        found[(record["suite"], record["test"], variant)] = record
    return found


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"No figures yet: run the suite first ({path} is missing).")
        return 1
    for (suite, test, variant), record in sorted(latest(path).items()):
        figures = {k: v for k, v in record.items() if k not in ("suite", "test")}
        print(f"{suite:6} {test}{f' [{variant}]' if variant else ''}")
        for key, value in sorted(figures.items()):
            print(f"       {key}: {json.dumps(value, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
