"""``akarom alert …``: 変化の通知先を管理します。Manage where status-change alerts go.

Importing this module loads only Typer; the services and the database load when a
command runs (start-up of every other command pays nothing for them).
"""

from __future__ import annotations

import typer

from akarom.cli.accounts import _LightGroup

__all__ = ["alert_app", "register_alerts"]

alert_app = typer.Typer(
    cls=_LightGroup,
    help="変化の通知先を管理します。Manage where status-change alerts go.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register_alerts(app: typer.Typer) -> None:
    """Add ``alert`` to the ``akarom`` command."""
    app.add_typer(alert_app, name="alert")
