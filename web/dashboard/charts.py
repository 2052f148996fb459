"""Bar charts as SVG, drawn on the server: geometry here, markup in ``_chart.html``.

Python computes every coordinate from the numbers; the template only places them, with
autoescape on, so a label cannot become markup. No script, no inline style: bars take
their colours from classes in ``stats.css``. Each chart carries its own data table, which
is what screen readers and people copying figures read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# The drawing's own units (the SVG scales to its box through ``viewBox``).
WIDTH = 720
COLUMN_AREA_HEIGHT = 200
COLUMN_TOP = 24  # room for the value above the tallest column
COLUMN_LABEL_SPACE = 28
COLUMN_LEFT = 8
BAR_LABEL_SPACE = 240
BAR_VALUE_SPACE = 64
BAR_ROW = 26
BAR_THICKNESS = 18
LABEL_CHARACTERS = 34  # a bar label longer than this is cut in the drawing (not the table)
COLUMN_LABEL_WIDTH = 46  # about how wide a short column label is drawn

_ID = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # in full: the data table shows it
    short_label: str  # what the drawing shows
    value: int
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label_y: float
    value_x: float
    value_y: float
    show_label: bool


@dataclass(frozen=True, slots=True)
class Chart:
    id: str  # chosen by the code, never by data: the title and description ids hang on it
    kind: Literal["columns", "bars"]
    title: str
    description: str
    label_header: str
    value_header: str
    width: int
    height: int
    baseline: tuple[float, float, float, float]  # x1, y1, x2, y2 of the axis line
    bars: tuple[Bar, ...]

    @property
    def total(self) -> int:
        return sum(bar.value for bar in self.bars)


def _check_id(chart_id: str) -> None:
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r} is not a lower-case slug")


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _describe(title: str, items: Sequence[tuple[str, int]]) -> str:
    if not items:
        return f"{title}: no data."
    total = sum(value for _, value in items)
    top_label, top_value = max(items, key=lambda item: item[1])
    if total == 0:
        return f"{title}: {len(items)} groups, all zero."
    return (
        f"{title}: {len(items)} groups, {total} in all; the largest is {top_label} "
        f"with {top_value}. The table beside the chart lists every value."
    )


def _round(value: float) -> float:
    return round(value, 1)


def build_column_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    label_header: str,
    value_header: str = "Tips",
    short_labels: Sequence[str] | None = None,
) -> Chart:
    """Vertical columns, one per item, in order (a time series such as weeks)."""
    _check_id(chart_id)
    shorts = list(short_labels) if short_labels is not None else [label for label, _ in items]
    if len(shorts) != len(items):
        raise ValueError(f"chart {chart_id}: one short label per item")
    count = max(1, len(items))
    top = max((value for _, value in items), default=0) or 1
    slot = (WIDTH - 2 * COLUMN_LEFT) / count
    thickness = max(1.0, slot * 0.7)
    stride = max(1, math.ceil(COLUMN_LABEL_WIDTH / slot))  # labels that would overlap are skipped
    base = COLUMN_TOP + COLUMN_AREA_HEIGHT
    bars = []
    for index, ((label, value), short) in enumerate(zip(items, shorts, strict=True)):
        height = COLUMN_AREA_HEIGHT * value / top
        x = COLUMN_LEFT + index * slot + (slot - thickness) / 2
        centre = x + thickness / 2
        bars.append(
            Bar(
                label=label,
                short_label=short,
                value=value,
                x=_round(x),
                y=_round(base - height),
                width=_round(thickness),
                height=_round(height),
                label_x=_round(centre),
                label_y=base + 18,
                value_x=_round(centre),
                value_y=_round(base - height - 6),
                show_label=index % stride == 0,
            )
        )
    return Chart(
        id=chart_id,
        kind="columns",
        title=title,
        description=_describe(title, items),
        label_header=label_header,
        value_header=value_header,
        width=WIDTH,
        height=base + COLUMN_LABEL_SPACE,
        baseline=(COLUMN_LEFT, base, WIDTH - COLUMN_LEFT, base),
        bars=tuple(bars),
    )


def build_bar_chart(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, int]],
    *,
    label_header: str,
    value_header: str = "Tips",
) -> Chart:
    """Horizontal bars, one row per item, labels on the left (categories, channels …)."""
    _check_id(chart_id)
    top = max((value for _, value in items), default=0) or 1
    room = WIDTH - BAR_LABEL_SPACE - BAR_VALUE_SPACE
    bars = []
    for index, (label, value) in enumerate(items):
        length = room * value / top
        y = 8 + index * BAR_ROW
        middle = y + BAR_THICKNESS / 2
        bars.append(
            Bar(
                label=label,
                short_label=_shorten(label, LABEL_CHARACTERS),
                value=value,
                x=BAR_LABEL_SPACE,
                y=y,
                width=_round(length),
                height=BAR_THICKNESS,
                label_x=BAR_LABEL_SPACE - 8,
                label_y=_round(middle + 4),
                value_x=_round(BAR_LABEL_SPACE + length + 6),
                value_y=_round(middle + 4),
                show_label=True,
            )
        )
    height = 16 + max(1, len(items)) * BAR_ROW
    return Chart(
        id=chart_id,
        kind="bars",
        title=title,
        description=_describe(title, items),
        label_header=label_header,
        value_header=value_header,
        width=WIDTH,
        height=height,
        baseline=(BAR_LABEL_SPACE, 4, BAR_LABEL_SPACE, height - 4),
        bars=tuple(bars),
    )
