"""Figures for docs/reliability.md: one JSON line per fuzz or abuse test, appended to
``artifacts/reliability.jsonl`` (git-ignored) at the repository's root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
RELIABILITY = ARTIFACTS / "reliability.jsonl"


def record_figures(suite: str, test: str, **figures: Any) -> None:
    """Append one line: which suite and test, and what it measured."""
    ARTIFACTS.mkdir(exist_ok=True)
    line = json.dumps({"suite": suite, "test": test, **figures}, sort_keys=True)
    with RELIABILITY.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


class Counter:
    """Examples a hypothesis test ran, counted in its body, and the answers they got."""

    def __init__(self) -> None:
        self.examples = 0
        self.outcomes: dict[str, int] = {}

    def tick(self) -> None:
        self.examples += 1

    def saw(self, outcome: object) -> None:
        key = str(outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
