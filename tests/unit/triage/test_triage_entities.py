"""Entities come out normalised, so the same thing written two ways links two tips."""

import triage
from triage import Entity


def entities(text: str, kind: str, region: str = "US") -> list[Entity]:
    return [e for e in triage.assess(text, default_region=region).entities if e.kind == kind]


def test_a_phone_written_two_ways_gives_one_e164_value() -> None:
    first = entities("call (555) 123-4567", "phone")
    second = entities("his number is +1 555 123 4567", "phone")
    assert [e.value for e in first] == ["+15551234567"]
    assert [e.value for e in second] == ["+15551234567"]


def test_a_phone_span_points_at_the_number_in_the_original() -> None:
    text = "Número: 55 1234 5678, gracias"
    (phone,) = entities(text, "phone", region="MX")
    assert phone.value == "+525512345678"
    assert text[phone.span[0] : phone.span[1]] == "55 1234 5678"


def test_emails_and_urls_are_normalised() -> None:
    text = "write to Maria.Lopez@Example.COM or see HTTPS://WWW.Example.com/Ads/123/."
    assert [e.value for e in entities(text, "email")] == ["maria.lopez@example.com"]
    assert [e.value for e in entities(text, "url")] == ["example.com/Ads/123"]


def test_a_plate_is_read_after_the_word_plate() -> None:
    assert [e.value for e in entities("white van, plate GHT-4432, left", "plate")] == ["GHT4432"]
    assert [e.value for e in entities("placas ABC 123 de Jalisco", "plate")] == ["ABC123"]


def test_rooms_addresses_and_times_are_found() -> None:
    text = "She is in room 214 at 1234 W Main St tonight, el cuarto 12 de la calle Morelos 45"
    result = triage.assess(text)
    found = {(e.kind, e.value) for e in result.entities}
    assert ("room", "214") in found
    assert ("room", "12") in found
    assert ("address", "1234 w main st") in found
    assert ("address", "calle morelos 45") in found
    assert ("time", "tonight") in found


def test_ages_are_entities_with_their_number() -> None:
    found = {(e.kind, e.value) for e in triage.assess("a fifteen year old and a 19yo").entities}
    assert ("age", "15") in found
    assert ("age", "19") in found


def test_indicator_spans_map_back_to_the_original_text() -> None:
    text = "¡¡AYÚDENME!! Me tienen ENCERRADA en el cuarto 5"
    result = triage.assess(text)
    spans = {i.rule_id: i.spans for i in result.indicators}
    start, end = spans["CONF"][0]
    assert text[start:end] == "Me tienen ENCERRADA"
    start, end = spans["HELP"][0]
    assert text[start:end] == "AYÚDENME"
