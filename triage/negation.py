"""Context around a hit: negated ("not locked in"), past ("when I was 16"), cancelled
("she has her passport"), or another sense of the words ("drug trafficking").

One pass over the matches sorts them out. Matches come leftmost-longest and never overlap, so
the nearest negation cue before a hit is the last one seen; tokens and sentence marks between
two positions are counted in place in the canonical string, where every token is followed by
exactly two spaces and "." and "," are tokens of their own."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from triage.matcher import COUNTER, INERT, NEGATION, PAST, SENSE, Hit, Matcher
from triage.normalise import SEP, TRIM, Text
from triage.rules import RuleSet

_PAST_AFTER_WINDOW = 4
_MAX_TOKEN_CHARS = 40  # a gap longer than this per token cannot be within the window
_STOP = SEP + "." + SEP  # a sentence mark as a token
_PAUSE = SEP + "," + SEP  # a clause mark as a token


@dataclass(slots=True)
class Context:
    """Hits sorted out: what fired (and whether only in the past), and what was set aside."""

    fired: dict[int, list[Hit]] = field(default_factory=dict)
    past: set[int] = field(default_factory=set)
    skipped: list[tuple[int, str, Hit]] = field(default_factory=list)


def resolve(text: Text, matcher: Matcher, rules: RuleSet) -> Context:
    """Match, then apply negation, other senses, counters and past cues to the raw hits."""
    canonical = text.canonical
    quantities = rules.quantities
    window = rules.thresholds.negation_window
    reach = _MAX_TOKEN_CHARS * (window + 1)
    context = Context()
    skipped = context.skipped
    kept: list[Hit] = []
    # Each hit's span in the original, found once: the piece its first and its last character
    # fall in, then those pieces' offsets, punctuation at either end trimmed.
    cstarts, ostarts = text.canonical_starts(), text.original_starts()
    pieces = text.pieces
    pasts: list[tuple[int, int]] = []
    counters = False
    negation = -1 - reach  # where the last negation cue ended
    for end, (rule, lang, span, number, role) in matcher.scan(canonical):
        if number and text.next_token(end) in quantities:
            continue  # a number that counts something is not an age or a room
        start = end - span
        if role:
            if role == NEGATION:
                negation = end
                continue
            if role == INERT:
                continue
            if role == PAST:
                pasts.append((start, end))
                continue
        # A key lies inside the canonical string, so both pieces exist (and are not empty).
        first = bisect_right(cstarts, start) - 1
        last = first if end <= cstarts[first + 1] else bisect_right(cstarts, end - 1, first) - 1
        head, tail = pieces[first], pieces[last]
        begin = ostarts[first] + first
        finish = ostarts[last] + last + len(tail)
        if head and head[0] in TRIM:
            begin += len(head) - len(head.lstrip(TRIM))
        if tail and tail[-1] in TRIM:
            finish -= len(tail) - len(tail.rstrip(TRIM))
        hit = (rule, lang, start, end, (begin, finish if finish > begin else begin))
        if role == SENSE:
            skipped.append((rule, "other sense", hit))
            continue
        if (
            start - negation <= reach
            and canonical.count(SEP, negation, start) <= window + 1
            and canonical.find(_STOP, negation, start) < 0
            and canonical.find(_PAUSE, negation, start) < 0
        ):
            skipped.append((rule, "negated", hit))
            continue
        counters = counters or role == COUNTER
        kept.append(hit)
    if counters:
        kept = _apply_counters(text, kept, rules, context)
    _settle(canonical, kept, pasts, rules.thresholds.past_window, context)
    return context


def _settle(
    canonical: str, kept: list[Hit], pasts: list[tuple[int, int]], window: int, context: Context
) -> None:
    """What fired, by rule in order of first hit; and which rules fired only in the past."""
    fired = context.fired
    for hit in kept:
        hits = fired.get(hit[0])
        if hits is None:
            fired[hit[0]] = [hit]
        else:
            hits.append(hit)
    if pasts:
        context.past = _past(canonical, fired, pasts, window)


def _past(
    canonical: str, fired: dict[int, list[Hit]], cues: list[tuple[int, int]], window: int
) -> set[int]:
    """Rules whose every hit is within reach of a past cue: the nearest cue before a hit with
    at most `window` tokens between, or the nearest after with at most four, and no sentence
    mark between. A farther cue has more tokens and every mark a nearer one has."""
    ends = [cue_end for _, cue_end in cues]
    starts = [cue_start for cue_start, _ in cues]
    past: set[int] = set()
    for rule, hits in fired.items():
        for _rule, _lang, start, end, _span in hits:
            before = bisect_right(ends, start) - 1
            if before >= 0:
                cue_end = ends[before]
                if (
                    canonical.count(SEP, cue_end, start) <= window + 1
                    and canonical.find(_STOP, cue_end, start) < 0
                ):
                    continue
            after = bisect_left(starts, end)
            if after < len(starts):
                cue_start = starts[after]
                if (
                    canonical.count(SEP, end, cue_start) <= _PAST_AFTER_WINDOW + 1
                    and canonical.find(_STOP, end, cue_start) < 0
                ):
                    continue
            break  # this hit holds now
        else:
            past.add(rule)
    return past


def _apply_counters(text: Text, hits: list[Hit], rules: RuleSet, context: Context) -> list[Hit]:
    counters = [h for h in hits if rules.rules[h[0]].family == "counter"]
    kept: list[Hit] = []
    for hit in hits:
        rule = rules.rules[hit[0]]
        if rule.family == "counter":
            continue
        by = next(
            (
                rules.rules[c[0]].id
                for c in counters
                if rule.id in rules.rules[c[0]].cancels and _same_sentence(text, hit, c)
            ),
            None,
        )
        if by is not None:
            context.skipped.append((hit[0], f"cancelled by {by}", hit))
        else:
            kept.append(hit)
    return kept


def _same_sentence(text: Text, a: Hit, b: Hit) -> bool:
    first, second = (a, b) if a[2] <= b[2] else (b, a)
    return "." not in text.tokens_between(first[3], second[2])
