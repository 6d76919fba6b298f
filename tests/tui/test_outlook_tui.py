"""The dashboard with a forecast, the expected band of past posts, and alerts (issue 7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import MakeApp
from posts import POST_TIME, post_frame
from screen import redraw, screen_text, settle

from engmon.core import history
from engmon.core.alerts import AlertRules
from engmon.core.metrics import minute_counts


def _past_posts(directory: Path, count: int, scale: int) -> None:
    """`count` past posts shaped like the fixture post, with `scale` times its clicks."""
    for day in range(1, count + 1):
        when = POST_TIME - timedelta(days=day)
        frame = post_frame({"clicks": (240 * scale, 20.0)}, seed=day, post_time=when)
        minutes = minute_counts(frame.lazy(), when).collect()
        history.save_post(history.post_curve(minutes, f"past-{day}", when, 2100), directory)


async def test_band_is_drawn_and_the_verdict_stands_against_it(
    make_app: MakeApp, tmp_path: Path
) -> None:
    _past_posts(tmp_path, 10, scale=10)
    app = make_app(45, history_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.view is not None)
        await redraw(pilot)
        assert app.view is not None
        curve = app.view.curve
        assert curve.band_low is not None and curve.band_high is not None
        assert len(curve.band_high) == len(curve.x)  # past posts reached minute 45
        assert all(lo <= hi for lo, hi in zip(curve.band_low, curve.band_high, strict=True))
        assert max(curve.band_high) > max(curve.values)  # ten times the clicks
        text = screen_text(app)
        assert "behind, slowing" in app.view.verdict.text  # standing first, then the shape
        assert "Behind 10 of your last 10 posts at minute 45" in app.view.verdict.text
        assert "Behind 10 of" in text  # on screen (the rest may wrap)
        assert "forecast reshares" in text


async def test_no_history_no_band_but_a_forecast(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(45, history_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.view is not None)
        await redraw(pilot)
        assert app.view is not None and app.view.outlook is not None
        assert app.view.curve.band_low is None
        assert "of your last" not in app.view.verdict.text
        assert app.view.outlook.forecast.model == "reshare model learned from public cascades"
        assert "Forecast" in app.view.verdict.text


async def test_history_is_saved_on_exit(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(45, history_dir=tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.view is not None)
    saved = history.load_history("clicks", tmp_path)
    assert saved.get_column("post").n_unique() == 1
    assert saved.get_column("minute").max() is not None


async def test_spike_alert_fires_once_not_on_every_redraw(make_app: MakeApp) -> None:
    app = make_app(10, alerts=AlertRules(spike_per_min=1.0, cooldown_s=600))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.view is not None)
        for _ in range(5):
            app._view_key = None  # force the view (and the alert check) to be recomputed
            await redraw(pilot)
        assert [a.kind for a in app.alerts_fired] == ["spike"]
        messages = [n.message for n in app._notifications]
        assert sum(m.startswith("spike:") for m in messages) == 1


async def test_flat_alert_runs_the_command(make_app: MakeApp, tmp_path: Path) -> None:
    out = tmp_path / "alert.txt"
    script = "import os,sys; open(sys.argv[1],'w').write(os.environ['ENGMON_ALERT_MESSAGE'])"
    rules = AlertRules(flat_minutes=5, command=("python3", "-c", script, str(out)))
    app = make_app(30, alerts=rules)
    app.session.store = type(app.store)(post_time=POST_TIME)  # nothing came in: a flat post
    app.store.merge(pl.DataFrame({"ts": [POST_TIME], "metric": ["likes"], "value": [0.0]}))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: bool(app.alerts_fired))
        await settle(pilot, lambda: out.exists() and out.stat().st_size > 0, tries=250)
        await redraw(pilot)
        assert [a.kind for a in app.alerts_fired] == ["flat"]
    assert out.read_text() == "flat: nothing 30 min after the post"


async def test_a_failing_alert_command_is_a_notification(make_app: MakeApp) -> None:
    rules = AlertRules(flat_minutes=5, command=("/nonexistent/hook",))
    app = make_app(30, alerts=rules)
    app.session.store = type(app.store)(post_time=POST_TIME)  # nothing came in: a flat post
    app.store.merge(pl.DataFrame({"ts": [POST_TIME], "metric": ["likes"], "value": [0.0]}))
    async with app.run_test(size=(120, 40)) as pilot:

        def told() -> bool:
            return any("'/nonexistent/hook' did not start" in n.message for n in app._notifications)

        await settle(pilot, told, tries=250)
        assert [a.kind for a in app.alerts_fired] == ["flat"]


def test_live_watch_passes_the_config_alerts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import engmon.tui.app
    from engmon.config import CampaignConfig, ExportConfig
    from engmon.core.campaign import Campaign
    from engmon.tui.launch import run_dashboard_watch
    from engmon.watch.session import Session

    seen: dict[str, Any] = {}

    def fake_run_dashboard(session: Session, **kw: Any) -> None:
        seen.update(kw, session=session)

    monkeypatch.setattr(engmon.tui.app, "run_dashboard", fake_run_dashboard)
    rules = AlertRules(spike_per_min=7, flat_minutes=12, command=("true",), cooldown_s=60)
    config = CampaignConfig(
        tmp_path / "c.toml",
        Campaign("c", post_time=POST_TIME),
        [],
        alerts=rules,
        export=ExportConfig(tmp_path / "exports"),
    )
    session = Session.open(config, tmp_path / "rec.ndjson", history_dir=tmp_path)
    run_dashboard_watch(session, export_dir=config.export.dir)
    session.close()
    assert seen["session"].alert_runner.rules == rules
    assert seen["session"].outlook.history_dir == tmp_path
    assert seen["export_dir"] == tmp_path / "exports"


async def test_alerts_watch_the_whole_campaign_while_a_filter_is_on(make_app: MakeApp) -> None:
    from engmon.core.breakdown import Filter, FilterStack

    app = make_app(10, alerts=AlertRules(flat_minutes=5, cooldown_s=600))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, lambda: app.view is not None)
        app.filters = FilterStack().push(Filter("platform", "nowhere"))  # an empty slice
        await redraw(pilot)
        assert app.view is not None and app.view.kpis.engagement == 0  # the slice is flat...
        assert app.alerts_fired == []  # ...the campaign is not
