"""From fired rules to urgency and category: weights, action-means-purpose, floors, caps,
noise, then the overrides that outrank them all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from triage.assessment import Entity
from triage.rules import Rule, RuleSet

_LEVELS = ("low", "medium", "high", "critical")
_PLACE_ENTITIES = frozenset({"address", "room", "plate"})
# When two categories tie, the rarer and graver one wins.
_CATEGORY_ORDER = (
    "organ_trafficking",
    "sex_trafficking",
    "domestic_servitude",
    "labor_trafficking",
)
_EXPLOITATION = frozenset({"means", "purpose"})
_SUBSTANCE = frozenset({"means", "purpose", "victim"})


@dataclass(frozen=True, slots=True)
class Verdict:
    urgency: str
    score: float
    category: str
    minors: bool
    overrides: tuple[str, ...]
    notes: tuple[str, ...]


def decide(
    rules: RuleSet,
    fired: Iterable[int],
    past: set[int],
    entities: Iterable[Entity],
    words: int,
    derived: Iterable[str] = (),
) -> Verdict:
    """Urgency, score, category and minors for the rules that fired (indices into rules)."""
    fired = sorted(fired)
    by_index = rules.rules
    chosen = [by_index[i] for i in fired]
    present = [by_index[i] for i in fired if i not in past] if past else chosen
    settings = rules.thresholds
    notes: list[str] = []

    score, means, purposes, noise, question, substance = _tally(chosen)
    if means and purposes:
        score += settings.amp_bonus
        notes.append(f"means and purpose both present (+{settings.amp_bonus:g})")

    tags: set[str] = set(derived)
    exploitation = False
    for rule in present:
        tags |= rule.tags
        exploitation = exploitation or rule.family in _EXPLOITATION
    if any(entity.kind in _PLACE_ENTITIES for entity in entities):
        tags.add("place")
    minors = "minor" in tags
    joke = "joke" in tags
    question = question or "question" in tags
    exploitation = exploitation or "youth" in tags

    overrides = tuple(o.id for o in rules.overrides if _holds(o.when, tags))
    if overrides and joke:
        notes.append(f"overrides {', '.join(overrides)} ignored: the tip reads as a joke")
        overrides = ()

    if overrides:
        level = "critical"
    else:
        level = _by_score(score, settings.high, settings.medium)
        level = _limits(level, len(means), bool(purposes), minors, exploitation, notes)
        if joke:
            level = _cap(level, "medium" if means else "low", "a joke", notes)
        if question and not means:
            level = _cap(level, "low", "a question, not a report", notes)
        if noise and not (means or purposes or minors):
            level = _cap(level, "low", "noise", notes)
        if not substance and "youth" not in tags:
            level = _cap(level, "low", "no exploitation indicator", notes)
        if words < 3:
            level = _cap(level, "low", "fewer than three words", notes)

    category = _category(chosen)
    if level == "low" and not overrides and (noise or question or not (means or purposes)):
        category = "other"
    return Verdict(level, round(score, 2), category, minors, overrides, tuple(notes))


def _tally(chosen: list[Rule]) -> tuple[float, list[Rule], list[Rule], bool, bool, bool]:
    """Score, means, purposes, and whether noise, a question or any substance fired."""
    score: float = 0  # an int when nothing fired, as sum() gave
    means: list[Rule] = []
    purposes: list[Rule] = []
    noise = question = substance = False
    for rule in chosen:
        score += rule.weight
        family = rule.family
        if family == "means":
            means.append(rule)
        if family == "purpose" or "purpose" in rule.tags:
            purposes.append(rule)
        noise = noise or family == "noise"
        question = question or family == "question"
        substance = substance or family in _SUBSTANCE
    return score, means, purposes, noise, question, substance


def _holds(when: tuple[tuple[frozenset[str], ...], ...], tags: set[str]) -> bool:
    """Any alternative whose every group shares a tag with the tags that fired."""
    for alternative in when:
        for group in alternative:
            if tags.isdisjoint(group):
                break
        else:
            return True
    return False


def _by_score(score: float, high: float, medium: float) -> str:
    if score >= high:
        return "high"
    return "medium" if score >= medium else "low"


def _limits(
    level: str,
    means: int,
    purpose: bool,
    minors: bool,
    exploitation: bool,
    notes: list[str],
) -> str:
    if minors and exploitation and _LEVELS.index(level) < _LEVELS.index("high"):
        notes.append("raised to high: a minor with an exploitation indicator")
        return "high"
    if minors:
        return level
    if not means:
        return _cap(level, "medium", "no force, fraud or coercion", notes)
    if means == 1 and not purpose:
        return _cap(level, "medium", "one means and no purpose", notes)
    return level


def _cap(level: str, ceiling: str, reason: str, notes: list[str]) -> str:
    if _LEVELS.index(level) > _LEVELS.index(ceiling):
        notes.append(f"capped at {ceiling}: {reason}")
        return ceiling
    return level


def _category(chosen: Iterable[Rule]) -> str:
    votes: dict[str, float] = {}
    neutral_purpose = False
    for rule in chosen:
        if rule.category:
            votes[rule.category] = votes.get(rule.category, 0.0) + max(rule.weight, 0.5)
        elif rule.family == "purpose":
            neutral_purpose = True
    if not votes:
        return "labor_trafficking" if neutral_purpose else "other"
    best = max(votes.values())
    return next(c for c in _CATEGORY_ORDER if votes.get(c) == best)
