"""Each override lifts a tip to critical; without its parts, it does not fire."""

import pytest

import triage


@pytest.mark.parametrize(
    "text",
    [
        "There is a woman locked in the basement of the house on Elm",
        "He has a gun and he is beating her right now",
        "They are moving the girls tomorrow in a white van",
        "la tienen encerrada en un cuarto del motel",
        "le esta pegando ahorita a la muchacha en el cuarto 12",
    ],
)
def test_danger_now_with_a_victim_or_a_place_is_critical_by_o1(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "critical"
    assert "O1" in result.overrides


def test_violence_in_general_without_now_does_not_fire_o1() -> None:
    result = triage.assess("Her husband hit her last year and she left him")
    assert "O1" not in result.overrides
    assert result.urgency != "critical"


@pytest.mark.parametrize(
    "text",
    [
        "The girl is fifteen and men pay to have sex with her",
        "a 15 yr old is being sold for sex at the motel",
        "Hay niñas de 14 años y llegan hombres a pagar por estar con ellas",
    ],
)
def test_a_minor_in_commercial_sex_is_critical_by_o2(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "critical"
    assert "O2" in result.overrides
    assert result.minors


def test_an_adult_in_commercial_sex_without_means_is_not_critical() -> None:
    result = triage.assess("She is 24 and does escort work, she says she likes it")
    assert "O2" not in result.overrides
    assert result.urgency in ("medium", "low")


@pytest.mark.parametrize(
    "text",
    [
        "Please help me, they took my passport and I can't leave right now",
        "ayúdenme por favor, me tienen aquí y tengo miedo",
        "she is here with me and she needs help, please hurry",
    ],
)
def test_a_victim_asking_for_help_now_is_critical_by_o3(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "critical"
    assert "O3" in result.overrides


def test_a_volunteer_asking_how_to_help_is_low() -> None:
    result = triage.assess("How can I help? I want to volunteer with your organization.")
    assert result.overrides == ()
    assert result.urgency == "low"


@pytest.mark.parametrize(
    "text",
    [
        "They will take her kidney tomorrow to pay the debt",
        "mañana le van a sacar un riñón a mi primo",
    ],
)
def test_organ_removal_with_an_imminent_date_is_critical_by_o4(text: str) -> None:
    result = triage.assess(text)
    assert result.urgency == "critical"
    assert "O4" in result.overrides
    assert result.category == "organ_trafficking"


def test_kidney_stones_are_not_organ_trafficking() -> None:
    result = triage.assess("I have kidney stones and the surgery is tomorrow")
    assert "O4" not in result.overrides
    assert result.category != "organ_trafficking"


def test_means_and_purpose_together_make_a_high_tip() -> None:
    result = triage.assess(
        "The restaurant owner keeps the cooks' passports and never pays them, they owe him "
        "for the trip"
    )
    assert result.urgency == "high"
    assert result.category == "labor_trafficking"


def test_a_purpose_without_means_is_at_most_medium() -> None:
    result = triage.assess(
        "Men coming and going from the massage parlor all night, it is open until 3 am"
    )
    assert result.urgency == "medium"
    assert result.category == "sex_trafficking"


def test_a_minor_with_an_exploitation_indicator_is_at_least_high() -> None:
    result = triage.assess("A 16 year old girl works at the restaurant 14 hours a day")
    assert result.minors
    assert result.urgency in ("high", "critical")
