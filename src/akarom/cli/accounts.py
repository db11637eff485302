"""``akarom dealer …`` and ``akarom apikey …``: dealers (tenants) and their REST API keys.

The operator's commands, run on the server's machine with its settings (the same
database as ``akarom serve``)::

    akarom dealer create NAME --admin EMAIL     password on standard input, one line
    akarom apikey create --dealer NAME [--label TEXT]
    akarom apikey list --dealer NAME
    akarom apikey revoke KEY_ID

A password is never an argument (it would stay in the shell's history and be seen
by every user in ``ps``): it is read from standard input, or, at a terminal, typed
twice without echo. A new API key is printed alone on the last line of standard
output, once; only its hash is stored.

Like every command, these raise their problems to the error edge (``_edge``), which
says them in the person's language. Importing this module loads only Typer; the
services and the database load when a command runs.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from akarom.cli._params import lighten
from akarom.domain import JST

if TYPE_CHECKING:
    from typer._click import Command, Context

    from akarom.config import Settings
    from akarom.storage import StoredApiKey
    from akarom.texts import Lang

__all__ = ["apikey_app", "command_group", "dealer_app"]

LangOption = Annotated[
    str | None,
    typer.Option("--lang", help="ja (default) or en; also AKAROM_LANG.", show_default=False),
]


class _LightGroup(TyperGroup):
    """A sub-command group whose options are coerced without pydantic (``_params``)."""

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            lighten(command.get_params(ctx))
        return command


def command_group(help_text: str) -> typer.Typer:
    """A group of sub-commands (``akarom dealer …``), its options coerced without pydantic."""
    return typer.Typer(cls=_LightGroup, help=help_text, no_args_is_help=True, rich_markup_mode=None)


dealer_app = command_group("販売店（テナント）を管理します。Manage dealers (tenants).")
apikey_app = command_group("REST API のキーを管理します。Manage REST API keys.")


def _begin(lang: str | None) -> tuple[Settings, Lang]:
    from akarom.cli import _begin as begin  # the one place a command learns its settings

    return begin(lang)


def _read_password(lang: Lang) -> str:
    """The new password: typed twice without echo at a terminal, else one stdin line."""
    from akarom.errors import UsageError
    from akarom.services.accounts import MIN_PASSWORD, check_password
    from akarom.texts import text

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass(
            text("accounts.password_prompt", lang).format(minimum=MIN_PASSWORD)
        )
        check_password(password)  # said now, not after the second typing
        again = getpass.getpass(text("accounts.password_again", lang))
        if again != password:
            raise UsageError("the two passwords differ", key="accounts.passwords_differ")
        return password
    # Only the line break ends the line: spaces may be part of a password.
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError(
            "give the password on standard input, one line", key="accounts.password_missing"
        )
    return password


@dealer_app.command("create")
def dealer_create(
    name: Annotated[str, typer.Argument(help="The dealer's name (up to 100 characters).")],
    admin: Annotated[
        str, typer.Option("--admin", help="The first admin's e-mail address.", show_default=False)
    ],
    lang: LangOption = None,
) -> None:
    """販売店と最初の管理者を登録します（パスワードは標準入力）。Create a dealer and admin."""
    from akarom.services.accounts import check_email, check_password, create_dealer
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    email = check_email(admin)  # before asking for a password that could not be used
    password = check_password(_read_password(chosen))
    with open_store(settings) as store:
        dealer = create_dealer(store, name, email, password)
    print(
        text("accounts.dealer_created", chosen).format(
            name=dealer.name, dealer_id=dealer.id, email=email
        )
    )


@apikey_app.command("create")
def apikey_create(
    dealer: Annotated[
        str,
        typer.Option("--dealer", help="Whose key it is (the dealer's name).", show_default=False),
    ],
    label: Annotated[
        str | None,
        typer.Option("--label", help="What the key is for, shown in lists.", show_default=False),
    ] = None,
    lang: LangOption = None,
) -> None:
    """API キーを作成します（キーは最後の行に一度だけ表示）。Create a key, printed once."""
    from akarom.services.accounts import create_api_key
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        stored, secret = create_api_key(store, dealer, label)
    print(text("accounts.key_shown_once", chosen).format(name=dealer.strip(), key_id=stored.id))
    print(secret, flush=True)  # alone on the last line: `… | tail -n 1` gets the key


def _when(value: datetime | None, missing: str = "-") -> str:
    """A moment as Japan's time (the dealers are in Japan), or ``missing``."""
    return missing if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M")


def _key_rows(keys: list[StoredApiKey], lang: Lang) -> list[list[str]]:
    from akarom.texts import text

    return [
        [
            str(key.id),
            key.prefix + "…",
            key.label or "-",
            _when(key.created_at),
            _when(key.last_used_at, text("accounts.never", lang)),
            _when(key.revoked_at),
        ]
        for key in keys
    ]


@apikey_app.command("list")
def apikey_list(
    dealer: Annotated[
        str, typer.Option("--dealer", help="Whose keys (the dealer's name).", show_default=False)
    ],
    lang: LangOption = None,
) -> None:
    """販売店の API キーを一覧します（キー本体は表示しません）。List a dealer's keys."""
    from rich.table import Table

    from akarom.cli._output import out
    from akarom.services.accounts import list_api_keys
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        keys = list_api_keys(store, dealer)
    if not keys:
        print(text("accounts.no_keys", chosen).format(name=dealer.strip()))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "prefix", "label", "created", "last_used", "revoked"):
        table.add_column(text(f"accounts.column.{column}", chosen), overflow="fold")
    for row in _key_rows(keys, chosen):
        table.add_row(*row)
    out().print(table)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (from apikey list).")],
    lang: LangOption = None,
) -> None:
    """API キーを無効にします。Revoke a key (a running server may accept it for 5 more s)."""
    from akarom.errors import UsageError
    from akarom.services.accounts import revoke_api_key
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        revoked = revoke_api_key(store, key_id)
    if not revoked:
        raise UsageError(
            f"there is no API key {key_id}, or it is revoked already",
            key="accounts.unknown_key",
            key_id=key_id,
        )
    print(text("accounts.key_revoked", chosen).format(key_id=key_id))
