"""Prometheus counters and histograms: counts and latencies only, never content or labels
taken from input.

Every label value below comes from a fixed set in our code (a channel, a refusal reason, a
page status, a route template, a job's function name), never from what a client sent: a
tip's words, an address, a number or a path cannot become a time series. They are served
only on the internal listener (:mod:`hotline.exporter`, ``HOTLINE_METRICS_BIND``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from arq import Retry
from prometheus_client import Counter, Gauge, Histogram

TIPS_SUBMITTED = Counter("hotline_tips_submitted_total", "Tips committed", ["channel"])
TRIAGE_FAILURES = Counter(
    "hotline_triage_failures_total", "Assessments that raised; the tip was kept as high"
)
INTAKE_REFUSED = Counter("hotline_intake_refused_total", "Submissions refused", ["reason"])
TIPS_DISPATCHED = Counter("hotline_tips_dispatched_total", "Tips dispatched by the worker")
SUBMIT_SECONDS = Histogram(
    "hotline_submit_seconds", "Time from a valid submission to its durable commit"
)
PAGES = Counter(
    "hotline_pages_total",
    "Pages to on-call dispatchers, by outcome (sent, failed, no_number, opted_out, nobody)",
    ["status"],
)
ESCALATIONS = Counter(
    "hotline_escalations_total", "Pages past a chain's first step: nobody acknowledged in time"
)
ACKNOWLEDGEMENTS = Counter(
    "hotline_acknowledgements_total", "Page chains acknowledged, by how", ["via"]
)
REQUEST_SECONDS = Histogram(
    "hotline_request_seconds",
    "Web requests: time to the response's headers, by route template, method and status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_SECONDS = Histogram(
    "hotline_job_seconds",
    "Worker jobs: duration by job name and outcome (ok, retry, error)",
    ["job", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
OPEN_TIPS = Gauge(
    "hotline_open_tips", "Tips not closed, by urgency in force (read at scrape)", ["urgency"]
)
READY = Gauge(
    "hotline_ready", "1 when the check passes (database, on_call), read at scrape", ["check"]
)

# Pre-bound children for the hot path.
WEB_TIPS_SUBMITTED = TIPS_SUBMITTED.labels(channel="web")
SMS_TIPS_SUBMITTED = TIPS_SUBMITTED.labels(channel="sms")

# Request methods get a label of their own only when they are ones we serve.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Job = TypeVar("Job", bound=Callable[..., Awaitable[Any]])


def timed_job(job: Job) -> Job:
    """``job`` (an arq coroutine function), observing its duration under its own name."""
    name = job.__name__

    @functools.wraps(job)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await job(*args, **kwargs)
        except Retry:
            outcome = "retry"
            raise
        else:
            outcome = "ok"
            return result
        finally:
            JOB_SECONDS.labels(job=name, outcome=outcome).observe(time.perf_counter() - started)

    return timed  # type: ignore[return-value]


def time_jobs(options: dict[str, Any]) -> dict[str, Any]:
    """arq worker options with every function and cron job timed (names unchanged)."""
    functions = options.get("functions", [])
    options["functions"] = [
        replace(f, coroutine=timed_job(f.coroutine)) if hasattr(f, "coroutine") else timed_job(f)
        for f in functions
    ]
    options["cron_jobs"] = [
        replace(job, coroutine=timed_job(job.coroutine)) for job in options.get("cron_jobs", [])
    ]
    return options
