"""A fifth carrier, registered in three places, works end to end (docs/architecture.md).

mineo (carrier-sites.md §5) stands in for the next carrier: the test registers it in
the carrier list (``Carrier.register``), gives it an adapter (``register_adapter``) and
a sandbox site (``register_site``), and nothing else. Then settings, the sandbox and
its stats, a check, the verdict, storage and history, the cache, bulk and its report
columns, doctor's drift report, brand names and the CLI all know it, without a line of
theirs changed. Everything is unregistered afterwards.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import httpx
import pytest
from starlette.requests import Request
from typer.testing import CliRunner

from akarom.carriers import (
    AdapterCase,
    CarrierAdapter,
    Page,
    Reading,
    Visit,
    register_adapter,
    unregister_adapter,
)
from akarom.carriers._template import Echo, HtmlTemplate, symbol_slot
from akarom.cli import app
from akarom.config import Settings
from akarom.domain import Carrier, Status, Verdict, resolve_carrier
from akarom.sandbox import create_app, parse_scenario
from akarom.sandbox._site import Context, Handler, Site, esc, read_form
from akarom.sandbox.sites import register_site, unregister_site
from akarom.services import Checker, RetryPolicy
from akarom.services.bulk import run_bulk
from akarom.services.doctor import page_drift
from akarom.storage import Store
from tests.conftest import serving

RED_AT_MINEO = "352099001761481"
PATH = "/info/GNS010101GNS010101_Init.action"


class MineoSite(Site):
    """mineo's check page as §5 describes it: a form, then a table row 「状態」."""

    carrier: ClassVar[Carrier]
    entry_path: ClassVar[str] = PATH
    charset: ClassVar[str] = "UTF-8"
    codec: ClassVar[str] = "utf-8"
    title: ClassVar[str] = "端末の利用制限確認"
    default_symbols = MappingProxyType(
        {Status.OK: "○", Status.PENDING: "△", Status.RESTRICTED: "×", Status.UNREGISTERED: "-"}
    )

    def routes(self) -> list[tuple[str, tuple[str, ...], Handler]]:
        return [(PATH, ("GET", "POST"), self.page)]

    async def page(self, request: Request, context: Context):
        if request.method == "GET":
            form = f'<form method="post" action="{PATH}"><input id="imei" name="imei"></form>'
            return self.html(f"<html><head><title>{self.title}</title></head><body>{form}")
        imei = (await read_form(request, self.codec)).get("imei", "")
        symbol = esc(self.symbol(context, context.status_of(imei)))
        return self.html(
            f"<html><head><title>{self.title}</title></head><body>"
            f'<table class="table_basic01"><tr><th>状態</th><td>{symbol}</td></tr></table>'
            "</body></html>"
        )


class MineoAdapter(CarrierAdapter):
    """mineo's check page: POST ``imei``, the symbol in the 「状態」 row."""

    CARRIER: ClassVar[Carrier]
    DISPLAY_NAME = "端末の利用制限確認"
    BASE_URL = "https://my.mineo.jp"
    ENTRY_PATH = PATH
    VERSION = "mineo-test"
    ECHO = Echo.ABSENT
    TEMPLATES = (
        HtmlTemplate(
            "mineo's result table (carrier-sites.md §5)",
            "<html><head><title>端末の利用制限確認</title></head><body>"
            '<table class="table_basic01"><tr><th>状態</th><td>{status}</td></tr></table>'
            "</body></html>",
            slots={"status": symbol_slot()},
        ),
    )
    TESTS: ClassVar[tuple[AdapterCase, ...]] = ()

    async def _check(self, imei: str, visit: Visit) -> Reading:
        page = await visit.fetch("POST", PATH, form={"imei": imei})
        return self.parse_result(page, imei)

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        return [] if b'name="imei"' in page.content else ["no imei input"]


@pytest.fixture
def mineo() -> Iterator[Carrier]:
    carrier = Carrier.register(
        "mineo", brands=("mineo",), labels={"ja": "マイネオ", "en": "mineo"}, aliases=("マイネオ",)
    )
    MineoSite.carrier = carrier
    MineoAdapter.CARRIER = carrier
    register_adapter(MineoAdapter)
    register_site(MineoSite)
    try:
        yield carrier
    finally:
        unregister_site(carrier)
        unregister_adapter(carrier)
        Carrier.unregister(carrier)


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "AKAROM_CARRIERS_URL": "http://sandbox.test",
            "AKAROM_RATE_LIMIT": "1000",
            "AKAROM_DATA_DIR": str(tmp_path),
            **env,
        }
    )


async def test_a_registered_carrier_is_checked_stored_and_reported(mineo, tmp_path) -> None:
    assert list(Carrier)[-1] is mineo
    assert resolve_carrier("マイネオ") is mineo
    assert _settings(tmp_path, AKAROM_MINEO_URL="http://mineo.test").carrier(mineo).base_url == (
        "http://mineo.test"
    )
    scenario = parse_scenario({"devices": {RED_AT_MINEO: {"mineo": "restricted"}}})
    sandbox = create_app(scenario)
    transport = httpx.ASGITransport(app=sandbox)
    with Store.open(None, tmp_path / "db") as store:
        checker = Checker(
            _settings(tmp_path),
            transports=dict.fromkeys(Carrier, transport),
            retry=RetryPolicy(attempts=1, backoff_s=0.0),
            store=store,
            share_limits=False,
        )
        async with checker, httpx.AsyncClient(transport=transport) as admin:
            report = await checker.check(RED_AT_MINEO, all_carriers=True, fresh=True)
            cached = await checker.check(RED_AT_MINEO, all_carriers=True)
            source = tmp_path / "in.csv"
            source.write_text(f"IMEI\n{RED_AT_MINEO}\n", encoding="utf-8")
            await run_bulk(checker, store, source, tmp_path / "out.csv")
            stats = (await admin.get("http://sandbox.test/_sandbox/stats")).json()

        assert (report.verdict, report.origin_carrier) == (Verdict.RED, mineo)
        assert [r.carrier for r in report.results][-1] is mineo
        assert {r.carrier: r.source.value for r in cached.results}[mineo] == "cache"
        assert [o.carrier for o in store.history(RED_AT_MINEO)].count(mineo) == 1
        assert page_drift(store).carriers[-1].carrier is mineo
    assert stats["carriers"]["mineo"]["requests"] == 1  # once: the bulk row came from the cache
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as report_file:
        rows = list(csv.DictReader(report_file))
    assert rows[0]["mineo"] == "×"
    assert rows[0]["verdict"] == "red"


def test_the_command_line_knows_the_carrier(mineo, tmp_path) -> None:
    scenario = {"devices": {RED_AT_MINEO: {"mineo": "restricted"}}}
    with serving(scenario) as url:
        env = {
            "AKAROM_CARRIERS_URL": url,
            "AKAROM_RATE_LIMIT": "50",
            "AKAROM_DATA_DIR": str(tmp_path),
        }
        result = CliRunner().invoke(
            app, ["check", "--json", "--carrier", "マイネオ", RED_AT_MINEO], env=env
        )
        human = CliRunner().invoke(app, ["check", "-c", "mineo", RED_AT_MINEO], env=env)
    line = json.loads(result.stdout)
    assert result.exit_code == 4
    assert (line["verdict"], line["origin_carrier"]) == ("red", "mineo")
    assert "マイネオ" in human.stdout


def test_a_carrier_without_an_adapter_fails_before_any_check(tmp_path) -> None:
    carrier = Carrier.register("sixth", brands=("Sixth",), labels={"ja": "六", "en": "sixth"})
    try:
        with pytest.raises(LookupError, match="no adapter for the carrier sixth"):
            Checker(_settings(tmp_path))
        with pytest.raises(LookupError, match="no sandbox site for the carrier sixth"):
            create_app(parse_scenario({}))
    finally:
        Carrier.unregister(carrier)


def test_a_carrier_name_cannot_be_taken_twice() -> None:
    with pytest.raises(ValueError, match="already name"):
        Carrier.register("ymob", brands=("Y!mobile",), labels={"ja": "ワイ", "en": "Y"})
    with pytest.raises(ValueError, match="built in"):
        Carrier.unregister(Carrier.AU)
