"""Rule files: TOML loaded from a directory (package data by default) and validated."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from triage.assessment import CATEGORIES, ENTITY_KINDS

FAMILIES = frozenset(
    {
        "means",  # force, fraud or coercion (Palermo "means", Polaris AMP)
        "purpose",  # exploitation: commercial sex, labour, servitude, organ removal
        "minor",  # a person under 18, or signs of one
        "victim",  # the victim reports, is present, or asks for help
        "context",  # time, place, specifics: modifiers for the overrides
        "question",  # a request for information, not a report
        "noise",  # spam, tests, insults, jokes, complaints
        "negation",  # cue: cancels an indicator that follows within a short window
        "past",  # cue: what follows (or precedes) no longer holds
        "sense",  # another sense of the words (drug trafficking, a traffic jam)
        "counter",  # the opposite of an indicator ("can leave", "has her passport")
    }
)
CUE_FAMILIES = frozenset({"negation", "past", "sense"})
PLACEHOLDERS = frozenset({"{minor}", "{adult}", "{num}", "{time}"})
_RULE_ID = re.compile(r"[A-Z][A-Z0-9_]{0,15}")
_OVERRIDE_ID = re.compile(r"O[0-9]{1,3}")
_LANG = re.compile(r"[a-z]{2,3}")
_RULE_KEYS = frozenset(
    {"id", "label", "family", "weight", "tags", "category", "entity", "cancels", "source"}
    | {"phrases"}
)
_OVERRIDE_KEYS = frozenset({"id", "label", "when", "source"})
_THRESHOLD_KEYS = frozenset({"high", "medium", "amp_bonus", "negation_window", "past_window"})
_TOP_KEYS = frozenset({"rule", "override", "thresholds", "spelling", "numbers", "quantities"})
_DERIVED_TAGS = frozenset({"place", "self"})  # tags the engine derives itself


class RuleError(Exception):
    """A rule file is invalid; the message names the file, the rule id and the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    label: str
    family: str
    weight: float
    tags: frozenset[str]
    category: str | None
    entity: str | None
    cancels: tuple[str, ...]
    phrases: Mapping[str, tuple[str, ...]]
    file: str


@dataclass(frozen=True, slots=True)
class Override:
    id: str
    label: str
    when: tuple[tuple[frozenset[str], ...], ...]  # any alternative; all groups; any tag
    file: str


@dataclass(frozen=True, slots=True)
class Thresholds:
    high: float = 8.0
    medium: float = 3.0
    amp_bonus: float = 2.0
    negation_window: int = 3
    past_window: int = 8


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    overrides: tuple[Override, ...]
    thresholds: Thresholds
    spelling: Mapping[str, str]  # variant -> canonical
    numbers: Mapping[str, int]  # number word -> value
    quantities: frozenset[str]  # words after a number that make it a count, not an age
    version: str
    by_id: Mapping[str, Rule] = field(default_factory=dict)


def package_rules() -> Traversable:
    """Where the shipped rule files live (works from a wheel too)."""
    return resources.files("triage") / "rules"


def load_rules(directory: Path | Traversable | None = None) -> RuleSet:
    """Load and validate every `*.toml` in `directory` (the shipped rules by default)."""
    root = package_rules() if directory is None else directory
    files = sorted((f for f in root.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    if not files:
        raise RuleError(f"{root}: no rule files (*.toml) found")
    digest = hashlib.sha256()
    builder = _Builder()
    for file in files:
        raw = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + raw + b"\0")
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RuleError(f"{file.name}: not valid TOML: {exc}") from exc
        builder.add_file(file.name, data)
    return builder.build(digest.hexdigest()[:12])


class _Builder:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.overrides: list[Override] = []
        self.thresholds: dict[str, Any] = {}
        self.spelling: dict[str, str] = {}
        self.numbers: dict[str, int] = {}
        self.quantities: set[str] = set()

    def add_file(self, name: str, data: dict[str, Any]) -> None:
        for key in data:
            if key not in _TOP_KEYS:
                raise RuleError(f"{name}: field {key!r}: unknown top-level table")
        for index, raw in enumerate(_array(name, data, "rule")):
            self.rules.append(_rule(name, index, raw))
        for index, raw in enumerate(_array(name, data, "override")):
            self.overrides.append(_override(name, index, raw))
        self._add_tables(name, data)

    def _add_tables(self, name: str, data: dict[str, Any]) -> None:
        thresholds = _table(name, data, "thresholds")
        for key, value in thresholds.items():
            if key not in _THRESHOLD_KEYS:
                raise RuleError(f"{name}: field thresholds.{key}: unknown setting")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise RuleError(f"{name}: field thresholds.{key}: must be a number >= 0")
            self.thresholds[key] = value
        for canonical, variants in _table(name, data, "spelling").items():
            words = _strings(name, f"spelling.{canonical}", variants)
            for word in words:
                if " " in word.strip() or not word.strip():
                    raise RuleError(f"{name}: field spelling.{canonical}: {word!r} is not a word")
                self.spelling[word.strip().casefold()] = canonical.strip().casefold()
        for word, value in _table(name, data, "numbers").items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RuleError(f"{name}: field numbers.{word}: must be a whole number >= 0")
            self.numbers[word.casefold()] = value
        quantities = _table(name, data, "quantities")
        for key, words in quantities.items():
            self.quantities.update(w.casefold() for w in _strings(name, f"quantities.{key}", words))

    def build(self, version: str) -> RuleSet:
        by_id: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in by_id:
                raise RuleError(
                    f"{rule.file}: rule {rule.id}: field id: duplicate (also in "
                    f"{by_id[rule.id].file})"
                )
            by_id[rule.id] = rule
        tags = set(_DERIVED_TAGS) | set(by_id)
        for rule in self.rules:
            tags |= rule.tags
        for rule in self.rules:
            for target in rule.cancels:
                if target not in by_id:
                    raise RuleError(
                        f"{rule.file}: rule {rule.id}: field cancels: unknown rule {target!r}"
                    )
        seen: set[str] = set()
        for override in self.overrides:
            if override.id in seen:
                raise RuleError(f"{override.file}: rule {override.id}: field id: duplicate")
            seen.add(override.id)
            for alternative in override.when:
                for group in alternative:
                    for tag in sorted(group - tags):
                        raise RuleError(
                            f"{override.file}: rule {override.id}: field when: "
                            f"unknown tag or rule {tag!r}"
                        )
        return RuleSet(
            rules=tuple(self.rules),
            overrides=tuple(self.overrides),
            thresholds=Thresholds(**self.thresholds),
            spelling=dict(self.spelling),
            numbers=dict(self.numbers),
            quantities=frozenset(self.quantities),
            version=version,
            by_id=by_id,
        )


def _array(name: str, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RuleError(f"{name}: field {key}: must be an array of tables ([[{key}]])")
    return value


def _table(name: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise RuleError(f"{name}: field {key}: must be a table ([{key}])")
    return value


def _strings(where: str, field_name: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleError(f"{where}: field {field_name}: must be a list of strings")
    return value


def _rule(name: str, index: int, raw: dict[str, Any]) -> Rule:
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        raise RuleError(f"{name}: rule #{index + 1}: field id: must match {_RULE_ID.pattern}")
    where = f"{name}: rule {rule_id}"
    for key in raw:
        if key not in _RULE_KEYS:
            raise RuleError(f"{where}: field {key}: unknown field")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise RuleError(f"{where}: field label: must be a non-empty string")
    family = raw.get("family")
    if family not in FAMILIES:
        raise RuleError(f"{where}: field family: must be one of {', '.join(sorted(FAMILIES))}")
    weight = raw.get("weight", 0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or abs(weight) > 20:
        raise RuleError(f"{where}: field weight: must be a number between -20 and 20")
    category = raw.get("category")
    if category is not None and (category not in CATEGORIES or category == "other"):
        raise RuleError(f"{where}: field category: must be one of {', '.join(CATEGORIES[:-1])}")
    entity = raw.get("entity")
    if entity is not None and entity not in ENTITY_KINDS:
        raise RuleError(f"{where}: field entity: must be one of {', '.join(ENTITY_KINDS)}")
    cancels = _strings(f"{where}", "cancels", raw.get("cancels", []))
    if cancels and family != "counter":
        raise RuleError(f"{where}: field cancels: only a counter rule cancels others")
    if family == "counter" and not cancels:
        raise RuleError(f"{where}: field cancels: a counter rule must name what it cancels")
    tags = _strings(where, "tags", raw.get("tags", []))
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise RuleError(f"{where}: field source: must be a string")
    return Rule(
        id=rule_id,
        label=label.strip(),
        family=family,
        weight=float(weight),
        tags=frozenset(tags) | {rule_id},
        category=category,
        entity=entity,
        cancels=tuple(cancels),
        phrases=_phrases(where, raw.get("phrases")),
        file=name,
    )


def _phrases(where: str, value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        raise RuleError(f"{where}: field phrases: must be a table of language = [phrases]")
    phrases: dict[str, tuple[str, ...]] = {}
    for lang, items in value.items():
        if not _LANG.fullmatch(lang):
            raise RuleError(f"{where}: field phrases.{lang}: not a language code")
        words = _strings(where, f"phrases.{lang}", items)
        for phrase in words:
            if not phrase.strip():
                raise RuleError(f"{where}: field phrases.{lang}: empty phrase")
            for token in re.findall(r"\{[^}]*\}", phrase):
                if token not in PLACEHOLDERS:
                    raise RuleError(
                        f"{where}: field phrases.{lang}: unknown placeholder "
                        f"{token} (known: {', '.join(sorted(PLACEHOLDERS))})"
                    )
        phrases[lang] = tuple(words)
    return phrases


def _override(name: str, index: int, raw: dict[str, Any]) -> Override:
    override_id = raw.get("id")
    if not isinstance(override_id, str) or not _OVERRIDE_ID.fullmatch(override_id):
        raise RuleError(f"{name}: rule #{index + 1}: field id: an override id is O1, O2…")
    where = f"{name}: rule {override_id}"
    for key in raw:
        if key not in _OVERRIDE_KEYS:
            raise RuleError(f"{where}: field {key}: unknown field")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise RuleError(f"{where}: field label: must be a non-empty string")
    when = raw.get("when")
    if not isinstance(when, list) or not when:
        raise RuleError(f'{where}: field when: must be a list of ["tag|tag", …] alternatives')
    alternatives: list[tuple[frozenset[str], ...]] = []
    for alternative in when:
        groups = _strings(where, "when", alternative)
        if not groups:
            raise RuleError(f"{where}: field when: an alternative is empty")
        alternatives.append(tuple(_group(where, group) for group in groups))
    return Override(override_id, label.strip(), tuple(alternatives), name)


def _group(where: str, text: str) -> frozenset[str]:
    tags = frozenset(part.strip() for part in text.split("|"))
    if not tags or "" in tags:
        raise RuleError(f"{where}: field when: empty tag in {text!r}")
    return tags


def iter_phrases(rule: Rule) -> Iterable[tuple[str, str]]:
    """Every (language, phrase) of a rule."""
    for lang, phrases in rule.phrases.items():
        for phrase in phrases:
            yield lang, phrase
