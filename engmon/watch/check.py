"""`engmon check`: one poll per source, one line each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TextIO

from engmon.config import CampaignConfig
from engmon.core.printable import printable
from engmon.sources.base import Source
from engmon.watch.poller import SourcePoller
from engmon.watch.session import make_client


def check_label(source: Source) -> str:
    """`name (kind): what is polled`, naming the source once (`describe()` starts with the
    kind and the name, which are the same word unless the user named the source)."""
    label = source.name if source.name == source.kind else f"{source.name} ({source.kind})"
    what = source.describe()
    for prefix in (
        f"{source.kind} {source.name}: ",
        f"{source.kind} {source.name}",
        f"{source.kind} ",
    ):
        if what.startswith(prefix):
            what = what.removeprefix(prefix)
            break
    return f"{label}: {what}" if what else label


async def check_sources(config: CampaignConfig, out: TextIO) -> int:
    """One poll per source, one line each (counts and time range, never a secret).

    Returns the number of sources that failed.
    """
    pollers = [SourcePoller(source) for source in config.sources]
    async with make_client() as client:
        now = datetime.now(UTC)
        results = await asyncio.gather(
            *(poller.poll_once(client, now) for poller in pollers), return_exceptions=True
        )
    failed = 0
    for poller, result in zip(pollers, results, strict=True):
        what = check_label(poller.source)
        if isinstance(result, BaseException):
            failed += 1
            line = f"FAIL {what}: {type(result).__name__}: {result}"
        elif result is None:
            failed += 1
            error = poller.status.last_error or "no answer"
            error = error.removeprefix(f"{poller.source.name}: ")  # the line names it already
            line = f"FAIL {what}: {error}"
        elif result.missing is not None:
            failed += 1
            missing = result.missing.removeprefix(f"{poller.source.name}: ")
            line = f"FAIL {what}: {missing}"
        elif result.partial_error is not None:  # part of it answered: still a failure to fix
            failed += 1
            partial = str(result.partial_error).removeprefix(f"{poller.source.name}: ")
            line = f"FAIL {what}: {partial} (got {result.summary or 'no data'})"
        else:
            facts = "".join(f", {name} {value:g}" for name, value in result.facts.items())
            line = f"ok   {what}: {result.summary or 'no data'}{facts}"
        print(printable(line), file=out)  # feed text and paths may hold terminal escapes
    if not pollers:
        print(f"{config.path}: no [[sources]] to poll", file=out)
    return failed
