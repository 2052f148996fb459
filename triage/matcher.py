"""Every phrase of every rule in one Aho-Corasick automaton, matched leftmost-longest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import ahocorasick

from triage.normalise import NUMBER_CLASSES, SEP, Normaliser, Text
from triage.rules import Rule, RuleError, RuleSet, iter_phrases


class Key(NamedTuple):
    """What one automaton key stands for."""

    rule: int  # index into RuleSet.rules
    lang: str
    length: int  # characters, including the space on each side
    ends_in_number: bool  # an age: dropped when a quantity word follows ("15 minutes")


class Hit(NamedTuple):
    """One key found in a text, as canonical character positions."""

    rule: int
    lang: str
    start: int  # first canonical character of the first token
    end: int  # one past the last canonical character of the last token


@dataclass(slots=True)
class Matcher:
    """One compiled automaton for the whole rule set."""

    automaton: Any
    size: int

    def find(self, text: Text, quantities: frozenset[str]) -> list[Hit]:
        """Leftmost-longest hits; a number that counts something is not an age or a room."""
        if not self.size:
            return []
        hits: list[Hit] = []
        append = hits.append
        for last_char, key in self.automaton.iter_long(text.canonical):
            info = cast(Key, key)
            if info.ends_in_number and text.next_token(last_char) in quantities:
                continue
            append(Hit(info.rule, info.lang, last_char - info.length + 2, last_char))
        return hits


def compile_matcher(rules: RuleSet, normaliser: Normaliser) -> Matcher:
    """Build the automaton. A literal phrase claimed by two rules is an error naming both; a
    literal phrase beats a key that a pattern ("(a|b) c") also generates; between two
    patterns the earlier rule keeps the key."""
    keys: dict[str, tuple[Key, Rule, bool]] = {}
    for index, rule in enumerate(rules.rules):
        is_age = rule.entity == "age" or "minor" in rule.tags
        for lang, phrase in iter_phrases(rule):
            expanded = normaliser.phrase_keys(phrase)
            if not expanded:
                raise RuleError(
                    f"{rule.file}: rule {rule.id}: field phrases.{lang}: {phrase!r} has no words"
                )
            literal = "(" not in phrase
            for key in expanded:
                info = Key(index, lang, len(key), is_age and key.split()[-1] in NUMBER_CLASSES)
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


__all__ = ["SEP", "Hit", "Key", "Matcher", "compile_matcher"]
