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
    chosen = [rules.rules[i] for i in fired]
    present = [rules.rules[i] for i in fired if i not in past]
    settings = rules.thresholds
    notes: list[str] = []

    score = sum(rule.weight for rule in chosen)
    means = [r for r in chosen if r.family == "means"]
    purposes = [r for r in chosen if r.family == "purpose" or "purpose" in r.tags]
    if means and purposes:
        score += settings.amp_bonus
        notes.append(f"means and purpose both present (+{settings.amp_bonus:g})")

    tags: set[str] = set(derived)
    for rule in present:
        tags |= rule.tags
    if any(e.kind in _PLACE_ENTITIES for e in entities):
        tags.add("place")
    minors = "minor" in tags
    joke = "joke" in tags
    noise = any(r.family == "noise" for r in chosen)
    question = any(r.family == "question" for r in chosen) or "question" in tags
    exploitation = any(r.family in _EXPLOITATION for r in present) or "youth" in tags

    overrides = tuple(
        o.id for o in rules.overrides if any(all(g & tags for g in alt) for alt in o.when)
    )
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
        if not any(r.family in _SUBSTANCE for r in chosen) and "youth" not in tags:
            level = _cap(level, "low", "no exploitation indicator", notes)
        if words < 3:
            level = _cap(level, "low", "fewer than three words", notes)

    category = _category(chosen)
    if level == "low" and not overrides and (noise or question or not (means or purposes)):
        category = "other"
    return Verdict(level, round(score, 2), category, minors, overrides, tuple(notes))


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
