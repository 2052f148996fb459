"""Prometheus counters and histograms: counts and latencies only, never content or labels
taken from input."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TIPS_SUBMITTED = Counter("hotline_tips_submitted_total", "Tips committed", ["channel"])
TRIAGE_FAILURES = Counter(
    "hotline_triage_failures_total", "Assessments that raised; the tip was kept as high"
)
INTAKE_REFUSED = Counter("hotline_intake_refused_total", "Submissions refused", ["reason"])
TIPS_DISPATCHED = Counter("hotline_tips_dispatched_total", "Tips dispatched by the worker")
SUBMIT_SECONDS = Histogram(
    "hotline_submit_seconds", "Time from a valid submission to its durable commit"
)

# Pre-bound children for the hot path.
WEB_TIPS_SUBMITTED = TIPS_SUBMITTED.labels(channel="web")
