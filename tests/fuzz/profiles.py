"""Hypothesis profiles for the fuzz suite.

``ci`` (the default) is derandomized, so every CI run tries the same inputs, and small
enough that the whole suite runs in well under a minute. ``deep`` is for long runs by
hand: ``HYPOTHESIS_PROFILE=deep scripts/test tests/fuzz``; it draws fresh random inputs
each run and keeps failures in ``.hypothesis/`` to replay them first next time.

The profiles are applied per test (``@fuzz_settings()``), not loaded globally, so the rest
of the suite keeps its own hypothesis settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# A test's fixtures (one app, one database, one Redis) serve all of its examples on purpose:
# the limits are raised in the fuzz settings so state carried between examples hides nothing.
_SUPPRESSED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

settings.register_profile(
    "ci",
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
settings.register_profile(
    "deep",
    max_examples=5_000,
    deadline=None,
    derandomize=False,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples"),
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "deep"):
    raise RuntimeError(f"HYPOTHESIS_PROFILE must be ci or deep, not {PROFILE!r}")


def fuzz_settings(*, scale: float = 1.0) -> settings:
    """The chosen profile; ``scale`` shrinks or grows its example count for a costly or a
    cheap test."""
    parent = settings.get_profile(PROFILE)
    return settings(parent, max_examples=max(10, int(parent.max_examples * scale)))
