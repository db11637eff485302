"""``akarom alert …``: 変化の通知先を管理します。Manage where status-change alerts go.

The operator's commands, run with the server's settings (the same database)::

    akarom alert add --dealer NAME --webhook URL     prints the signing secret once
    akarom alert add --dealer NAME --email ADDRESS
    akarom alert list --dealer NAME
    akarom alert disable TARGET_ID --dealer NAME
    akarom alert test TARGET_ID --dealer NAME        sends a signed test message now

A webhook's signing secret (``whsec_…``, Standard Webhooks) is printed alone on the
last line of standard output, once; it is stored sealed and never shown again.

Importing this module loads only Typer; the services and the database load when a
command runs (start-up of every other command pays nothing for them).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from akarom.cli.accounts import LangOption, command_group
from akarom.domain import JST

if TYPE_CHECKING:
    from akarom.config import Settings
    from akarom.storage.alerts import StoredAlertTarget
    from akarom.texts import Lang

__all__ = ["alert_app"]

alert_app = command_group("変化の通知先を管理します。Manage where status-change alerts go.")

DealerOption = Annotated[
    str,
    typer.Option("--dealer", help="Whose alerts (the dealer's name).", show_default=False),
]
TargetArgument = Annotated[int, typer.Argument(help="The target's id (from alert list).")]


def _begin(lang: str | None) -> tuple[Settings, Lang]:
    from akarom.cli import _begin as begin  # the one place a command learns its settings

    return begin(lang)


def _when(value: datetime | None) -> str:
    """A moment as Japan's time (the dealers are in Japan), or ``-``."""
    return "-" if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M")


@alert_app.command("add")
def alert_add(
    dealer: DealerOption,
    webhook: Annotated[
        str | None,
        typer.Option("--webhook", help="An https URL to POST signed JSON to.", show_default=False),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option("--email", help="An e-mail address to write to.", show_default=False),
    ] = None,
    lang: LangOption = None,
) -> None:
    """通知先を追加します（Webhook の署名鍵は一度だけ表示）。Add a target (secret shown once)."""
    from akarom.errors import UsageError
    from akarom.services.alerts import add_email_target, add_webhook_target
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    if (webhook is None) == (email is None):
        raise UsageError("give either --webhook URL or --email ADDRESS", key="alert.one_target")
    with open_store(settings) as store:
        if webhook is not None:
            target, secret = add_webhook_target(store, settings, dealer, webhook)
        else:
            target, secret = add_email_target(store, dealer, email or ""), None
    print(
        text("alert.added", chosen).format(
            target_id=target.id,
            channel=text(f"alert.channel.{target.channel.value}", chosen),
            address=target.address,
        )
    )
    if secret is not None:
        print(text("alert.secret_shown_once", chosen))
        print(secret, flush=True)  # alone on the last line: `… | tail -n 1` gets it


def _rows(targets: list[StoredAlertTarget], lang: Lang) -> list[list[str]]:
    from akarom.texts import text

    return [
        [
            str(target.id),
            text(f"alert.channel.{target.channel.value}", lang),
            target.address,
            _when(target.created_at),
            _when(target.disabled_at),
        ]
        for target in targets
    ]


@alert_app.command("list")
def alert_list(dealer: DealerOption, lang: LangOption = None) -> None:
    """販売店の通知先を一覧します。List a dealer's alert targets."""
    from rich.table import Table

    from akarom.cli._output import out
    from akarom.services.alerts import list_targets
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        targets = list_targets(store, dealer)
    if not targets:
        print(text("alert.none", chosen).format(name=dealer.strip()))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("id", "channel", "address", "created", "disabled"):
        table.add_column(text(f"alert.column.{column}", chosen), overflow="fold")
    for row in _rows(targets, chosen):
        table.add_row(*row)
    out().print(table)


@alert_app.command("disable")
def alert_disable(target_id: TargetArgument, dealer: DealerOption, lang: LangOption = None) -> None:
    """通知先を停止します（送信待ちの通知も送りません）。Disable a target."""
    from akarom.services.alerts import disable_target
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        disable_target(store, dealer, target_id)
    print(text("alert.disabled", chosen).format(target_id=target_id))


@alert_app.command("test")
def alert_test(target_id: TargetArgument, dealer: DealerOption, lang: LangOption = None) -> None:
    """通知先に署名付きのテスト通知を今すぐ送ります。Send a signed test message now."""
    from akarom.errors import UsageError
    from akarom.services.alerts import send_test
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        outcome = send_test(store, settings, dealer, target_id)
    if not outcome.delivered:
        raise UsageError(
            f"the test message to target {target_id} was not delivered: {outcome.detail}",
            key="alert.test_failed",
            target_id=target_id,
            detail=outcome.detail,
        )
    print(text("alert.test_sent", chosen).format(target_id=target_id, detail=outcome.detail))
