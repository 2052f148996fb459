from __future__ import annotations

from typing import Any

import triage
from hotline.verdict import TriageRequest, complete_tip_row


def test_the_verdict_fills_the_clear_columns_and_never_the_words() -> None:
    row: dict[str, Any] = {"id": "x"}
    text = "They locked my sister in the basement and took her passport, help now"
    urgency, failed = complete_tip_row(row, TriageRequest(text, minors_said=False))
    assert not failed
    assert urgency == row["urgency"] == triage.assess(text).urgency
    assert row["assessed"] is True
    assert row["rules_version"] == triage.rules_version()
    assert all(word not in repr(row) for word in ("basement", "passport", "sister"))


def test_a_broken_assessor_leaves_the_tip_high_unassessed_and_says_it_failed() -> None:
    def broken(_text: str, _lang: str | None) -> Any:
        raise ValueError("boom")

    row: dict[str, Any] = {}
    assert complete_tip_row(row, TriageRequest("x", minors_said=True), broken) == ("high", True)
    assert row["assessed"] is False
    assert row["minors"] is True  # what the reporter said is kept
