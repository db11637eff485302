"""``akarom monitor …``: 保証中の端末を予算内で再確認します。
Re-check guaranteed devices within the budget.

Importing this module loads only Typer; the services and the database load when a
command runs (start-up of every other command pays nothing for them).
"""

from __future__ import annotations

import typer

from akarom.cli.accounts import _LightGroup

__all__ = ["monitor_app", "register_monitor"]

monitor_app = typer.Typer(
    cls=_LightGroup,
    help="保証中の端末を予算内で再確認します。Re-check guaranteed devices within the budget.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register_monitor(app: typer.Typer) -> None:
    """Add ``monitor`` to the ``akarom`` command."""
    app.add_typer(monitor_app, name="monitor")
