"""`engmon report --format html`: one self-contained page whose numbers are the JSON report's,
with every feed string escaped and nothing loaded from anywhere."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from engmon.cli import main
from engmon.core import history
from engmon.core.metrics import minute_counts
from engmon.sources import scenarios

HOSTILE = '<script>alert("x")</script>'
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'


class Page(HTMLParser):
    """Every tag, every attribute, the text, and the cells that carry a data-value."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.values: dict[tuple[str, ...], tuple[str, str]] = {}
        self._open: tuple[tuple[str, ...], str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        found = dict(attrs)
        if "data-value" in found:
            key = tuple(
                str(found[k])
                for k in ("data-field", "data-metric", "data-table", "data-row")
                if k in found
            )
            self._open = (key, str(found["data-value"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._open is not None:
            key, value = self._open
            self.values[key] = (value, data)
            self._open = None

    def value(self, *key: str) -> float | None:
        raw = self.values[key][0]
        return None if raw == "" else float(raw)


def _post(tmp_path: Path, *, events_only: bool = False) -> Path:
    """The small-account scenario with hostile referrers and devices, under a hostile name."""
    built = scenarios.build("small-account", seed=7)
    frame = (
        built.frame.with_row_index("n")
        .with_columns(
            referrer=pl.when(pl.col("n") % 7 == 1)
            .then(pl.lit(f"https://evil.example/{HOSTILE}"))
            .otherwise(pl.col("referrer")),
            device=pl.when(pl.col("n") % 5 == 1)
            .then(pl.lit(HOSTILE_ATTR))
            .otherwise(pl.col("device")),
        )
        .drop("n")
    )
    path = tmp_path / "launch <b>day & &amp;.parquet"
    if events_only:
        frame.write_parquet(path)  # no followers row: the report scans only event columns
    else:
        scenarios.save(replace(built, frame=frame), path)
    return path


def _page(path: Path, *args: str) -> tuple[dict[str, object], Page, str]:
    runner = CliRunner()
    as_json = runner.invoke(main, ["report", str(path), "--format", "json", "--forecast", *args])
    assert as_json.exit_code == 0, as_json.output
    as_html = runner.invoke(main, ["report", str(path), "--format", "html", *args])
    assert as_html.exit_code == 0, as_html.output
    page = Page()
    page.feed(as_html.stdout)
    page.close()
    return json.loads(as_json.stdout), page, as_html.stdout


@pytest.mark.parametrize(("at", "events_only"), [("45m", False), ("4h", False), ("4h", True)])
def test_page_numbers_are_the_json_reports(
    at: str, events_only: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))
    report, page, _ = _page(_post(tmp_path, events_only=events_only), "--at", at)
    assert page.value("engagement") == report["engagement"]
    assert page.value("per_1k_followers") == report["per_1k_followers"]
    metrics = report["metrics"]
    assert isinstance(metrics, dict) and metrics
    for name, row in metrics.items():
        assert page.value("count", name) == row["count"]
        assert page.value("reach", name) == row["reach"]
        assert page.value("peak", name) == row["peak"]["value"]
        assert page.value("velocity_per_min", name) == pytest.approx(row["velocity_per_min"])
        shown = page.values[("count", name)][1].replace(",", "")
        assert float(shown) == row["count"]  # what a reader sees, not only the attribute
    forecast = report["forecast"]
    assert isinstance(forecast, dict)
    for key in ("predicted", "low", "high", "actual"):
        assert page.value(key) == pytest.approx(forecast[key])
    text = "".join(page.text)
    assert str(report["verdict"]) in text
    # the platform table splits the same engagement the KPIs count
    platform = [v for k, v in page.values.items() if k[:2] == ("count", "platform")]
    assert platform and sum(float(value) for value, _ in platform) == report["engagement"]
    assert "By country" in text and "By device" in text


def test_feed_strings_are_escaped_and_nothing_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))
    _, page, raw = _page(_post(tmp_path, events_only=True))
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert HOSTILE not in raw and HOSTILE_ATTR not in raw
    text = "".join(page.text)
    assert "launch <b>day & &amp;" in text
    assert HOSTILE_ATTR in text  # shown as typed, in the device table
    # nothing to fetch: no script, link, image, frame or external reference
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    names = {name for name, _ in page.attrs}
    assert not {"src", "href", "srcset", "onerror", "onload"} & names
    assert "url(" not in raw and "@import" not in raw
    assert page.tags.count("svg") >= 1


def test_the_band_of_past_posts_is_drawn_when_there_is_a_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "history"
    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(folder))
    path = _post(tmp_path)
    _, without, _ = _page(path, "--at", "45m")
    post_time = scenarios.build("small-account", seed=7).campaign.post_time
    assert post_time is not None
    for day in range(1, 6):
        when = post_time - timedelta(days=day)
        frame = scenarios.build("small-account", seed=day).frame.with_columns(
            pl.col("ts") - timedelta(days=day)
        )
        minutes = minute_counts(frame.lazy(), when).collect()
        history.save_post(history.post_curve(minutes, f"past-{day}", when, 2000), folder)
    _, with_band, raw = _page(path, "--at", "45m")
    assert "polygon" not in without.tags
    assert "polygon" in with_band.tags
    assert "your usual range" in raw


async def test_the_page_says_what_the_dashboard_says_at_the_same_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engmon.sources.files import FileSpec, load_observations
    from engmon.tui.app import EngmonApp
    from engmon.watch.replay import replay_setup
    from engmon.watch.session import Session

    monkeypatch.setenv("ENGMON_HISTORY_DIR", str(tmp_path / "history"))
    path = _post(tmp_path)
    report, page, _ = _page(path, "--at", "45m")
    loaded = load_observations(FileSpec.from_cli(path))
    campaign, source, clock, store = replay_setup(
        loaded.frame, loaded.campaign, start=timedelta(minutes=45), paused=True
    )
    app = EngmonApp(Session(campaign, [source], clock, store=store))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(250):
            if app.view is not None and source.emitted and app.view.kpis.clicks:
                break
            await pilot.pause(0.02)
        app.refresh_dashboard()
        await pilot.pause()
        assert app.view is not None
        kpis, said = app.view.kpis, app.view.verdict.text
    assert page.value("count", "clicks") == kpis.clicks
    assert page.value("count", "replies") == kpis.replies
    assert page.value("engagement") == kpis.engagement
    assert page.value("per_1k_followers") == pytest.approx(kpis.per_1k)
    assert said.startswith(str(report["verdict"]))
