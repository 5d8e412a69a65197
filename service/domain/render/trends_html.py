"""The report page's "Since the last workshop" section: each stream's change since the last
workshop (``trends.since_last_workshop``) and the trend charts of its revisions.

Markup only, with the report's own CSS classes (``num``, ``up``, ``down``, ``note``); every board
text is escaped, and at most ``charts.MAX_SERIES`` streams are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.export import format_change
from service.domain.portfolio import FIGURE_KEYS
from service.domain.render.charts import Series, format_figure, trend_chart_svg
from service.domain.render.textfit import esc, format_minutes
from service.domain.trends import Delta, Trend, since_last_workshop

MAX_ROWS = 50
# the figures charted on the report, each in its own chart
REPORT_FIGURES = ("lead_time_min", "activity_ratio")


def _signed_points(fraction: float | None) -> str:
    if fraction is None:
        return "?"
    points = fraction * 100
    return f"{'+' if points > 0 else ''}{points:.1f} pp"


def _signed_count(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{'+' if count > 0 else ''}{count}"


def _cls(value: float | None, *, lower_is_better: bool) -> str:
    """``down`` (green) for an improvement, ``up`` (red) for a worsening."""
    if value is None or value == 0:
        return "num"
    better = value < 0 if lower_is_better else value > 0
    return "num down" if better else "num up"


def _row(trend: Trend, delta: Delta) -> str:
    latest = trend.latest.figures
    return (
        f"<tr><td>{esc(trend.name, 300)}</td>"
        f'<td class="num">r{delta.since_revision} \u2192 r{trend.latest.revision}</td>'
        f'<td class="{_cls(delta.lead_time_change_min, lower_is_better=True)}">'
        f"{esc(format_change(delta.lead_time_change_min, delta.lead_time_change_pct))}"
        f'<br><span class="muted">now {esc(format_minutes(latest.total_lead_time_min))}</span></td>'
        f'<td class="{_cls(delta.process_time_change_min, lower_is_better=True)}">'
        f"{esc(format_change(delta.process_time_change_min, delta.process_time_change_pct))}"
        "</td>"
        f'<td class="{_cls(delta.activity_ratio_change, lower_is_better=False)}">'
        f"{esc(_signed_points(delta.activity_ratio_change))}"
        f'<br><span class="muted">now {esc(format_figure(latest.activity_ratio, "ratio"))}'
        "</span></td>"
        f'<td class="{_cls(delta.rolled_complete_accurate_change, lower_is_better=False)}">'
        f"{esc(_signed_points(delta.rolled_complete_accurate_change))}</td>"
        f'<td class="{_cls(delta.handoffs_change, lower_is_better=True)}">'
        f"{esc(_signed_count(delta.handoffs_change))}</td>"
        f'<td class="{_cls(delta.problem_weight_change, lower_is_better=True)}">'
        f"{esc(_signed_count(delta.problem_weight_change))}</td></tr>"
    )


def trend_series(trends: Sequence[Trend], figure: str) -> list[Series]:
    """One chart line per trend: ``figure`` (a key of ``portfolio.FIGURE_KEYS``) by revision."""
    field = FIGURE_KEYS[figure]
    return [
        Series(t.name, [(p.revision, getattr(p.figures, field)) for p in t.points]) for t in trends
    ]


def trends_section(trends: Sequence[Trend]) -> str:
    """The section, or "" when no stream has more than one revision to compare."""
    followed = [t for t in trends if len(t.points) > 1]
    if not followed:
        return ""
    deltas = [(t, d) for t in followed if (d := since_last_workshop(t)) is not None]
    if deltas:
        rows = "".join(_row(t, d) for t, d in deltas[:MAX_ROWS])
        table = (
            '<table class="deltas"><tr><th>Stream</th><th>Revisions</th><th>Lead time</th>'
            "<th>Process time</th><th>Activity ratio</th><th>Rolled %C&amp;A</th>"
            f"<th>Handoffs</th><th>Problem votes</th></tr>{rows}</table>"
        )
    else:
        table = '<p class="muted">No stream changed since the last workshop.</p>'
    charts = "".join(
        '<div class="map fit">' + trend_chart_svg(trend_series(followed, figure), figure) + "</div>"
        for figure in REPORT_FIGURES
    )
    return (
        '<section class="trends" id="since-last-workshop"><h2>Since the last workshop</h2>'
        '<p class="note">Each stream against its last revision with different figures; a stream '
        "is followed across revisions by its frame, else by its title.</p>"
        f'{table}<div class="grid">{charts}</div></section>'
    )
