"""explain() tells a dispatcher, at a glance, what was found and why it ranks where it does."""

import triage


def test_explain_shows_urgency_overrides_indicators_skipped_and_entities() -> None:
    result = triage.assess(
        "Please help, she is 15, he did not take her passport, men pay for sex with her "
        "in room 12 tonight, call 555-201-7788"
    )
    text = result.explain()
    lines = text.splitlines()
    assert lines[0].startswith("CRITICAL")
    assert "minors: yes" in lines[0]
    assert "overrides: O2" in text
    assert "MIN" in text
    assert "+3" in text
    assert "DOC (negated)" in text
    assert "room: 12" in text
    assert "time: tonight" in text
    assert "phone: +15552017788" in text
    assert result.rules_version in text


def test_explain_of_noise_says_why_it_is_low() -> None:
    text = triage.assess("What are the signs of human trafficking?").explain()
    assert text.startswith("LOW")
    assert "a question, not a report" in text
