"""Alerts: tell the user when something happens, once, not every poll.

Two rules. **spike**: the headline rate per minute reaches `spike_per_min`, or goes over the
top (p90) of the expected band for this minute. **flat**: nothing at all `flat_minutes` after
the post. `due_alerts` is pure (facts + when each kind last fired -> alerts to fire now); an
alert of one kind is never repeated within `cooldown_s`. `AlertRunner` keeps that memory and
runs the optional command (argv list, no shell) with the alert in its environment; chat
webhooks (`WebhookTarget`) are posted by `engmon.watch.webhooks` (HTTP stays out of core).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

import polars as pl

from engmon.core.standing import Standing, standing_at

AlertKind = Literal["spike", "flat"]
WebhookKind = Literal["slack", "discord", "ntfy", "json"]
WEBHOOK_KINDS: Final[tuple[WebhookKind, ...]] = ("slack", "discord", "ntfy", "json")

DEFAULT_COOLDOWN_S: Final = 300.0
"""The `[alerts]` table's default cool-down (engmon.config)."""
COMMAND_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True)
class WebhookTarget:
    """Where to post alerts: a chat webhook of `kind`, its URL read from `url_env`.

    The URL is a secret (it grants posting to the channel): it is left out of `repr`, and
    messages name the target by its environment variable only.
    """

    kind: WebhookKind
    url_env: str
    url: str = field(repr=False)

    @property
    def label(self) -> str:
        """How messages name this target (never by its URL)."""
        return f"{self.kind} webhook ${self.url_env}"


@dataclass(frozen=True)
class AlertRules:
    """What to alert on (the config's `[alerts]` table); None switches a rule off.

    `command` (argv, no shell) runs and each of `webhooks` is posted to on each alert, at most
    once per `cooldown_s` per kind; `band_spikes` also alerts when the rate goes over the
    expected band of past posts (only when there is a history to draw one).
    """

    spike_per_min: float | None = None
    flat_minutes: float | None = None
    command: tuple[str, ...] = ()
    cooldown_s: float = DEFAULT_COOLDOWN_S
    band_spikes: bool = True
    webhooks: tuple[WebhookTarget, ...] = ()


@dataclass(frozen=True)
class AlertFacts:
    """The numbers alerts look at, as they stood at `now`."""

    now: datetime
    elapsed_s: float
    metric: str
    velocity: float
    """Headline metric per minute, recent average."""
    engagement: float
    """Everything honest since the post (0 means nothing happened yet)."""
    band_p90: float | None = None
    """Top of the expected band for this minute, in the same unit as `velocity`."""


@dataclass(frozen=True)
class Alert:
    """One alert to deliver."""

    kind: AlertKind
    at: datetime
    message: str


def _rate(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"


def _triggered(rules: AlertRules, facts: AlertFacts) -> list[Alert]:
    found: list[Alert] = []
    per_min = f"{_rate(facts.velocity)} {facts.metric}/min"
    if rules.spike_per_min is not None and facts.velocity >= rules.spike_per_min > 0:
        found.append(
            Alert("spike", facts.now, f"spike: {per_min} (threshold {rules.spike_per_min:g})")
        )
    elif (
        rules.band_spikes
        and facts.band_p90 is not None
        and facts.band_p90 > 0
        and facts.velocity > facts.band_p90
    ):
        band = _rate(facts.band_p90)
        found.append(Alert("spike", facts.now, f"spike: {per_min}, above your usual {band}/min"))
    if (
        rules.flat_minutes is not None
        and facts.elapsed_s >= rules.flat_minutes * 60
        and facts.engagement <= 0
    ):
        minutes = facts.elapsed_s // 60
        found.append(Alert("flat", facts.now, f"flat: nothing {minutes:.0f} min after the post"))
    return found


def due_alerts(
    rules: AlertRules, facts: AlertFacts, last_fired: Mapping[AlertKind, datetime]
) -> list[Alert]:
    """Alerts whose rule holds now and whose kind has not fired within the cool-down."""
    due: list[Alert] = []
    for alert in _triggered(rules, facts):
        last = last_fired.get(alert.kind)
        if last is None or (facts.now - last).total_seconds() >= rules.cooldown_s:
            due.append(alert)
    return due


@dataclass
class AlertRunner:
    """Remembers when each kind fired; `check` returns the alerts to deliver now."""

    rules: AlertRules
    last_fired: dict[AlertKind, datetime] = field(default_factory=dict)

    def check(self, facts: AlertFacts) -> list[Alert]:
        """Alerts due now, marked as fired (so the next call within the cool-down is quiet)."""
        due = due_alerts(self.rules, facts, self.last_fired)
        for alert in due:
            self.last_fired[alert.kind] = alert.at
        return due

    def reset(self) -> None:
        """Forget what fired (a replay seeked back to the start)."""
        self.last_fired.clear()

    async def run_command(self, alert: Alert, campaign: str = "") -> int | None:
        """Run the configured command for `alert` (no shell); its exit code, None if none ran.

        The alert reaches the command as ENGMON_ALERT_KIND, ENGMON_ALERT_MESSAGE and
        ENGMON_CAMPAIGN. A command that fails or hangs is reported, never fatal.
        """
        if not self.rules.command:
            return None
        return await run_alert_command(self.rules.command, alert, campaign)


async def run_alert_command(command: Sequence[str], alert: Alert, campaign: str = "") -> int | None:
    """Start `command` with the alert in its environment; exit code, or None when it could
    not start or ran past the timeout (then it is killed)."""
    env = {
        **os.environ,
        "ENGMON_ALERT_KIND": alert.kind,
        "ENGMON_ALERT_MESSAGE": alert.message,
        "ENGMON_CAMPAIGN": campaign,
    }
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        return await asyncio.wait_for(process.wait(), COMMAND_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None


def command_problem(command: Sequence[str], code: int | None) -> str | None:
    """One line on an alert command that did not succeed (None when it exited 0)."""
    if code == 0:
        return None
    what = (
        f"exited {code}"
        if code is not None
        else f"did not start or ran past {COMMAND_TIMEOUT_S:g} s"
    )
    return f"alert command {command[0]!r} {what}"


def standing_facts(standing: Standing, now: datetime) -> AlertFacts:
    """The alert facts of a standing: the headline's rate now and the engagement so far."""
    return AlertFacts(
        now, standing.elapsed_s, standing.headline, standing.velocity, standing.engagement
    )


def store_facts(
    minutes: pl.DataFrame, levels: pl.DataFrame, post_time: datetime, now: datetime
) -> AlertFacts:
    """The alert facts of a store's per-minute aggregate and levels at `now`, for callers
    without a dashboard view (`engmon watch --plain`, a filtered dashboard)."""
    elapsed_s = (now - post_time).total_seconds()
    standing = standing_at(minutes, levels, post_time=post_time, elapsed_s=elapsed_s)
    return standing_facts(standing, now)
