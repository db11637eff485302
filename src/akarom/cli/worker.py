"""``akarom worker``: runs queued jobs until SIGTERM or Ctrl-C (``services.engine``)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from akarom.config import DEFAULT_WORKER_BATCHES, Settings

__all__ = ["worker_app"]

logger = logging.getLogger("akarom.worker")

#: How long the graceful stop may take before it is cut short.
_STOP_WITHIN_S = 25.0


worker_app = typer.Typer(add_completion=False, rich_markup_mode=None)


@worker_app.command()
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            help="Batches this worker runs at once; checks have their own 16 places.",
        ),
    ] = DEFAULT_WORKER_BATCHES,
) -> None:
    """キューのジョブ（Webの確認・一括確認）を実行します（PostgreSQL）。Run queued jobs."""
    from akarom.cli import _begin
    from akarom.errors import UsageError
    from akarom.services.engine import engine_conninfo

    settings, _ = _begin(None)
    conninfo = engine_conninfo(settings)
    if conninfo is None:
        raise UsageError(
            "akarom worker needs AKAROM_DATABASE_URL on PostgreSQL",
            key="usage.worker_postgres",
        )
    _log_as_json()
    from akarom.services import run_paced

    run_paced(_work(settings, conninfo, concurrency))


def _log_as_json() -> None:
    import logging.config

    from akarom.web.server import JsonFormatter

    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
            "root": {"handlers": ["stderr"], "level": "INFO"},
            "loggers": {"httpx": {"level": "WARNING"}},
        }
    )


async def _work(settings: Settings, conninfo: str, batches: int) -> None:
    """``run_worker`` until SIGTERM or SIGINT, which is its graceful stop."""
    # Imported here: the other commands' start-up pays for none of them.
    import asyncio
    import contextlib
    import signal

    from akarom.services.engine import run_worker

    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()

    stopping: list[str] = []

    def stop(name: str) -> None:
        if stopping:
            logger.warning("%s again: stopping now", name)
            main.cancel()
            return
        stopping.append(name)
        logger.info("%s: finishing running checks, handing batches back to the queue", name)
        main.cancel()
        # Under systemd or compose, a stop that hangs (the database gone) is killed
        # at 30 s anyway; stop harder first, and say so.
        loop.call_later(_STOP_WITHIN_S, lambda: stopping and main.cancel())

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum.name)
    # Cancelled is the graceful stop asked for, done inside ``run_worker``.
    with contextlib.suppress(asyncio.CancelledError):
        await run_worker(settings, conninfo, batches=batches)
