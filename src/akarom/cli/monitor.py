"""``akarom monitor …``: 保証中の端末を予算内で再確認します。
Re-check guaranteed devices within the budget.

``akarom monitor once`` makes one pass (what is due now, within the share of the day's
budget released so far) and prints what it did; ``akarom monitor run`` makes a pass
every minute until SIGTERM or Ctrl-C, logging as JSON like ``akarom worker``. State
(what is due, what was spent today, which carrier is down) lives in the database, so a
restarted monitor carries on where the last one stopped. Importing this module loads
only Typer; the services and the database load when a command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from akarom.cli.accounts import LangOption, _begin, command_group

if TYPE_CHECKING:
    from akarom.config import Settings
    from akarom.services.monitor import MonitorPass
    from akarom.texts import Lang

__all__ = ["monitor_app"]

monitor_app = command_group(
    "保証中の端末を予算内で再確認します。Re-check guaranteed devices within the budget."
)


@monitor_app.command("once")
def monitor_once(lang: LangOption = None) -> None:
    """期限の来た端末を一度だけ再確認し、通知を送ります。One pass, then exit."""
    from akarom.services import run_paced

    settings, chosen = _begin(lang)
    _print_pass(run_paced(_once(settings)), chosen)


@monitor_app.command("run")
def monitor_run(
    every: Annotated[
        float, typer.Option("--every", help="Seconds between passes.", min=1.0)
    ] = 60.0,
) -> None:
    """停止されるまで再確認を続けます（JSONログ）。Keep re-checking until stopped."""
    from akarom.cli.worker import _log_as_json
    from akarom.services import run_paced

    settings, _ = _begin(None)
    _log_as_json()
    run_paced(_run(settings, every))


async def _once(settings: Settings) -> MonitorPass:
    from akarom.services.monitor import open_monitor

    async with open_monitor(settings) as monitor:
        return await monitor.once()


async def _run(settings: Settings, every: float) -> None:
    import asyncio
    import contextlib
    import signal
    from datetime import timedelta

    from akarom.services.monitor import open_monitor

    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, main.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        async with open_monitor(settings) as monitor:
            await monitor.run(timedelta(seconds=every))


def _print_pass(done: MonitorPass, lang: Lang) -> None:
    from akarom.texts import text

    for carrier in done.carriers:
        print(
            text("monitor.carrier_pass", lang).format(
                carrier=carrier.carrier.label(lang),
                asked=carrier.asked,
                answered=carrier.answered,
                unanswered=carrier.unanswered,
                changes=len(carrier.changes),
                claims=len(carrier.claims),
                spent=carrier.spent_before + carrier.asked,
                budget=carrier.budget,
            )
        )
    alerts = done.alerts
    print(
        text("monitor.alerts", lang).format(
            delivered=alerts.delivered, retrying=alerts.retrying, given_up=alerts.given_up
        )
    )
