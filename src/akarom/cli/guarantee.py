"""``akarom guarantee …``: 販売した端末の赤ロム保証を管理します。Manage guarantees on sold devices.

Importing this module loads only Typer; the services and the database load when a
command runs (start-up of every other command pays nothing for them).
"""

from __future__ import annotations

import typer

from akarom.cli.accounts import _LightGroup

__all__ = ["guarantee_app", "register_guarantee"]

guarantee_app = typer.Typer(
    cls=_LightGroup,
    help="販売した端末の赤ロム保証を管理します。Manage guarantees on sold devices.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register_guarantee(app: typer.Typer) -> None:
    """Add ``guarantee`` to the ``akarom`` command."""
    app.add_typer(guarantee_app, name="guarantee")
