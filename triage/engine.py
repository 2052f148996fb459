"""The compiled rule set and `assess`: normalise, match once, sort out context, score."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from triage.assessment import Assessment, Indicator, Skipped
from triage.entities import extract
from triage.language import FUNCTION_WORDS, detect_language
from triage.matcher import Hit, Matcher, compile_matcher
from triage.negation import resolve
from triage.normalise import Normaliser, Text, fold
from triage.rules import RuleSet, load_rules
from triage.scoring import decide

MAX_CHARS = 200_000
_NON_INDICATOR = frozenset({"negation", "past", "sense", "counter"})
_NEEDS_ENTITY = frozenset({"address", "plate"})  # trigger words count only with a value found
_FIRST_PERSON = frozenset(
    {
        *("i", "im", "ive", "me", "my", "mine", "we", "us", "our", "ours"),
        *("mi", "mis", "yo", "nos", "nuestro", "nuestra", "nuestros", "nuestras"),
        *("estoy", "estamos", "tengo", "tenemos", "soy", "somos", "conmigo"),
    }
)
_SELF_FAMILIES = frozenset({"means", "purpose", "minor"})
_DIGITS = re.compile(r"\d{1,3}")
_SHORT_QUESTION = 25  # words: a short text with a "?" and no means is a question


@dataclass(slots=True)
class Engine:
    """Rules compiled once: the normaliser tuned to their vocabulary and one automaton."""

    rules: RuleSet
    normaliser: Normaliser
    matcher: Matcher
    # What assess asks of each rule, by rule index, worked out once.
    _entity: list[str | None] = field(init=False, repr=False)
    _indicator: list[bool] = field(init=False, repr=False)  # scores and is listed
    _needs_entity: list[bool] = field(init=False, repr=False)
    _self: list[bool] = field(init=False, repr=False)  # a first-person phrase: the victim
    _rank: list[tuple[float, str]] = field(init=False, repr=False)  # order of indicators

    def __post_init__(self) -> None:
        rules = self.rules.rules
        self._entity = [rule.entity for rule in rules]
        self._indicator = [rule.family not in _NON_INDICATOR for rule in rules]
        self._needs_entity = [rule.entity in _NEEDS_ENTITY for rule in rules]
        self._self = [rule.family in _SELF_FAMILIES for rule in rules]
        self._rank = [(-rule.weight, rule.id) for rule in rules]

    def assess(
        self, text: str, lang: str | None = None, *, default_region: str = "US"
    ) -> Assessment:
        """Assess one tip. Pure: reads nothing, writes nothing, and keeps nothing of the text
        once it returns."""
        notes: list[str] = []
        if len(text) > MAX_CHARS:
            notes.append(f"only the first {MAX_CHARS} characters were read")
            text = text[:MAX_CHARS]
        prepared = self.normaliser.prepare(text)
        rules = self.rules.rules
        context = resolve(prepared, self.matcher, self.rules)
        fired, past = context.fired, context.past
        entity_of = self._entity
        entity_hits = [
            (index, kind, hit)
            for index, rule_hits in fired.items()
            if (kind := entity_of[index]) is not None
            for hit in rule_hits
        ]
        entities, produced = extract(prepared, entity_hits, self.number_of, default_region)
        indicator, needs_entity = self._indicator, self._needs_entity
        indicator_rules = [
            i for i in fired if indicator[i] and (not needs_entity[i] or i in produced)
        ]
        pieces = prepared.pieces
        words = len(pieces) - pieces.count("")
        derived = {"self"} if self._first_person(prepared, fired, past) else set()
        if "?" in text and words <= _SHORT_QUESTION:
            derived.add("question")
        verdict = decide(self.rules, indicator_rules, past, entities, words, derived)
        indicators = []
        spans_of = prepared.spans_of
        for index in sorted(indicator_rules, key=self._rank.__getitem__):
            rule = rules[index]
            label = rule.label + " (past)" if index in past else rule.label
            spans = spans_of(fired[index])
            indicators.append(Indicator(rule.id, label, rule.weight, rule.family, spans))
        skipped: dict[tuple[int, str], list[Hit]] = {}
        for index, reason, hit in context.skipped:
            skipped.setdefault((index, reason), []).append(hit)
        return Assessment(
            urgency=verdict.urgency,
            score=verdict.score,
            category=verdict.category,
            minors=verdict.minors,
            indicators=tuple(indicators),
            lang=lang or detect_language(prepared),
            entities=tuple(entities),
            rules_version=self.rules.version,
            overrides=verdict.overrides,
            skipped=tuple(
                Skipped(rules[i].id, rules[i].label, reason, spans_of(hits))
                for (i, reason), hits in skipped.items()
            ),
            notes=(*notes, *verdict.notes),
        )

    def _first_person(self, text: Text, fired: dict[int, list[Hit]], past: set[int]) -> bool:
        """A means, purpose or minor phrase in the first person: the reporter is the victim."""
        canonical = text.canonical
        is_self = self._self
        for index, hits in fired.items():
            if not is_self[index] or index in past:
                continue
            for _rule, _lang, start, end, _span in hits:
                before = canonical[max(0, start - 24) : start].split()[-2:]
                if _FIRST_PERSON.intersection(before) or _FIRST_PERSON.intersection(
                    canonical[start:end].split()
                ):
                    return True
        return False

    def number_of(self, word: str) -> int | None:
        """The value of a number written in digits ("15") or in words ("fifteen", "quince")."""
        digits = _DIGITS.match(word)
        if digits is not None:
            return int(digits.group())
        return self.rules.numbers.get(fold(word))


def build_engine(directory: Path | Traversable | None = None) -> Engine:
    """Load, validate and compile a rule directory (the shipped rules by default)."""
    rules = load_rules(directory)
    extra = (*rules.quantities, *FUNCTION_WORDS, *_FIRST_PERSON)  # worth knowing too
    normaliser = Normaliser(rules.spelling, rules.numbers, extra)
    matcher = compile_matcher(rules, normaliser)
    return Engine(rules, normaliser, matcher)


_lock = threading.Lock()
_shipped: list[Engine] = []


def shipped_engine() -> Engine:
    """The engine for the shipped rules, built once on first use."""
    if not _shipped:
        with _lock:
            if not _shipped:
                _shipped.append(build_engine())
    return _shipped[0]
