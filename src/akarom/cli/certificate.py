"""``akarom certificate …``: 証明書を発行・検証します。Issue and verify check certificates.

::

    akarom certificate issue IMEI [-o FILE] [--mask] [--dealer NAME]
    akarom certificate verify FILE [--key PUB] [--imei X]
    akarom certificate key

``issue`` writes the PDF of the device's latest stored check (no carrier is asked);
``verify`` exits 0 when the file is authentic and unaltered, 1 when it is not (any
changed byte, an unknown key, or ``--imei`` names another device), 2 when it cannot
be read, is too big or is no certificate at all. Without ``--key`` it trusts the keys
this installation knows (its database and key file); ``--key PUB`` (the PEM that
``akarom certificate key`` prints) verifies anywhere, offline.

Importing this module loads only Typer; the services, the database, cryptography,
fpdf2 and segno load when a command runs (``verify`` never loads fpdf2 or segno).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# Paths are taken as text and made ``Path`` here: Typer would coerce a ``Path`` option
# through pydantic, whose import costs more than verifying (akarom.cli._params).
from akarom.cli.accounts import LangOption, _begin, command_group

if TYPE_CHECKING:
    from collections.abc import Mapping

    from akarom.services.certificates import Verification
    from akarom.texts import Lang

__all__ = ["certificate_app"]

certificate_app = command_group("証明書を発行・検証します。Issue and verify check certificates.")


@certificate_app.command("issue")
def certificate_issue(
    imei: Annotated[str, typer.Argument(help="The device's IMEI (or MEID), checked before.")],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the PDF (default: akarom-certificate-<IMEI>.pdf, or "
            "akarom-certificate-<certificate number>.pdf with --mask).",
            show_default=False,
        ),
    ] = None,
    mask: Annotated[
        bool, typer.Option("--mask", help="Show only the IMEI's first 8 digits (the model).")
    ] = False,
    dealer: Annotated[
        str | None,
        typer.Option(
            "--dealer",
            help="Issue as this dealer (its name is printed; it must have checked the device).",
            show_default=False,
        ),
    ] = None,
    lang: LangOption = None,
) -> None:
    """最新の確認結果の証明書（署名付き PDF）を発行します。Issue a signed certificate."""
    from akarom.errors import UsageError
    from akarom.services.accounts import dealer_named
    from akarom.services.certificates import issue_certificate
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        dealer_id = issuer = None
        if dealer is not None:
            found = dealer_named(store, dealer)
            dealer_id, issuer = found.id, found.name
        issued = issue_certificate(
            store, settings, imei, dealer_id=dealer_id, issuer=issuer, mask=mask
        )
    device = issued.payload["device"]
    name = issued.id if mask else device["imei"]
    path = Path(output or f"akarom-certificate-{name}.pdf")
    try:
        path.write_bytes(issued.pdf)
    except OSError as problem:
        raise UsageError(
            f"could not write {path}: {problem}",
            key="certificate.unwritable",
            path=path,
            problem=problem.strerror or problem,
        ) from None
    check = issued.payload["check"]
    print(text("certificate.issued", chosen).format(path=path))
    print(
        text("certificate.issued_verdict", chosen).format(
            verdict=text(f"verdict.{check['verdict']}.short", chosen),
            imei=device.get("imei") or device["imei_masked"],
            checked_at=_time(check["checked_at"]),
        )
    )
    print(text("certificate.issued_id", chosen).format(id=issued.id, key_id=issued.key.key_id))
    print(text("certificate.issued_url", chosen).format(url=issued.verify_url), flush=True)


@certificate_app.command("verify")
def certificate_verify(
    file: Annotated[str, typer.Argument(help="The certificate (PDF) to verify.")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The issuer's public key (PEM, from `akarom certificate key`): verify "
            "offline with it alone.",
            show_default=False,
        ),
    ] = None,
    imei: Annotated[
        str | None,
        typer.Option(
            "--imei",
            help="Also confirm the certificate is about this device (works when masked).",
            show_default=False,
        ),
    ] = None,
    lang: LangOption = None,
) -> None:
    """証明書が本物か検証します（0 本物 / 1 改ざん等 / 2 読めない）。Verify a certificate."""
    from akarom.errors import UsageError
    from akarom.services.certificates import (
        Outcome,
        PublicKey,
        known_keys,
        read_public_key,
        verify_file,
    )
    from akarom.services.validation import parse_imei

    settings, chosen = _begin(lang)
    if imei is not None:
        parse_imei(imei)  # a mistyped IMEI is said (exit 2) before anything is read
    keys: list[PublicKey]
    if key is not None:
        try:
            keys = [read_public_key(Path(key).read_bytes())]
        except (OSError, ValueError):
            raise UsageError(
                f"{key} is not an Ed25519 public key",
                key="certificate.public_key_invalid",
                path=key,
            ) from None
    else:
        from akarom.services.database import open_store

        with open_store(settings) as store:
            keys = known_keys(store, settings)
    found = verify_file(Path(file), keys, imei=imei)
    if found.outcome is Outcome.UNREADABLE:
        raise UsageError(f"{file}: {found.reason}", key=f"certificate.{found.reason}", path=file)
    _say_verification(found, chosen)
    raise typer.Exit(found.exit_code)


def _say_verification(found: Verification, lang: Lang) -> None:
    from akarom.services.certificates import Outcome
    from akarom.texts import text

    if found.outcome is Outcome.NOT_AUTHENTIC:
        reason = text(f"certificate.reason.{found.reason}", lang).format(key_id=found.key_id)
        print(text("certificate.not_authentic", lang).format(reason=reason), flush=True)
        return
    if found.outcome is Outcome.OTHER_DEVICE:
        print(text("certificate.other_device", lang).format(imei=found.imei))
    else:
        print(text("certificate.authentic", lang))
        if found.imei is not None:
            print(text("certificate.matches_imei", lang).format(imei=found.imei))
    assert found.payload is not None
    _print_payload(found.payload, lang)


def _print_payload(payload: Mapping[str, Any], lang: Lang) -> None:
    from akarom.domain import Carrier
    from akarom.texts import text

    def line(key: str, value: str) -> None:
        print(f"  {text(f'certificate.field.{key}', lang)}: {value}")

    device = payload["device"]
    check = payload["check"]
    shown_imei = device.get("imei") or f"{device['imei_masked']} {text('certificate.masked', lang)}"
    line("imei", shown_imei)
    line("verdict", text(f"verdict.{check['verdict']}.short", lang))
    for result in check["results"]:
        try:
            name = Carrier(result["carrier"]).label(lang)
        except ValueError:  # a carrier a newer version knows
            name = result["carrier"]
        when = _time(result["checked_at"]) if result["checked_at"] else "-"
        print(f"    {name}: {result['symbol']} {when}")
    line("checked_at", _time(check["checked_at"]))
    line("issued_at", _time(payload["issued_at"]))
    line("issuer", payload["issuer"]["name"] or payload["issuer"]["url"])
    line("id", payload["id"])
    line("key", payload["key_id"])
    sys.stdout.flush()


def _time(iso: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M JST")


@certificate_app.command("key")
def certificate_key(lang: LangOption = None) -> None:
    """このインストールの公開鍵（PEM）を表示します。Print this installation's public key."""
    from akarom.services.certificates import installation_key
    from akarom.services.database import open_store
    from akarom.texts import text

    settings, chosen = _begin(lang)
    with open_store(settings) as store:
        public = installation_key(store, settings)
    # The PEM alone on standard output (`akarom certificate key > issuer.pem`); the
    # note on how to use it on standard error.
    print(
        text("certificate.key_printed", chosen).format(
            key_id=public.key_id, fingerprint=public.fingerprint
        ),
        file=sys.stderr,
    )
    print(public.pem(), end="", flush=True)
