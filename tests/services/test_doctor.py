"""The service behind ``akarom doctor --live``: probes through the Checker's adapters."""

from __future__ import annotations

import json

import httpx
import pytest

from akarom.carriers import Probe
from akarom.carriers.au import AuAdapter
from akarom.carriers.softbank import SoftbankAdapter
from akarom.config import Settings
from akarom.domain import Carrier
from akarom.services.checks import adapter_for
from akarom.services.doctor import ERROR, DoctorReport, diagnose, probe_carriers
from tests.carriers.replay import Replay


async def test_the_sandbox_looks_as_every_adapter_expects(sandboxed) -> None:
    async with sandboxed() as (checker, admin):
        probes = await probe_carriers(checker)
        stats = (await admin.get("/_sandbox/stats")).json()["carriers"]
    assert [p.carrier for p in probes] == list(Carrier)
    for probe in probes:
        assert (probe.outcome, probe.problems, probe.screen) == ("ok", (), None), probe
        assert probe.status_code == 200
        assert probe.adapter_version == checker.adapter(probe.carrier).VERSION
        assert all(page.method == "GET" for page in probe.pages)
    charsets = {p.carrier: p.charset for p in probes}
    assert charsets == {
        Carrier.DOCOMO: "cp932",
        Carrier.AU: "cp932",
        Carrier.SOFTBANK: "cp932",
        Carrier.RAKUTEN: "utf-8",
    }
    # One GET each (docomo: top.php and search.php); nothing submitted.
    assert {c: s["requests"] for c, s in stats.items()} == {
        "docomo": 2,
        "au": 1,
        "softbank": 1,
        "rakuten": 1,
    }
    assert DoctorReport(tuple(probes)).ok


@pytest.mark.parametrize("mode", ["blocked", "maintenance", "captcha"])
async def test_every_screen_is_reported_as_such(sandboxed, mode: str) -> None:
    carriers = {carrier.value: {"mode": mode} for carrier in Carrier}
    async with sandboxed(carriers=carriers) as (checker, _):
        report = await DoctorReport.run(checker)
    assert not report.ok
    assert report.with_outcome(mode) == tuple(Carrier)
    for probe in report.probes:
        assert probe.screen == mode
        assert probe.detail
        assert probe.problems == ()
        assert getattr(probe, mode) is True
    assert report.changed == ()


async def test_one_carrier_down_leaves_the_others_ok(sandboxed) -> None:
    async with sandboxed(carriers={"au": {"mode": "blocked"}}) as (checker, _):
        report = await DoctorReport.run(checker, [Carrier.AU, Carrier.SOFTBANK, Carrier.AU])
    assert [p.carrier for p in report.probes] == [Carrier.AU, Carrier.SOFTBANK]
    assert report.with_outcome("blocked") == (Carrier.AU,)
    assert report.with_outcome("ok") == (Carrier.SOFTBANK,)
    assert report.probes[0].status_code == 403


def _serving(html: bytes) -> httpx.AsyncClient:
    headers = {"content-type": "text/html; charset=Shift_JIS"}
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, headers=headers, content=html))
    )


def _recorded_form(carrier: str, case: str) -> bytes:
    replay = Replay.load(carrier, case, "356938035643809")
    return replay.body(replay.steps[0])


async def test_changed_pages_are_listed_naming_what_is_missing() -> None:
    softbank_form = _recorded_form("softbank", "ok")
    without_hidden = softbank_form.replace(
        b'<input type="hidden" name="_DataStoreID" value="DSWBF100Control">', b""
    )
    assert without_hidden != softbank_form
    au_form = _recorded_form("au", "ok")
    without_form = au_form.replace(b'name="nextForm"', b'name="searchForm"').replace(
        b"WCE009002.hc", b"WCE009099.hc"
    )
    async with _serving(without_hidden) as sb_client, _serving(without_form) as au_client:
        report = await DoctorReport.run(
            {
                Carrier.SOFTBANK: SoftbankAdapter(sb_client),
                Carrier.AU: AuAdapter(au_client),
            },
            [Carrier.AU, Carrier.SOFTBANK],
        )
    assert report.changed == (Carrier.AU, Carrier.SOFTBANK)
    au, softbank = report.probes
    assert au.problems == ("no form named nextForm or posting to WCE009002.hc",)
    assert softbank.problems == ("the WBF/icv form has no hidden _DataStoreID",)
    data = json.loads(json.dumps(report.as_dict(), ensure_ascii=False))
    assert data["ok"] is False
    assert data["carriers"][1] == {
        "carrier": "softbank",
        "outcome": "changed",
        "url": "https://ct99.my.softbank.jp/WBF/icv",
        "http_status": 200,
        "charset": "cp932",
        "problems": ["the WBF/icv form has no hidden _DataStoreID"],
        "screen": None,
        "detail": None,
        "adapter_version": SoftbankAdapter.VERSION,
        "fetched": ["https://ct99.my.softbank.jp/WBF/icv"],
    }


async def test_a_crashing_probe_is_an_error_and_the_others_still_count(caplog) -> None:
    class Broken(AuAdapter):
        @classmethod
        def probe_page(cls, page):
            raise RuntimeError("bug")

    async with (
        _serving(_recorded_form("au", "ok")) as au_client,
        _serving(_recorded_form("softbank", "ok")) as sb_client,
    ):
        probes = await probe_carriers(
            {Carrier.AU: Broken(au_client), Carrier.SOFTBANK: SoftbankAdapter(sb_client)},
            [Carrier.AU, Carrier.SOFTBANK],
        )
    broken, softbank = probes
    assert isinstance(broken, Probe)
    assert (broken.outcome, broken.detail) == (ERROR, "RuntimeError: bug")
    assert softbank.ok
    assert "drift probe failed unexpectedly" in caplog.text


def _settings(tmp_path, **env: str) -> Settings:
    return Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path), **env})


async def test_diagnose_reports_every_part_of_the_setup(tmp_path) -> None:
    diagnosis = await diagnose(_settings(tmp_path, AKAROM_AU_URL="http://127.0.0.1:9"))
    assert diagnosis.ok
    assert [pace.carrier for pace in diagnosis.paces] == list(Carrier)
    paces = {pace.carrier: pace for pace in diagnosis.paces}
    assert paces[Carrier.AU].base_url == "http://127.0.0.1:9"
    assert paces[Carrier.DOCOMO].base_url is None  # the live site: its floor applies
    assert paces[Carrier.DOCOMO].rate <= 1 / adapter_for(Carrier.DOCOMO).MIN_INTERVAL
    assert diagnosis.database.ok
    assert "0 observations" in diagnosis.database.detail
    assert diagnosis.drift is not None
    assert diagnosis.drift.carriers == ()  # nothing read yet
    assert (diagnosis.rules.ok, diagnosis.rules.source) == (True, None)
    assert diagnosis.rules.count > 10
    assert diagnosis.live is None  # no carrier is asked without live=True


async def test_diagnose_finds_what_cannot_be_used_without_failing(tmp_path) -> None:
    (tmp_path / "akarom.sqlite3").write_bytes(b"garbage" * 100)
    rules = tmp_path / "ours.yaml"
    rules.write_text("rules: [{id: x}]\n", encoding="utf-8")
    diagnosis = await diagnose(_settings(tmp_path, AKAROM_RULES_FILE=str(rules)))
    assert not diagnosis.ok
    assert not diagnosis.database.ok
    assert "not a database" in diagnosis.database.detail
    assert diagnosis.drift is None
    assert not diagnosis.rules.ok
    assert diagnosis.rules.source == rules
    assert "ours.yaml" in (diagnosis.rules.problem or "")
