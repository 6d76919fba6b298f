"""Alerts fire when their rule holds, once per cool-down, and run the configured command."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engmon.core.alerts import Alert, AlertFacts, AlertRules, AlertRunner, due_alerts

POST = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def _facts(
    minute: float, velocity: float = 0.0, engagement: float = 0.0, **kw: float
) -> AlertFacts:
    return AlertFacts(
        now=POST + timedelta(minutes=minute),
        elapsed_s=minute * 60,
        metric="clicks",
        velocity=velocity,
        engagement=engagement,
        **kw,
    )


def test_spike_over_threshold() -> None:
    rules = AlertRules(spike_per_min=5.0, flat_minutes=None)
    assert due_alerts(rules, _facts(3, velocity=4.9, engagement=10), {}) == []
    alerts = due_alerts(rules, _facts(3, velocity=6.0, engagement=10), {})
    assert [a.kind for a in alerts] == ["spike"]
    assert "6 clicks/min" in alerts[0].message


def test_spike_over_band() -> None:
    rules = AlertRules(flat_minutes=None)
    assert due_alerts(rules, _facts(3, velocity=2.0, engagement=5, band_p90=2.5), {}) == []
    alerts = due_alerts(rules, _facts(3, velocity=3.0, engagement=5, band_p90=2.5), {})
    assert [a.kind for a in alerts] == ["spike"]
    assert "above your usual 2.5/min" in alerts[0].message
    off = AlertRules(flat_minutes=None, band_spikes=False)
    assert due_alerts(off, _facts(3, velocity=3.0, engagement=5, band_p90=2.5), {}) == []


def test_flat_after_n_minutes_of_nothing() -> None:
    rules = AlertRules(flat_minutes=10)
    assert due_alerts(rules, _facts(9.9), {}) == []
    assert due_alerts(rules, _facts(12, engagement=1), {}) == []
    alerts = due_alerts(rules, _facts(10), {})
    assert [a.kind for a in alerts] == ["flat"]
    assert alerts[0].message == "flat: nothing 10 min after the post"


def test_runner_fires_once_per_cooldown() -> None:
    runner = AlertRunner(AlertRules(spike_per_min=5.0, flat_minutes=None, cooldown_s=600))
    fired = [len(runner.check(_facts(m, velocity=9.0, engagement=50))) for m in range(0, 25)]
    # spiking the whole time: minute 0, then again only once 10 minutes have passed
    assert fired == [1] + [0] * 9 + [1] + [0] * 9 + [1] + [0] * 4
    runner.reset()
    assert len(runner.check(_facts(24.5, velocity=9.0, engagement=50))) == 1


async def test_command_gets_the_alert(tmp_path: Path) -> None:
    out = tmp_path / "alert.txt"
    script = (
        "import os, sys; open(sys.argv[1], 'w').write("
        "os.environ['ENGMON_ALERT_KIND'] + '|' + os.environ['ENGMON_ALERT_MESSAGE'])"
    )
    runner = AlertRunner(AlertRules(command=(sys.executable, "-c", script, str(out))))
    code = await runner.run_command(Alert("flat", POST, "flat: nothing 10 min after the post"))
    assert code == 0
    assert out.read_text() == "flat|flat: nothing 10 min after the post"


async def test_command_missing_or_absent_is_not_fatal(tmp_path: Path) -> None:
    alert = Alert("spike", POST, "spike")
    assert await AlertRunner(AlertRules()).run_command(alert) is None
    missing = AlertRunner(AlertRules(command=(str(tmp_path / "no-such-program"),)))
    assert await missing.run_command(alert) is None
    failing = AlertRunner(AlertRules(command=(sys.executable, "-c", "raise SystemExit(3)")))
    assert await failing.run_command(alert) == 3
