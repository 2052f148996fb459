"""Explainable rule-based triage of trafficking tips.

    >>> import triage
    >>> a = triage.assess("They took my passport and I can't leave, please help me now")
    >>> a.urgency, a.overrides
    ('critical', ('O3',))

Rules are data (`triage/rules/*.toml`), loaded and compiled once on first use.
"""

from __future__ import annotations

from triage import evaluation
from triage.assessment import Assessment, Entity, Indicator, Skipped
from triage.engine import shipped_engine
from triage.rules import RuleError

__all__ = [
    "Assessment",
    "Entity",
    "Indicator",
    "RuleError",
    "Skipped",
    "assess",
    "evaluation",
    "rules_version",
]


def assess(text: str, lang: str | None = None, *, default_region: str = "US") -> Assessment:
    """Assess one tip: urgency, score, category, minors, indicators, entities, and why.

    `lang` skips language detection; `default_region` reads phone numbers written without a
    country code (ISO 3166 code, "US" by default).
    """
    return shipped_engine().assess(text, lang, default_region=default_region)


def rules_version() -> str:
    """A short hash of the shipped rule files: changes whenever any rule changes."""
    return shipped_engine().rules.version
