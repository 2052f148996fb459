"""Every phrase of every rule in one Aho-Corasick automaton, matched leftmost-longest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import ahocorasick

from triage.normalise import NUMBER_CLASSES, SEP, Normaliser
from triage.rules import Rule, RuleError, RuleSet, iter_phrases

# What a key's rule does with a hit, decided once at load so a hit costs a tuple unpacking.
PLAIN, NEGATION, INERT, PAST, SENSE, COUNTER = range(6)
_ROLES = {"negation": NEGATION, "past": PAST, "sense": SENSE, "counter": COUNTER}

# One key found in a text: (rule index, language, first canonical character of the first
# token, one past the last canonical character of the last token, and the (start, end) of the
# words in the original). A plain tuple: a tip has dozens of hits, and a named tuple costs a
# Python-level call for each.
Hit = tuple[int, str, int, int, tuple[int, int]]


class Key(NamedTuple):
    """What one automaton key stands for."""

    rule: int  # index into RuleSet.rules
    lang: str
    span: int  # from the key's last character (its trailing space) back to its first token
    ends_in_number: bool  # an age: dropped when a quantity word follows ("15 minutes")
    role: int  # PLAIN, NEGATION, INERT, PAST, SENSE or COUNTER


@dataclass(slots=True)
class Matcher:
    """One compiled automaton for the whole rule set."""

    automaton: Any
    size: int

    def scan(self, canonical: str) -> Iterator[tuple[int, Key]]:
        """(last character, key) for each leftmost-longest match, in order of position."""
        if not self.size:
            return iter(())
        return cast(Iterator[tuple[int, Key]], self.automaton.iter_long(canonical))


def role_of(rule: Rule) -> int:
    """How a rule's hits are read: an indicator, or a cue that changes how others are read."""
    role = _ROLES.get(rule.family, PLAIN)
    return INERT if role == NEGATION and "inert" in rule.tags else role


def compile_matcher(rules: RuleSet, normaliser: Normaliser) -> Matcher:
    """Build the automaton. A literal phrase claimed by two rules is an error naming both; a
    literal phrase beats a key that a pattern ("(a|b) c") also generates; between two
    patterns the earlier rule keeps the key."""
    keys: dict[str, tuple[Key, Rule, bool]] = {}
    for index, rule in enumerate(rules.rules):
        is_age = rule.entity == "age" or "minor" in rule.tags
        role = role_of(rule)
        for lang, phrase in iter_phrases(rule):
            expanded = normaliser.phrase_keys(phrase)
            if not expanded:
                raise RuleError(
                    f"{rule.file}: rule {rule.id}: field phrases.{lang}: {phrase!r} has no words"
                )
            literal = "(" not in phrase
            for key in expanded:
                number = is_age and key.split()[-1] in NUMBER_CLASSES
                info = Key(index, lang, len(key) - 2, number, role)
                previous = keys.get(key)
                if previous is None or (literal and not previous[2]):
                    keys[key] = (info, rule, literal)  # a literal phrase beats a pattern
                elif literal and previous[2] and previous[1].id != rule.id:
                    raise RuleError(
                        f"{rule.file}: rule {rule.id}: field phrases.{lang}: {phrase!r} is "
                        f"already a phrase of rule {previous[1].id} ({previous[1].file})"
                    )
    normaliser.set_vocabulary(token for key in keys for token in key.split())
    automaton = ahocorasick.Automaton()
    for key, (info, _rule, _literal) in keys.items():
        automaton.add_word(key, info)
    if keys:
        automaton.make_automaton()
    return Matcher(automaton, len(keys))


__all__ = ["SEP", "Hit", "Key", "Matcher", "compile_matcher", "role_of"]
