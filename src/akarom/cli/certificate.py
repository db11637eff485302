"""``akarom certificate …``: 証明書を発行・検証します。Issue and verify check certificates.

Importing this module loads only Typer; the services and the database load when a
command runs (start-up of every other command pays nothing for them).
"""

from __future__ import annotations

import typer

from akarom.cli.accounts import _LightGroup

__all__ = ["certificate_app", "register_certificate"]

certificate_app = typer.Typer(
    cls=_LightGroup,
    help="証明書を発行・検証します。Issue and verify check certificates.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register_certificate(app: typer.Typer) -> None:
    """Add ``certificate`` to the ``akarom`` command."""
    app.add_typer(certificate_app, name="certificate")
