"""``akarom serve``: the app under uvicorn, with structured (JSON) logs."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

from akarom.config import Settings

__all__ = ["JsonFormatter", "run_server"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _log_config() -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.access": {"level": "INFO"},
            "httpx": {"level": "WARNING"},
        },
    }


def run_server(settings: Settings, *, host: str, port: int, demo: bool) -> None:
    """Serve until interrupted (blocking). A proxy on this machine that terminates TLS
    says so with ``X-Forwarded-Proto`` (trusted from loopback only): the session cookie
    is then Secure."""
    import uvicorn

    from akarom.web.app import create_app

    transports = None
    on_start = None
    if demo:
        from akarom.web.demo import demo_login, demo_settings, demo_transports

        settings = demo_settings(settings)
        transports = demo_transports()
        on_start = demo_login
    app = create_app(
        settings,
        demo=demo,
        transports=transports,
        on_start=on_start,
    )
    shown = f"[{host}]" if ":" in host else host
    logging.config.dictConfig(_log_config())
    logging.getLogger(__name__).info(
        "akarom %s at http://%s:%d/", "demo" if demo else "serving", shown, port
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=_log_config(),
        proxy_headers=True,
        # asyncio's own loop, not uvloop: under uvloop, when many connections opened at
        # once, the first requests of some waited ~1.5 s while others were served over
        # and over (measured: docs/benchmarks.md, web); httptools parses HTTP either way.
        loop="asyncio",
        http="httptools",
    )
