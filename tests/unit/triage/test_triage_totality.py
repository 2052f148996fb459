"""assess is total: any Unicode text gives an assessment, never an exception."""

from hypothesis import given, settings
from hypothesis import strategies as st

import triage
from triage.assessment import CATEGORIES, URGENCIES

ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
TIP_WORDS = st.sampled_from(
    [
        "help",
        "me",
        "15",
        "años",
        "passport",
        "ﬁfteen",
        "\x00",
        "\u200b",
        "locked",
        "no",
        ".",
        "room",
        "+1 (555) 123-4567",
        "a@b.co",
        "http://x.io",
        "¿",
        "cứu",
        "🙂",
        "\n",
        "quince",
    ]
)


def check(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency in URGENCIES
    assert result.category in CATEGORIES
    for indicator in result.indicators:
        for start, end in indicator.spans:
            assert 0 <= start <= end <= len(text)
    for entity in result.entities:
        assert 0 <= entity.span[0] <= entity.span[1] <= len(text)
    assert isinstance(result.explain(), str)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_assess_never_raises_on_any_unicode_text(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(TIP_WORDS, max_size=60).map(" ".join))
def test_assess_never_raises_on_tip_like_noise(text: str) -> None:
    check(text)


def test_assess_handles_empty_huge_and_control_text() -> None:
    check("")
    check("\x00\x01\x02\x7f\u2028\u2029")
    check("locked in room 12 " * 20_000)
    assert "only the first" in triage.assess("x " * 150_000).explain()
