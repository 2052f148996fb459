"""Triage's verdict on a tip, as the clear columns of its row: ids and levels, never words.

Triage runs where the commit runs — in the SQLite writer process, or in the web process
with PostgreSQL — on the plaintext in memory, just before the row is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import triage

Assessor = Callable[[str, str | None], "triage.Assessment"]


# Queue order: the rank of an urgency (``tips.priority``), most urgent first.
URGENCIES: tuple[str, ...] = ("critical", "high", "medium", "low")
PRIORITY: dict[str, int] = {urgency: rank for rank, urgency in enumerate(URGENCIES)}


UNASSESSED: dict[str, Any] = {
    "assessed": False,
    "urgency": "high",
    "priority": PRIORITY["high"],
    "score": None,
    "category": None,
    "minors": None,
    "indicator_ids": [],
    "rules_version": None,
}


def assessment_columns(result: triage.Assessment) -> dict[str, Any]:
    """Triage's verdict as clear columns: ids and levels, never the matched words."""
    return {
        "assessed": True,
        "urgency": result.urgency,
        "priority": PRIORITY[result.urgency],
        "score": float(result.score),
        "category": result.category,
        "minors": bool(result.minors),
        "indicator_ids": sorted({indicator.rule_id for indicator in result.indicators}),
        "rules_version": result.rules_version,
    }


def default_assessor(text: str, lang: str | None) -> triage.Assessment:
    import triage

    return triage.assess(text, lang)


@dataclass(frozen=True, slots=True)
class TriageRequest:
    """What the committer needs to triage a tip just before it is written."""

    text: str
    minors_said: bool


def complete_tip_row(
    row: dict[str, Any], request: TriageRequest, assess: Assessor = default_assessor
) -> tuple[str, bool]:
    """Write triage's verdict into a tip row; return its urgency and whether triage failed.

    If assessment fails for any reason the tip is still kept, as ``high`` and unassessed:
    never drop a tip because triage failed. The caller counts the failure.
    """
    try:
        columns = assessment_columns(assess(request.text, None))
        failed = False
    except Exception:  # noqa: BLE001 - any failure of triage: keep the tip, flag it
        columns = dict(UNASSESSED)
        failed = True
    if request.minors_said:
        columns["minors"] = True  # the reporter said so; rules cannot unsay it
    row.update(columns)
    return str(columns["urgency"]), failed
