"""`engmon report --format html`: one self-contained page for a client or an email.

The page is drawn from the report dict the JSON output prints (`watch.report.build_report`),
plus two keys only the page uses: `band` (the expected band of your past posts for the
headline metric, per bucket, when there is a history) and `breakdowns` (the dashboard's
tables). Inline CSS and SVG only: no script, no font, no image, nothing fetched, so it reads
the same offline and in a mail client. Every string from a feed or a file is escaped.
Numbers carry their exact JSON value in `data-value`, so a test (or a script) can check them.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from engmon import __version__
from engmon.core import band as bands
from engmon.core import metrics
from engmon.core.breakdown import BREAKDOWNS, breakdown, enrich
from engmon.core.campaign import RELATIVE_ANCHOR
from engmon.core.history import default_history_dir, load_history, post_key
from engmon.core.printable import printable
from engmon.core.schema import ENGAGEMENT_METRICS, KINDS, RESHARE_METRICS, UTC_US
from engmon.core.store import observations_to_deltas
from engmon.core.words import compact_count, offset_text
from engmon.core.zone import posted_words

if TYPE_CHECKING:
    from datetime import timedelta

    from engmon.watch.report import _Input

TOP_ROWS: Final = 10
"""Rows per breakdown table (the biggest; the rest are summed into 'other')."""
WIDTH, HEIGHT, PAD = 720, 240, 40

STYLE: Final = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2327;
max-width:760px;margin:24px auto;padding:0 12px;line-height:1.4}
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .4em}
.sub{color:#555;margin:.2em 0 1em}.verdict{border-left:4px solid #8b5cf6;padding:.5em .8em;
background:#f5f3ff;font-size:1.05em}
.kpis{display:flex;flex-wrap:wrap;gap:8px;margin:1em 0}.kpi{border:1px solid #ddd;
border-radius:6px;padding:6px 12px;min-width:90px}.kpi b{display:block;font-size:1.3em}
.kpi span{color:#555;font-size:.85em}table{border-collapse:collapse;width:100%;margin:.3em 0}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{color:#555;font-weight:600}
.note{color:#555;font-size:.9em}svg{max-width:100%;height:auto}
"""


# --- what the page needs beyond the JSON report ------------------------------------------------


def html_page(data: _Input, report: dict[str, Any], offset: timedelta | None) -> str:
    """The page for `report` (the JSON dict), with the band and the breakdown tables added."""
    campaign = data.campaign
    post_time = campaign.post_time or data.first
    observations = data.observations
    if offset is not None:
        observations = observations.filter(pl.col("ts") <= pl.lit(post_time + offset, dtype=UTC_US))
    kinds = KINDS if data.counters else ("event",)
    deltas = observations_to_deltas(observations, data.repeated, kinds).collect(engine="streaming")
    headline = metrics.pick_headline(list(report["metrics"])) if report["metrics"] else "clicks"
    page = {
        **report,
        "band": band_rows(
            default_history_dir(),
            headline,
            report["bucket_s"] // 60,
            campaign.followers,
            campaign.name,
            post_time,
        ),
        "breakdowns": breakdown_tables(
            deltas,
            post_time=post_time,
            at_s=report["at_s"],
            followers=report["followers"],
        ),
    }
    return render_html(page)


def band_rows(
    history_dir: Path | None,
    metric: str,
    width: int,
    followers: int | None,
    campaign: str,
    post_time: datetime,
) -> list[dict[str, float]]:
    """The p10/p50/p90 band of past posts per bucket of `width` minutes, in this post's
    counts; empty without a history or a follower count (the post itself is left out)."""
    if history_dir is None or not followers:
        return []
    past = load_history(metric, history_dir, exclude=post_key(campaign, post_time))
    if past is None or past.is_empty():
        return []
    summed = past.group_by("post", minute=(pl.col("minute") // width) * width).agg(
        pl.col("value").sum()
    )
    scaled = bands.scaled_band(bands.expected_band(summed), followers).sort("minute")
    return [
        {"at_s": int(row["minute"]) * 60, "p10": row["p10"], "p50": row["p50"], "p90": row["p90"]}
        for row in scaled.iter_rows(named=True)
    ]


def breakdown_tables(
    deltas: pl.DataFrame,
    *,
    post_time: datetime,
    at_s: float,
    followers: int | None,
) -> dict[str, list[dict[str, Any]]]:
    """The dashboard's breakdown tables (engagement metrics), biggest rows first, at `at_s`
    after the post: the same visible minutes and /min window as the report's standing."""
    now_minute = metrics.now_minute_of(at_s)
    span = metrics.velocity_span(now_minute, metrics.VELOCITY_WINDOW, at_s)
    if deltas.is_empty():
        return {}
    enriched = enrich(deltas)
    names = [m for m in ENGAGEMENT_METRICS if m in set(enriched.get_column("metric").to_list())]
    tables: dict[str, list[dict[str, Any]]] = {}
    for dimension in BREAKDOWNS:  # a handful of tables, each one polars pipeline
        keys = {"platform": "referrer"}.get(dimension, dimension)
        if keys not in enriched.columns and dimension not in enriched.columns:
            continue
        table = breakdown(
            enriched.lazy(),
            dimension,
            post_time=post_time,
            now_minute=now_minute,
            velocity_span=span,
            metric_names=names,
            followers=followers,
        ).collect()
        if dimension == "platform":  # replies and reshares have no referrer: their own row
            table = table.with_columns(pl.col("value").fill_null("(none)"))
        table = table.filter(pl.col("value").is_not_null())
        if table.height == 0:
            continue
        tables[dimension] = [
            {
                "value": row["value"],
                "count": _number(row["count"]),
                "share": row["share"],
                "per_1k": row["per_1k"],
            }
            for row in table.head(TOP_ROWS).iter_rows(named=True)
        ]
    return tables


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


# --- drawing ---------------------------------------------------------------------------------


def _attr(value: object) -> str:
    # the page may be printed to a terminal: control characters become visible escapes too
    return escape(printable(value), quote=True)


def _shown(value: float | int | None, digits: int = 3) -> str:
    """A number as the page shows it: whole counts with separators, others to `digits`."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def _num(value: float | int | None, field: str, tag: str = "td", **keys: str) -> str:
    """A number in a cell, its exact value in data-value for checks."""
    extra = "".join(f' data-{k}="{_attr(v)}"' for k, v in keys.items())
    exact = "" if value is None else _attr(value)
    return f'<{tag} data-field="{field}"{extra} data-value="{exact}">{_shown(value)}</{tag}>'


def _offset(seconds: float | None) -> str:
    return "–" if seconds is None else offset_text(seconds)


def _scale(top: float) -> float:
    return top if top > 0 else 1.0


def _polyline(points: list[tuple[float, float]], style: str) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{path}" {style}/>'


def _series(report: dict[str, Any], metric: str) -> list[dict[str, Any]]:
    """The bucket rows of `metric`; "reshares" (what SEISMIC forecasts) sums reposts and
    quotes bucket by bucket."""
    if metric != "reshares":
        return list(report["buckets"].get(metric, []))
    summed: dict[int, dict[str, Any]] = {}
    for name in RESHARE_METRICS:
        for row in report["buckets"].get(name, []):
            held = summed.setdefault(
                row["at_s"], {"at_s": row["at_s"], "value": 0, "cumulative": 0}
            )
            held["value"] += row["value"]
            held["cumulative"] += row["cumulative"]
    return [summed[at] for at in sorted(summed)]


def curve_svg(report: dict[str, Any], metric: str) -> str:
    """Per-bucket bars of `metric`, the band of past posts behind them, the cumulative line
    and, when it counts this metric, the forecast's final range at the right edge."""
    rows = _series(report, metric)
    band = report.get("band") or []
    bucket_s = int(report["bucket_s"])
    forecast = report.get("forecast") or {}
    span = float(max([r["at_s"] + bucket_s for r in rows] + [bucket_s]))
    top = _scale(
        max(
            [float(r["value"]) for r in rows] + [b["p90"] for b in band if b["at_s"] < span] + [0.0]
        )
    )
    last = float(rows[-1]["cumulative"]) if rows else 0.0
    counts_metric = forecast.get("counts") == metric
    final_top = max(last, *(float(forecast.get(k) or 0.0) for k in ("high", "predicted", "actual")))
    ctop = _scale(final_top if counts_metric else last)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(at_s: float) -> float:
        return PAD + inner_w * at_s / span

    def y(value: float, scale: float) -> float:
        return PAD + inner_h * (1 - value / scale)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_attr(metric)} per bucket">',
        f'<rect x="{PAD}" y="{PAD}" width="{inner_w}" height="{inner_h}" fill="#fafafa" '
        'stroke="#ddd"/>',
    ]
    shown_band = [b for b in band if b["at_s"] < span]
    if shown_band:
        upper = [(x(b["at_s"] + bucket_s / 2), y(b["p90"], top)) for b in shown_band]
        lower = [(x(b["at_s"] + bucket_s / 2), y(b["p10"], top)) for b in reversed(shown_band)]
        area = " ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower)
        parts.append(
            f'<polygon class="band" points="{area}" fill="#93c5fd" fill-opacity="0.35">'
            "<title>your past posts: p10–p90</title></polygon>"
        )
    bar_w = max(inner_w * bucket_s / span - 1, 0.5)
    for r in rows:
        value = float(r["value"])
        if value <= 0:
            continue
        parts.append(
            f'<rect class="bar" x="{x(r["at_s"]):.1f}" y="{y(value, top):.1f}" '
            f'width="{bar_w:.1f}" height="{inner_h * value / top:.1f}" fill="#8b5cf6">'
            f"<title>{_attr(_offset(r['at_s']))}: {_shown(value)}</title></rect>"
        )
    if rows:
        cumulative = [(x(r["at_s"] + bucket_s), y(float(r["cumulative"]), ctop)) for r in rows]
        parts.append(
            _polyline(
                cumulative, 'class="cumulative" fill="none" stroke="#f59e0b" stroke-width="2"'
            )
        )
    if counts_metric and forecast.get("predicted") is not None:
        high = forecast.get("high")
        low = float(forecast.get("low") or forecast["predicted"])
        y_hi = y(float(high), ctop) if high is not None else PAD
        parts.append(
            f'<rect class="forecast" x="{WIDTH - PAD - 6}" y="{y_hi:.1f}" width="6" '
            f'height="{max(y(low, ctop) - y_hi, 1):.1f}" fill="#f59e0b" fill-opacity="0.4">'
            "<title>forecast range of the final total</title></rect>"
        )
        yp = y(float(forecast["predicted"]), ctop)
        parts.append(
            f'<line class="forecast" x1="{PAD}" x2="{WIDTH - PAD}" y1="{yp:.1f}" y2="{yp:.1f}" '
            'stroke="#f59e0b" stroke-dasharray="5,4"/>'
        )
    parts.extend(
        [
            f'<text x="{PAD}" y="{PAD - 8}" font-size="12" fill="#555">'
            f"{_attr(metric)} per {_attr(report['bucket'])} (bars, up to {_shown(top)})"
            + (", your usual range (blue)" if shown_band else "")
            + f"; cumulative (orange, up to {_shown(ctop)})</text>",
            f'<text x="{PAD}" y="{HEIGHT - PAD + 16}" font-size="12" fill="#555">post</text>',
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" font-size="12" fill="#555" '
            f'text-anchor="end">{_attr(_offset(span))}</text>',
            "</svg>",
        ]
    )
    return "\n".join(parts)


def _forecast_html(forecast: dict[str, Any]) -> str:
    noun = _attr(forecast.get("counts", ""))
    cells = [
        f"<tr><th>forecast of {noun} at {_attr(_offset(forecast.get('at_s')))}</th>"
        f"<th>model</th><th>predicted</th><th>low</th><th>high</th><th>actual</th></tr>",
        "<tr><td>" + _attr(forecast.get("state", "")) + f" ({_attr(forecast.get('sure', ''))})</td>"
        f"<td>{_attr(forecast.get('model', ''))}</td>"
        + _num(forecast.get("predicted"), "predicted", section="forecast")
        + _num(forecast.get("low"), "low", section="forecast")
        + _num(forecast.get("high"), "high", section="forecast")
        + _num(forecast.get("actual"), "actual", section="forecast")
        + "</tr>",
    ]
    return "<h2>Forecast</h2><table>" + "".join(cells) + "</table>"


def render_html(report: dict[str, Any]) -> str:
    """The report dict (JSON keys, plus optional `band` and `breakdowns`) as one HTML page."""
    names = list(report["metrics"])
    headline = metrics.pick_headline(names) if names else "clicks"
    forecast = report.get("forecast") or {}
    counts = str(forecast.get("counts", ""))
    # a reshare headline is drawn as the reshares the forecast counts (reposts + quotes)
    chart = "reshares" if counts == "reshares" and headline in RESHARE_METRICS else headline
    title = f"engmon: {report['campaign']}"
    link = report.get("link")
    when = posted_words(report["post_time"], report.get("post_time_local"), report.get("tz"))
    posted = f"the post of {when}"
    if report["post_time"] in (None, RELATIVE_ANCHOR.isoformat().replace("+00:00", "Z")):
        posted = "the post (time unknown; give --post-time)"  # as the text report says
    sub = [f"{_offset(report['at_s'])} after {posted}"]
    if report.get("followers"):
        sub.append(f"to {compact_count(report['followers'])} followers")  # as the text says
    kpis = [
        '<div class="kpi">'
        + _num(report["engagement"], "engagement", tag="b")
        + "<span>engaged (clicks, replies, reposts, quotes)</span></div>",
        '<div class="kpi">'
        + _num(report["per_1k_followers"], "per_1k_followers", tag="b")
        + "<span>engaged per 1k followers</span></div>",
    ]
    kpis += [
        f'<div class="kpi">{_num(report["metrics"][n]["count"], "count", tag="b", metric=n)}'
        f"<span>{_attr(n)}</span></div>"
        for n in names
    ]
    metric_rows = [
        "<tr><th>metric</th><th>count</th><th>reach</th>"
        f"<th>peak per {_attr(report['bucket'])}</th><th>peak at</th><th>per min now</th>"
        "<th>first</th></tr>"
    ]
    for n in names:
        row = report["metrics"][n]
        metric_rows.append(
            f"<tr><td>{_attr(n)}</td>"
            + _num(row["count"], "count", metric=n)
            + _num(row["reach"], "reach", metric=n)
            + _num(row["peak"]["value"], "peak", metric=n)
            + f"<td>{_attr(_offset(row['peak']['at_s']))}</td>"
            + _num(row["velocity_per_min"], "velocity_per_min", metric=n)
            + f"<td>{_attr(_offset(row['first_s']))}</td></tr>"
        )
    body = [
        f"<h1>{_attr(title)}</h1>",
        f'<p class="sub">{_attr(" ".join(sub))}' + (f"<br>{_attr(link)}" if link else "") + "</p>",
        f'<p class="verdict" data-field="verdict">{_attr(report["verdict"])}</p>',
        '<div class="kpis">' + "".join(kpis) + "</div>",
        f"<h2>{_attr(chart)} over time</h2>",
        curve_svg(report, chart),
        "<h2>Metrics</h2>",
        "<table>" + "".join(metric_rows) + "</table>",
    ]
    if forecast:
        if counts not in (chart, "") and _series(report, counts):
            body.extend([f"<h2>{_attr(counts)} over time</h2>", curve_svg(report, counts)])
        body.append(_forecast_html(forecast))
    for dimension, rows in (report.get("breakdowns") or {}).items():
        table = [
            "<tr><th>" + _attr(dimension) + "</th><th>count</th><th>share</th><th>per 1k</th></tr>"
        ]
        for row in rows:
            share = f"{row['share'] * 100:.0f}%" if row["share"] is not None else "–"
            table.append(
                f"<tr><td>{_attr(row['value'])}</td>"
                + _num(row["count"], "count", table=dimension, row=row["value"])
                + f'<td data-field="share" data-value="{_attr(row["share"])}">{share}</td>'
                + _num(row["per_1k"], "per_1k", table=dimension, row=row["value"])
                + "</tr>"
            )
        body.append(f"<h2>By {_attr(dimension)}</h2><table>" + "".join(table) + "</table>")
    body.extend(f'<p class="note">note: {_attr(note)}</p>' for note in report.get("notes", []))
    body.append(f'<p class="note">made by engmon {_attr(__version__)}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_attr(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
