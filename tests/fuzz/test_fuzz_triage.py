"""triage.assess is total over any Unicode text, explains itself inside the text, gives the
same answer twice, and an urgent report stays critical when harmless text follows it.

The last property holds by design only for text after a sentence mark that fires no rule of
its own: negation and counters reach within a sentence (triage/negation.py), and a joke
anywhere in a tip drops the overrides (triage/scoring.py), so "just kidding" appended may
and should lower a tip. The strategy keeps what it appends to text that fires nothing.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

import triage
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.reliability import Counter
from triage.assessment import CATEGORIES, ENTITY_KINDS, URGENCIES
from triage.evaluation import load_corpus

# Every category but lone surrogates (a str from a request never holds one: the form reader
# drops them), with combining marks, right-to-left text and emoji drawn more often.
ANY_CHAR = st.characters(exclude_categories=["Cs"])
COMBINING = st.characters(categories=["Mn", "Mc", "Me"])
RTL = st.characters(min_codepoint=0x0590, max_codepoint=0x08FF)
EMOJI = st.one_of(
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
    st.sampled_from(["\u200d", "\ufe0f", "🏳️‍🌈", "👩‍👧", "🇲🇽"]),
)
MARKS = st.sampled_from(
    ["\u202e", "\u202d", "\u2066", "\u2069", "\u200f", "\u200b", "\u2028", "\r\n", "\x00", "."]
)
WORDS = st.sampled_from(
    [
        "help",
        "me",
        "locked",
        "passport",
        "room",
        "112",
        "she",
        "is",
        "15",
        "años",
        "ayuda",
        "encerrada",
        "now",
        "not",
        "never",
        "joking",
        "kidding",
        "was",
        "when",
        "years",
        "ago",
        "boss",
        "owe",
        "debt",
        "van",
        "tonight",
        "call",
        "+1-555-010-0199",
        "a@b.co",
        "http://x.io",
        "4411",
        "Garden",
        "Grove",
        "Ave",
    ]
)
PIECE = st.one_of(
    st.text(ANY_CHAR, max_size=30),
    st.lists(COMBINING | RTL | EMOJI | MARKS, max_size=20).map("".join),
    WORDS.map(lambda word: word + " "),
)
TEXT = st.one_of(
    st.lists(PIECE, max_size=25).map("".join),
    # Very long: repetitions of a piece, up to past the engine's reading limit.
    st.tuples(PIECE, st.integers(1, 12_000)).map(lambda pair: pair[0] * pair[1]),
)


def spans_inside(text: str, result: triage.Assessment) -> None:
    for indicator in result.indicators:
        assert indicator.spans
        for start, end in indicator.spans:
            assert 0 <= start <= end <= len(text), (indicator.rule_id, start, end)
    for skipped in result.skipped:
        for start, end in skipped.spans:
            assert 0 <= start <= end <= len(text), (skipped.rule_id, start, end)
    for entity in result.entities:
        assert entity.kind in ENTITY_KINDS
        start, end = entity.span
        assert 0 <= start <= end <= len(text), (entity.kind, start, end)


@fuzz_settings(scale=2)
@given(text=TEXT)
def test_assess_returns_a_valid_assessment_for_any_unicode_text(
    examples: Counter, text: str
) -> None:
    examples.tick()
    result = triage.assess(text)
    assert result.urgency in URGENCIES
    assert result.category in CATEGORIES
    assert result.rules_version == triage.rules_version()
    assert isinstance(result.explain(), str)
    spans_inside(text, result)
    examples.saw(result.urgency)


@fuzz_settings()
@given(text=TEXT)
def test_assess_gives_the_same_assessment_for_the_same_text(examples: Counter, text: str) -> None:
    examples.tick()
    assert triage.assess(text) == triage.assess(text)
    assert triage.assess(text) == triage.assess(str(text))


CRITICAL = [
    row["text"]
    for row in load_corpus()
    if row["urgency"] == "critical" and triage.assess(row["text"]).urgency == "critical"
]


def test_the_corpus_gives_the_critical_property_enough_reports_to_start_from() -> None:
    assert len(CRITICAL) >= 30


@fuzz_settings()
@given(report=st.sampled_from(CRITICAL), tail=TEXT)
def test_a_critical_report_stays_critical_when_harmless_text_follows(
    examples: Counter, report: str, tail: str
) -> None:
    alone = triage.assess(tail)
    assume(not alone.indicators and not alone.skipped)
    examples.tick()
    result = triage.assess(report + ". " + tail)
    assert result.urgency == "critical", result.explain()
    examples.saw(",".join(result.overrides))
