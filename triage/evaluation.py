"""Run the engine over labelled tips: confusion matrix, per-level precision and recall."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from triage.assessment import URGENCIES, Assessment
from triage.engine import shipped_engine

Record = Mapping[str, Any]
REQUIRED = ("text", "urgency", "category", "lang", "minors", "noise")


class CorpusError(ValueError):
    """A corpus line is not a labelled tip; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Miss:
    """A tip whose predicted urgency differs from its label."""

    text: str
    expected: str
    predicted: str
    indicators: tuple[str, ...]
    overrides: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """How predictions compare with labels, by urgency level."""

    confusion: Mapping[str, Mapping[str, int]]  # expected -> predicted -> count
    misses: tuple[Miss, ...]
    noise_above_medium: tuple[Miss, ...] = ()
    category_correct: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def accuracy(self) -> float:
        correct = sum(self.confusion[level][level] for level in URGENCIES)
        return correct / self.total if self.total else 0.0

    def precision(self, level: str) -> float:
        predicted = sum(self.confusion[expected][level] for expected in URGENCIES)
        return self.confusion[level][level] / predicted if predicted else 0.0

    def recall(self, level: str) -> float:
        expected = sum(self.confusion[level].values())
        return self.confusion[level][level] / expected if expected else 0.0

    @property
    def critical_missed(self) -> tuple[Miss, ...]:
        return tuple(m for m in self.misses if m.expected == "critical")

    def render(self) -> str:
        """A plain-text report: the matrix, precision and recall, and the misses."""
        width = max(len(level) for level in URGENCIES) + 2
        lines = [f"{self.total} tips · urgency accuracy {self.accuracy:.1%}"]
        if self.total:
            lines[0] += f" · category accuracy {self.category_correct / self.total:.1%}"
        if self.counts:
            lines.append(" · ".join(f"{key}: {value}" for key, value in self.counts.items()))
        lines.append("")
        lines.append("expected \\ predicted".ljust(22) + "".join(u.rjust(width) for u in URGENCIES))
        for expected in URGENCIES:
            cells = "".join(str(self.confusion[expected][p]).rjust(width) for p in URGENCIES)
            lines.append(expected.ljust(22) + cells)
        lines.append("")
        lines.append("level".ljust(12) + "precision".rjust(11) + "recall".rjust(9))
        for level in URGENCIES:
            lines.append(
                level.ljust(12)
                + f"{self.precision(level):.1%}".rjust(11)
                + f"{self.recall(level):.1%}".rjust(9)
            )
        if self.misses:
            lines.append("")
            lines.append("misses:")
            for miss in self.misses:
                why = ",".join(miss.overrides + miss.indicators) or "-"
                lines.append(
                    f"  {miss.expected:>8} -> {miss.predicted:<8} [{why}] {miss.text[:90]}"
                )
        if self.noise_above_medium:
            lines.append(f"noise above medium: {len(self.noise_above_medium)}")
        return "\n".join(lines)


def shipped_corpus() -> Traversable:
    """Where the labelled tips shipped with the package live."""
    return resources.files("triage") / "corpus"


def load_corpus(source: str | Path | Traversable | None = None) -> list[dict[str, Any]]:
    """Read one JSONL file, or every `*.jsonl` in a directory (the shipped corpus by default)."""
    root: Path | Traversable = shipped_corpus() if source is None else _path(source)
    files = (
        sorted((f for f in root.iterdir() if f.name.endswith(".jsonl")), key=lambda f: f.name)
        if root.is_dir()
        else [root]
    )
    records: list[dict[str, Any]] = []
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{file.name}:{number}: not JSON ({exc.msg})") from exc
            missing = [key for key in REQUIRED if key not in record]
            if missing or record.get("urgency") not in URGENCIES:
                raise CorpusError(f"{file.name}:{number}: missing or bad {missing or 'urgency'}")
            records.append(record)
    return records


def evaluate(
    path_or_records: str | Path | Traversable | Iterable[Record] | None = None,
    *,
    assess: Callable[[str], Assessment] | None = None,
) -> EvaluationReport:
    """Assess every labelled tip and compare urgency (and category) with its label."""
    if path_or_records is None or isinstance(path_or_records, str | Path | Traversable):
        records: Iterable[Record] = load_corpus(path_or_records)
    else:
        records = path_or_records
    run = assess or shipped_engine().assess
    confusion = {expected: dict.fromkeys(URGENCIES, 0) for expected in URGENCIES}
    misses: list[Miss] = []
    noisy: list[Miss] = []
    categories = 0
    counts = {"spanish": 0, "sms": 0, "noise": 0}
    for record in records:
        result = run(str(record["text"]))
        expected = str(record["urgency"])
        confusion[expected][result.urgency] += 1
        categories += result.category == record.get("category")
        counts["spanish"] += record.get("lang") == "es"
        counts["sms"] += bool(record.get("sms"))
        counts["noise"] += bool(record.get("noise"))
        miss = Miss(
            str(record["text"]),
            expected,
            result.urgency,
            tuple(i.rule_id for i in result.indicators),
            result.overrides,
        )
        if result.urgency != expected:
            misses.append(miss)
        if record.get("noise") and result.urgency in ("critical", "high"):
            noisy.append(miss)
    return EvaluationReport(confusion, tuple(misses), tuple(noisy), categories, counts)


def _path(source: str | Path | Traversable) -> Path | Traversable:
    return Path(source) if isinstance(source, str) else source
