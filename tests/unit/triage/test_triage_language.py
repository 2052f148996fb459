"""Real text: negation, ages, past tense, other senses, questions, SMS, other languages."""

import pytest

import triage


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        ("She is not locked in, she can come and go as she pleases.", "CONF"),
        ("They did not take her passport.", "DOC"),
        ("No me quitaron el pasaporte.", "DOC"),
        ("nunca nos quitaron los papeles", "DOC"),
    ],
)
def test_a_negated_indicator_is_skipped_not_scored(text: str, rule_id: str) -> None:
    result = triage.assess(text)
    assert rule_id not in {i.rule_id for i in result.indicators}
    assert (rule_id, "negated") in {(s.rule_id, s.reason) for s in result.skipped}
    assert result.urgency == "low"


def test_negation_does_not_reach_across_a_sentence() -> None:
    result = triage.assess("No. They took my passport.")
    assert "DOC" in {i.rule_id for i in result.indicators}


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("the girl is fifteen", "15"),
        ("she is a 15 yr old", "15"),
        ("la muchacha tiene 15 años", "15"),
        ("una niña de quince años", "15"),
        ("im 16yo", "16"),
        ("she's sixteen-year-old", "16"),
    ],
)
def test_ages_in_words_and_digits_in_both_languages_mark_a_minor(text: str, age: str) -> None:
    result = triage.assess(text)
    assert result.minors
    assert ("age", age) in {(e.kind, e.value) for e in result.entities}


def test_an_adult_age_is_an_entity_but_not_a_minor() -> None:
    result = triage.assess("she is 24 years old")
    assert not result.minors
    assert ("age", "24") in {(e.kind, e.value) for e in result.entities}


@pytest.mark.parametrize(
    "text",
    [
        "When I was 16 years old my boss made me work for free",
        "cuando tenía 15 años me obligaron a trabajar",
        "I'm 15 minutes away from the motel",
        "tiene 2 hijos y trabaja en el campo",
    ],
)
def test_a_past_age_or_a_count_is_not_a_minor(text: str) -> None:
    assert not triage.assess(text).minors


@pytest.mark.parametrize(
    "text",
    [
        "My neighbor is involved in drug trafficking",
        "I was stuck in a traffic jam for an hour",
        "Hay mucho tráfico en la avenida",
        "narcotráfico en mi colonia",
    ],
)
def test_other_senses_of_trafficking_are_not_reports(text: str) -> None:
    result = triage.assess(text)
    assert "TRAF" not in {i.rule_id for i in result.indicators}
    assert result.urgency == "low"
    assert result.category == "other"


@pytest.mark.parametrize(
    "text",
    [
        "What are the signs of human trafficking?",
        "¿Cuáles son las señales de la trata de personas?",
        "how do i volunteer",
    ],
)
def test_questions_about_trafficking_are_low(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "low"
    assert result.category == "other"


@pytest.mark.parametrize(
    "text",
    [
        "pls help me they took my pasport n i cant leave rn",
        "helppp im l0cked in a room",
        "plz h3lp me, theyre holding me in rm 12",
        "q alguien me ayude porfa, toy encerrada pa q no me vaya",
    ],
)
def test_sms_spellings_and_misspellings_are_read(text: str) -> None:
    assert triage.assess(text).urgency == "critical"


def test_accents_case_and_confusables_fold_to_the_same_reading() -> None:
    plain = triage.assess("they took my passport and locked me in")
    styled = triage.assess("THEY TOOK MY P\u0410SSPORT AND L\u00d3CKED ME IN")  # Cyrillic A
    assert [i.rule_id for i in styled.indicators] == [i.rule_id for i in plain.indicators]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("socorro", "pt"),
        ("au secours, aidez-moi", "fr"),
        ("cứu tôi với", "vi"),
        ("tulungan nyo ako", "tl"),
    ],
)
def test_crisis_words_in_other_languages_lift_urgency(text: str, lang: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "critical"
    assert "CRISIS" in {i.rule_id for i in result.indicators}
    assert result.lang == lang


def test_language_is_detected_for_english_and_spanish() -> None:
    assert triage.assess("they took her passport and she is scared").lang == "en"
    assert triage.assess("le quitaron el pasaporte y tiene miedo").lang == "es"
    assert triage.assess("hola", lang="xx").lang == "xx"


@pytest.mark.parametrize("text", ["", "   ", "ok", "test", "lol jk", "hola"])
def test_empty_and_one_word_messages_are_low_noise(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "low"
    assert result.category == "other"


def test_a_joke_never_rises_above_medium() -> None:
    result = triage.assess("lol my kids locked me in the bathroom, help me haha")
    assert result.urgency in ("low", "medium")
    assert result.overrides == ()
