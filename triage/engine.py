"""The compiled rule set and `assess`: normalise, match once, sort out context, score."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from triage.assessment import Assessment, Indicator, Skipped
from triage.entities import extract
from triage.language import detect_language
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
_SHORT_QUESTION = 25  # words: a short text with a "?" and no means is a question


@dataclass(slots=True)
class Engine:
    """Rules compiled once: the normaliser tuned to their vocabulary and one automaton."""

    rules: RuleSet
    normaliser: Normaliser
    matcher: Matcher

    def assess(
        self, text: str, lang: str | None = None, *, default_region: str = "US"
    ) -> Assessment:
        """Assess one tip. Pure: reads nothing, writes nothing, keeps nothing of the text but
        single words in a bounded cache."""
        notes: list[str] = []
        if len(text) > MAX_CHARS:
            notes.append(f"only the first {MAX_CHARS} characters were read")
            text = text[:MAX_CHARS]
        prepared = self.normaliser.prepare(text)
        rules = self.rules.rules
        hits = self.matcher.find(prepared, self.rules.quantities)
        context = resolve(prepared, hits, self.rules)
        entity_hits = [
            (index, kind, hit)
            for index, rule_hits in context.fired.items()
            if (kind := rules[index].entity) is not None
            for hit in rule_hits
        ]
        entities, produced = extract(prepared, entity_hits, self.number_of, default_region)
        indicator_rules = [
            i
            for i in context.fired
            if rules[i].family not in _NON_INDICATOR
            and (rules[i].entity not in _NEEDS_ENTITY or i in produced)
        ]
        words = len(prepared.pieces) - prepared.pieces.count("")
        derived = {"self"} if self._first_person(prepared, context.fired, context.past) else set()
        if "?" in text and words <= _SHORT_QUESTION:
            derived.add("question")
        verdict = decide(self.rules, indicator_rules, context.past, entities, words, derived)
        indicators = []
        for index in sorted(indicator_rules, key=lambda i: (-rules[i].weight, rules[i].id)):
            rule = rules[index]
            spans = prepared.spans_of((h.start, h.end) for h in context.fired[index])
            label = rule.label + (" (past)" if index in context.past else "")
            indicators.append(Indicator(rule.id, label, rule.weight, rule.family, tuple(spans)))
        skipped: dict[tuple[int, str], set[tuple[int, int]]] = {}
        for index, reason, hit in context.skipped:
            skipped.setdefault((index, reason), set()).add(prepared.span_of(hit.start, hit.end))
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
                Skipped(rules[i].id, rules[i].label, reason, tuple(sorted(spans)))
                for (i, reason), spans in skipped.items()
            ),
            notes=(*notes, *verdict.notes),
        )

    def _first_person(self, text: Text, fired: dict[int, list[Hit]], past: set[int]) -> bool:
        """A means, purpose or minor phrase in the first person: the reporter is the victim."""
        rules = self.rules.rules
        for index, hits in fired.items():
            if index in past or rules[index].family not in _SELF_FAMILIES:
                continue
            for hit in hits:
                before = text.canonical[max(0, hit.start - 24) : hit.start].split()[-2:]
                tokens = text.canonical[hit.start : hit.end].split()
                if _FIRST_PERSON.intersection(before) or _FIRST_PERSON.intersection(tokens):
                    return True
        return False

    def number_of(self, word: str) -> int | None:
        """The value of a number written in digits ("15") or in words ("fifteen", "quince")."""
        digits = re.match(r"\d{1,3}", word)
        if digits is not None:
            return int(digits.group())
        return self.rules.numbers.get(fold(word))


def build_engine(directory: Path | Traversable | None = None) -> Engine:
    """Load, validate and compile a rule directory (the shipped rules by default)."""
    rules = load_rules(directory)
    normaliser = Normaliser(rules.spelling, rules.numbers)
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
