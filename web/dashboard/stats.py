"""Statistics for supervisors: server-drawn SVG charts and CSV aggregates.

Both answers carry figures only (counts, medians, rule ids): never a tip id, a reference,
anything a person wrote, or a username. So neither reads a sealed column, and neither
needs an audit entry.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hotline.errors import InvalidInputError
from hotline.sessions import Principal
from hotline.statistics import (
    MAX_PERIOD_DAYS,
    Count,
    Period,
    Statistics,
    default_period,
    format_duration,
    gather_statistics,
    parse_period,
)
from web.dashboard.charts import Chart, build_bar_chart, build_column_chart
from web.dashboard.core import dashboard, render, signed_in

PERIOD_HELP = (
    "Enter both dates as YYYY-MM-DD, the first no later than the second, "
    f"at most {MAX_PERIOD_DAYS} days apart."
)
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _pairs(counts: tuple[Count, ...]) -> list[tuple[str, int]]:
    return [(count.label, count.count) for count in counts]


def build_charts(stats: Statistics) -> list[Chart]:
    weeks = _pairs(stats.weeks)
    return [
        build_column_chart(
            "chart-weeks",
            "Tips per ISO week",
            weeks,
            label_header="ISO week",
            short_labels=[label.rpartition("-")[2] for label, _ in weeks],
        ),
        build_bar_chart(
            "chart-channels", "Tips by channel", _pairs(stats.channels), label_header="Channel"
        ),
        build_bar_chart(
            "chart-categories",
            "Tips by category",
            _pairs(stats.categories),
            label_header="Category",
        ),
        build_bar_chart(
            "chart-triage-urgency",
            "Tips by urgency, as triage scored them",
            _pairs(stats.triage_urgencies),
            label_header="Urgency (triage)",
        ),
        build_bar_chart(
            "chart-urgency",
            "Tips by urgency in force (after dispatchers' overrides)",
            _pairs(stats.urgencies),
            label_header="Urgency in force",
        ),
        build_bar_chart(
            "chart-languages",
            "Tips by language",
            _pairs(stats.languages),
            label_header="Language",
        ),
    ]


def _period_of(request: Request) -> tuple[Period, bool]:
    """The period asked for, and whether the request asked for a valid one."""
    try:
        return parse_period(request.query_params.get("from"), request.query_params.get("to")), True
    except InvalidInputError:
        return default_period(), False


@signed_in("supervisor")
async def show_stats(request: Request, user: Principal) -> Response:
    """Volume, response times and overrides over a period (the last 12 weeks by default)."""
    period, valid = _period_of(request)
    stats = await gather_statistics(dashboard(request).engine, period)
    context: dict[str, Any] = {
        "stats": stats,
        "charts": build_charts(stats),
        "period_error": None if valid else PERIOD_HELP,
        "duration": format_duration,
        "csv_query": f"from={period.start.isoformat()}&to={period.end.isoformat()}",
    }
    return render(
        request, "dashboard/stats.html", context, user=user, status_code=200 if valid else 400
    )


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


def stats_rows(stats: Statistics) -> Iterator[tuple[object, ...]]:
    """The CSV's rows: section, key, label, measure, value. Aggregates only."""
    yield ("section", "key", "label", "measure", "value")
    yield ("period", "from", "from", "date", stats.period.start.isoformat())
    yield ("period", "to", "to", "date", stats.period.end.isoformat())
    yield ("total", "tips", "tips", "tips", stats.total)
    sections = (
        ("week", stats.weeks),
        ("channel", stats.channels),
        ("category", stats.categories),
        ("urgency_triage", stats.triage_urgencies),
        ("urgency_in_force", stats.urgencies),
        ("language", stats.languages),
    )
    for section, counts in sections:
        for count in counts:
            yield (section, count.key, count.label, "tips", count.count)
    for times in stats.response:
        row = ("response", times.urgency, times.urgency)
        yield (*row, "tips", times.tips)
        yield (*row, "claimed", times.claimed)
        yield (*row, "median_seconds_to_claim", _seconds(times.median_claim_seconds))
        yield (*row, "closed", times.closed)
        yield (*row, "median_seconds_to_close", _seconds(times.median_close_seconds))
        yield (*row, "paged", times.paged)
        yield (*row, "median_seconds_to_page", _seconds(times.median_page_seconds))
        yield (*row, "acknowledged", times.acknowledged)
        yield (*row, "median_seconds_to_acknowledge", _seconds(times.median_ack_seconds))
    yield ("overrides", "all", "all", "overrides", stats.override_count)
    for item in stats.overrides:
        yield ("override_indicator", item.indicator_id, item.label, "raised", item.raised)
        yield ("override_indicator", item.indicator_id, item.label, "lowered", item.lowered)


def _seconds(value: float | None) -> str:
    return "" if value is None else str(round(value))


@signed_in("supervisor")
async def download_stats(request: Request, user: Principal) -> Response:
    """The page's figures as CSV, for the same period."""
    period, valid = _period_of(request)
    if not valid:
        return Response(PERIOD_HELP + "\n", status_code=400, media_type="text/plain")
    stats = await gather_statistics(dashboard(request).engine, period)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in stats_rows(stats):
        writer.writerow([_cell(value) for value in row])
    name = f"hotline-stats-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
        },
    )


routes: list[BaseRoute] = [
    Route("/dashboard/stats", show_stats, methods=["GET"]),
    Route("/dashboard/stats.csv", download_stats, methods=["GET"]),
]
