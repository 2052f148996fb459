"""Triage throughput on one core: the engine against a naive loop of one regex per rule.

    .venv/bin/python bench/triage.py

Both run in this process over the same ~1 KB tips (built from the labelled corpus, so
English, Spanish, SMS and noise are all there), one after the other, so the ratio holds
on any machine even where the absolute figures do not.
"""

from __future__ import annotations

import random
import re
import sys
import time
from pathlib import Path

# This file is itself named triage.py: put the repository first so `triage` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from triage.engine import shipped_engine
from triage.evaluation import load_corpus
from triage.normalise import fold
from triage.rules import iter_phrases

TIP_BYTES = 1024
TIPS = 2000
ROUNDS = 3
NAIVE_TIPS = 100  # the naive loop is slow; fewer tips give the same rate


def make_tips(count: int) -> list[str]:
    """~1 KB tips: corpus tips glued together in a random order, cut at a word."""
    corpus = [record["text"] for record in load_corpus()]
    rng = random.Random(3)
    tips = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p.encode()) + 1 for p in parts) < TIP_BYTES:
            parts.append(rng.choice(corpus))
        tip = " ".join(parts).encode()[:TIP_BYTES].decode(errors="ignore")
        tips.append(tip.rsplit(" ", 1)[0])
    return tips


def naive_patterns() -> list[re.Pattern[str]]:
    """One compiled regular expression per rule: its phrases as an alternation."""
    engine = shipped_engine()
    patterns = []
    for rule in engine.rules.rules:
        words = set()
        for _lang, phrase in iter_phrases(rule):
            for key in engine.normaliser.phrase_keys(phrase):
                words.add(r"\s+".join(re.escape(t) for t in key.split()))
        patterns.append(re.compile(r"\b(?:" + "|".join(sorted(words)) + r")\b"))
    return patterns


def best_rate(run: object, tips: list[str]) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for tip in tips:
            run(tip)  # type: ignore[operator]
        best = max(best, len(tips) / (time.perf_counter() - start))
    return best


def main() -> None:
    engine = shipped_engine()
    tips = make_tips(TIPS)
    size = sum(len(t.encode()) for t in tips) / len(tips)
    engine.assess(tips[0])  # warm the caches the way a running server has them

    patterns = naive_patterns()

    def naive(tip: str) -> int:
        text = fold(tip)
        return sum(1 for pattern in patterns if pattern.search(text))

    engine_rate = best_rate(engine.assess, tips)
    naive_rate = best_rate(naive, tips[:NAIVE_TIPS])
    keys = engine.matcher.size
    print(
        f"tips: {len(tips)} of {size:.0f} bytes on average; rules: {len(engine.rules.rules)}, "
        f"matcher keys: {keys}"
    )
    print(f"triage.assess (one automaton, full assessment): {engine_rate:,.0f} tips/s")
    print(f"naive loop, one regex per rule (matching only):  {naive_rate:,.0f} tips/s")
    print(f"ratio: {engine_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
