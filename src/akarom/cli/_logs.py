"""Logs on standard error, through Rich, for the commands that run services."""

from __future__ import annotations

import logging

from akarom.cli._output import err

__all__ = ["LazyRichHandler", "log_to_terminal"]


class LazyRichHandler(logging.Handler):
    """Rich's log handler on standard error, made when the first record arrives."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._inner: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._inner is None:
            from rich.logging import RichHandler

            self._inner = RichHandler(console=err(), show_path=False, markup=False)
            self._inner.setFormatter(self.formatter)
        self._inner.handle(record)


def log_to_terminal(verbosity: int) -> None:
    """Warnings and up (``-v``: progress, ``-vv``: debug) to standard error."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format="%(message)s", handlers=[LazyRichHandler()], force=True)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
