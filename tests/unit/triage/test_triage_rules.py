"""Rule files are data, validated at load; errors name the file, the rule and the field."""

import re
from pathlib import Path

import pytest

import triage
from triage.engine import build_engine
from triage.rules import RuleError, load_rules

GOOD = """
[[rule]]
id = "DOC"
label = "documents taken"
family = "means"
weight = 4
[rule.phrases]
en = ["took (my|her) passport", "has her papers"]

[[rule]]
id = "LAB"
label = "work"
family = "purpose"
weight = 1
category = "labor_trafficking"
[rule.phrases]
en = ["farm"]

[[override]]
id = "O9"
label = "documents on a farm"
when = [["DOC", "LAB"]]
"""


def write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_a_rule_directory_loads_and_assesses_through_the_same_loader(tmp_path: Path) -> None:
    engine = build_engine(write(tmp_path, GOOD))
    result = engine.assess("they took her passport at the farm")
    assert result.overrides == ("O9",)
    assert [i.rule_id for i in result.indicators] == ["DOC", "LAB"]


@pytest.mark.parametrize(
    ("broken", "rule_id", "field"),
    [
        ("weight = 4", "DOC", 'weight = "heavy"'),
        ('family = "means"', "DOC", 'family = "feelings"'),
        ('category = "labor_trafficking"', "LAB", 'category = "fishing"'),
    ],
)
def test_a_bad_field_names_the_file_the_rule_and_the_field(
    tmp_path: Path, broken: str, rule_id: str, field: str
) -> None:
    text = GOOD.replace(broken, field, 1)
    with pytest.raises(RuleError) as raised:
        load_rules(write(tmp_path, text, "broken.toml"))
    message = str(raised.value)
    assert "broken.toml" in message
    assert f"rule {rule_id}" in message
    assert f"field {field.split(' ')[0]}" in message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"bad\.toml: not valid TOML"):
        load_rules(write(tmp_path, "[[rule]\nid = ", "bad.toml"))


def test_an_unknown_placeholder_names_the_rule_and_the_phrase_field(tmp_path: Path) -> None:
    text = GOOD.replace('en = ["farm"]', 'en = ["{age} on a farm"]')
    with pytest.raises(RuleError, match=r"rules\.toml: rule LAB: field phrases\.en: unknown"):
        load_rules(write(tmp_path, text))


def test_an_override_with_an_unknown_tag_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('when = [["DOC", "LAB"]]', 'when = [["DOC", "ghost"]]')
    with pytest.raises(RuleError, match=r"rule O9: field when: unknown tag or rule 'ghost'"):
        load_rules(write(tmp_path, text))


def test_the_same_phrase_in_two_rules_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace('en = ["farm"]', 'en = ["has her papers"]')
    with pytest.raises(RuleError, match=r"rule LAB: field phrases\.en: .* already a phrase of"):
        build_engine(write(tmp_path, text))


def test_a_duplicate_rule_id_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD.split('[[rule]]\nid = "LAB"')[0], "b.toml")
    with pytest.raises(RuleError, match=r"rule DOC: field id: duplicate"):
        load_rules(tmp_path)


def test_the_rules_version_is_a_short_hash_that_follows_the_content(tmp_path: Path) -> None:
    first = load_rules(write(tmp_path, GOOD)).version
    second = load_rules(write(tmp_path, GOOD.replace("weight = 4", "weight = 3"))).version
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    assert first != second
    assert triage.rules_version() == triage.assess("hello").rules_version


def test_the_shipped_rules_cover_the_taxonomy() -> None:
    rules = load_rules()
    ids = {rule.id for rule in rules.rules}
    expected = {"CONF", "MOV", "DOC", "DEBT", "WAGE", "THR", "VIO", "WPN", "ISO", "DEC", "COND"}
    expected |= {"HRS", "SEX", "CTRL", "MIN", "REC", "ORG", "SELF", "NOW", "LOC", "ROOM"}
    assert expected <= ids
    assert {o.id for o in rules.overrides} == {"O1", "O2", "O3", "O4"}
