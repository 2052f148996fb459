"""Context around a hit: negated ("not locked in"), past ("when I was 16"), cancelled
("she has her passport"), or another sense of the words ("drug trafficking")."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from triage.matcher import Hit
from triage.normalise import BOUNDARIES, Text
from triage.rules import RuleSet

_PAST_AFTER_WINDOW = 4
_MAX_TOKEN_CHARS = 40  # a gap longer than this per token cannot be within the window


@dataclass(slots=True)
class Context:
    """Hits sorted out: what fired (and whether only in the past), and what was set aside."""

    fired: dict[int, list[Hit]] = field(default_factory=dict)
    past: set[int] = field(default_factory=set)
    skipped: list[tuple[int, str, Hit]] = field(default_factory=list)


def resolve(text: Text, hits: list[Hit], rules: RuleSet) -> Context:
    """Apply negation, other senses, counters and past cues to the raw hits."""
    families = [rule.family for rule in rules.rules]
    window = rules.thresholds.negation_window
    negations = [
        h
        for h in hits
        if families[h.rule] == "negation" and "inert" not in rules.rules[h.rule].tags
    ]
    pasts = [h for h in hits if families[h.rule] == "past"]
    ends = [cue.end for cue in negations]  # hits come sorted by position
    context = Context()
    kept: list[Hit] = []
    for hit in hits:
        family = families[hit.rule]
        if family in ("negation", "past"):
            continue
        if family == "sense":
            context.skipped.append((hit.rule, "other sense", hit))
        elif negations and _negated(text, hit, negations, ends, window):
            context.skipped.append((hit.rule, "negated", hit))
        else:
            kept.append(hit)
    kept = _apply_counters(text, kept, rules, context)
    past_hits: dict[int, int] = {}
    for hit in kept:
        context.fired.setdefault(hit.rule, []).append(hit)
        if pasts and _in_past(text, hit, pasts, rules.thresholds.past_window):
            past_hits[hit.rule] = past_hits.get(hit.rule, 0) + 1
    context.past = {rule for rule, count in past_hits.items() if count == len(context.fired[rule])}
    return context


def _negated(text: Text, hit: Hit, cues: list[Hit], ends: list[int], window: int) -> bool:
    """The nearest cue ending before the hit, within the window and the same clause."""
    index = bisect_right(ends, hit.start) - 1
    if index < 0 or hit.start - ends[index] > _MAX_TOKEN_CHARS * (window + 1):
        return False
    between = text.tokens_between(cues[index].end, hit.start)
    return len(between) <= window and not BOUNDARIES.intersection(between)


def _in_past(text: Text, hit: Hit, cues: list[Hit], window: int) -> bool:
    for cue in cues:
        if cue.end <= hit.start:
            between = text.tokens_between(cue.end, hit.start)
            if len(between) <= window and "." not in between:
                return True
        elif cue.start >= hit.end:
            between = text.tokens_between(hit.end, cue.start)
            if len(between) <= _PAST_AFTER_WINDOW and "." not in between:
                return True
    return False


def _apply_counters(text: Text, hits: list[Hit], rules: RuleSet, context: Context) -> list[Hit]:
    counters = [h for h in hits if rules.rules[h.rule].family == "counter"]
    if not counters:
        return hits
    kept: list[Hit] = []
    for hit in hits:
        rule = rules.rules[hit.rule]
        if rule.family == "counter":
            continue
        by = next(
            (
                rules.rules[c.rule].id
                for c in counters
                if rule.id in rules.rules[c.rule].cancels and _same_sentence(text, hit, c)
            ),
            None,
        )
        if by is not None:
            context.skipped.append((hit.rule, f"cancelled by {by}", hit))
        else:
            kept.append(hit)
    return kept


def _same_sentence(text: Text, a: Hit, b: Hit) -> bool:
    first, second = (a, b) if a.start <= b.start else (b, a)
    return "." not in text.tokens_between(first.end, second.start)
