"""The steps of a paging chain, decided from its pages rows alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline.paging import (
    PageMark,
    chain_length,
    chain_outcome,
    is_paged,
    layer_of,
    next_due,
    page_text,
)
from hotline.settings import load_settings

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
WINDOW = 300.0


def mark(step: int, status: str, *, at: datetime = T0) -> PageMark:
    return PageMark(step=step, status=status, code="4821", created_at=at)


def test_steps_go_primary_backup_supervisor_and_round_again() -> None:
    assert [layer_of(step) for step in range(7)] == [
        "primary",
        "backup",
        "supervisor",
        "primary",
        "backup",
        "supervisor",
        "primary",
    ]
    assert chain_length(load_settings(escalation_rounds=2)) == 6


def test_the_first_step_is_due_when_the_chain_starts() -> None:
    assert next_due({}, started_at=T0, window=WINDOW, now=T0) == (0, 0.0)


def test_the_next_step_is_due_one_window_after_the_previous_page() -> None:
    rows = {0: mark(0, "sent")}
    step, delay = next_due(rows, started_at=T0, window=WINDOW, now=T0 + timedelta(seconds=60))
    assert (step, delay) == (1, 240.0)
    step, delay = next_due(rows, started_at=T0, window=WINDOW, now=T0 + timedelta(seconds=301))
    assert (step, delay) == (1, -1.0)


def test_a_step_that_found_nobody_on_call_moves_on_at_once() -> None:
    rows = {0: mark(0, "sent"), 1: mark(1, "nobody", at=T0 + timedelta(seconds=300))}
    now = T0 + timedelta(seconds=300)
    assert next_due(rows, started_at=T0, window=WINDOW, now=now) == (2, 0.0)


def test_a_page_that_reached_no_one_is_followed_at_once() -> None:
    # Failed at sending or reported undelivered, no number, opted out: nobody was woken.
    for status in ("failed", "no_number", "opted_out"):
        assert next_due({0: mark(0, status)}, started_at=T0, window=WINDOW, now=T0) == (1, 0.0)


def test_a_page_on_its_way_or_delivered_waits_its_window() -> None:
    for status in ("sending", "sent", "delivered"):
        assert next_due({0: mark(0, status)}, started_at=T0, window=WINDOW, now=T0) == (1, WINDOW)


def test_a_chain_ends_as_nobody_when_a_whole_round_reached_no_one() -> None:
    assert chain_outcome({0: "nobody", 1: "failed", 2: "no_number"}) == "nobody"
    assert chain_outcome({0: "sent", 1: "nobody", 2: "nobody"}) == "exhausted"
    rounds = {0: "sent", 1: "sent", 2: "sent", 3: "opted_out", 4: "nobody", 5: "failed"}
    assert chain_outcome(rounds) == "nobody"


def test_a_page_carries_the_reference_urgency_and_code_only() -> None:
    assert page_text("K7M2Q-9XRT4", "critical", "0042") == (
        "Hotline: CRITICAL tip K7M2Q-9XRT4. Reply ACK 0042 or open the dashboard."
    )


def test_only_the_urgencies_in_the_setting_page() -> None:
    default = load_settings()
    assert is_paged(default, "critical")
    assert not is_paged(default, "high")
    assert not is_paged(default, None)
    assert is_paged(load_settings(page_urgencies="critical, high"), "high")
