"""Server-drawn SVG charts: geometry from the numbers, labels escaped, no inline style."""

from __future__ import annotations

import pytest

from web.dashboard.charts import (
    COLUMN_AREA_HEIGHT,
    build_bar_chart,
    build_column_chart,
)
from web.dashboard.core import build_templates

HOSTILE = '<script>alert("x")</script>'


def _render(chart: object) -> str:
    return build_templates().get_template("dashboard/_chart.html").render(chart=chart)


def test_a_label_like_a_script_tag_is_escaped_in_the_svg_and_the_table() -> None:
    chart = build_bar_chart("chart-test", f"Title {HOSTILE}", [(HOSTILE, 3)], label_header="X")
    html = _render(chart)
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert html.count("&lt;script&gt;") >= 4  # title, description, drawing, table


def test_a_chart_names_itself_for_assistive_technology_and_has_no_inline_style() -> None:
    html = _render(build_column_chart("chart-weeks", "Tips", [("W1", 2)], label_header="Week"))
    assert 'role="img"' in html
    assert 'aria-labelledby="chart-weeks-title chart-weeks-desc"' in html
    assert '<title id="chart-weeks-title">Tips</title>' in html
    assert '<th scope="col">Week</th>' in html
    assert "style=" not in html


def test_columns_are_scaled_to_the_largest_value() -> None:
    chart = build_column_chart(
        "chart-weeks", "Tips", [("a", 10), ("b", 5), ("c", 0)], label_header="Week"
    )
    heights = [bar.height for bar in chart.bars]
    assert heights == [COLUMN_AREA_HEIGHT, COLUMN_AREA_HEIGHT / 2, 0]
    assert chart.bars[0].y + chart.bars[0].height == chart.bars[2].y  # one baseline
    assert chart.bars[0].x < chart.bars[1].x < chart.bars[2].x
    assert chart.total == 15


def test_bars_are_scaled_to_the_largest_value_and_long_labels_are_cut_only_in_the_drawing() -> None:
    long_label = "a very long indicator label that goes on and on and on"
    chart = build_bar_chart("chart-x", "T", [(long_label, 4), ("b", 1)], label_header="L")
    assert chart.bars[0].width == 4 * chart.bars[1].width
    assert chart.bars[0].label == long_label
    assert chart.bars[0].short_label.endswith("…")
    html = _render(chart)
    assert f'<th scope="row">{long_label}</th>' in html


def test_an_all_zero_or_empty_chart_draws_without_dividing_by_zero() -> None:
    zero = build_bar_chart("chart-zero", "T", [("a", 0)], label_header="L")
    assert zero.bars[0].width == 0
    assert "all zero" in zero.description
    empty = build_column_chart("chart-empty", "T", [], label_header="L")
    assert empty.bars == ()
    assert "no data" in _render(empty)


def test_crowded_column_labels_are_thinned_but_every_value_is_in_the_table() -> None:
    weeks = [(f"2026-W{n:02d}", n) for n in range(1, 53)]
    chart = build_column_chart("chart-year", "T", weeks, label_header="Week")
    shown = [bar for bar in chart.bars if bar.show_label]
    assert 1 < len(shown) < len(weeks)
    assert _render(chart).count('<tr><th scope="row">2026-W') == 52


def test_a_chart_id_must_be_a_slug() -> None:
    with pytest.raises(ValueError, match="slug"):
        build_bar_chart('x" onload="y', "T", [], label_header="L")
