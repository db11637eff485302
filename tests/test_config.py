"""Settings from the environment (INTERFACES.md §4)."""

from __future__ import annotations

import pytest

from akarom.config import Settings
from akarom.domain import Carrier
from akarom.errors import ConfigError


def test_defaults_are_the_live_sites_at_the_conservative_pace(tmp_path) -> None:
    settings = Settings.from_env({"AKAROM_DATA_DIR": str(tmp_path)})
    for carrier in Carrier:
        assert settings.carrier(carrier).base_url is None
        assert settings.carrier(carrier).rate_limit == 0.5
        assert settings.carrier(carrier).concurrency == 1
    assert settings.lang == "ja"
    assert settings.data_dir == tmp_path


def test_one_carrier_can_be_pointed_and_paced_on_its_own() -> None:
    settings = Settings.from_env(
        {
            "AKAROM_CARRIERS_URL": "http://127.0.0.1:8765",
            "AKAROM_DOCOMO_URL": "http://localhost:9000/",
            "AKAROM_RATE_LIMIT": "2",
            "AKAROM_SOFTBANK_RATE_LIMIT": "0.25",
            "AKAROM_CONCURRENCY": "3",
            "AKAROM_AU_CONCURRENCY": "1",
            "AKAROM_LANG": "en",
        }
    )
    assert settings.carrier(Carrier.DOCOMO).base_url == "http://localhost:9000"
    assert settings.carrier(Carrier.AU).base_url == "http://127.0.0.1:8765"
    assert settings.carrier(Carrier.SOFTBANK).rate_limit == 0.25
    assert settings.carrier(Carrier.RAKUTEN).rate_limit == 2.0
    assert settings.carrier(Carrier.AU).concurrency == 1
    assert settings.carrier(Carrier.DOCOMO).concurrency == 3
    assert settings.lang == "en"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AKAROM_RATE_LIMIT", "fast"),
        ("AKAROM_RATE_LIMIT", "0"),
        ("AKAROM_RATE_LIMIT", "-1"),
        ("AKAROM_RATE_LIMIT", "inf"),
        ("AKAROM_AU_RATE_LIMIT", "nan"),
        ("AKAROM_CONCURRENCY", "0"),
        ("AKAROM_CONCURRENCY", "1.5"),
        ("AKAROM_CARRIERS_URL", "127.0.0.1:8765"),
        ("AKAROM_CARRIERS_URL", "ftp://host"),
        ("AKAROM_DOCOMO_URL", "http://host/search.php"),
        ("AKAROM_LANG", "fr"),
    ],
)
def test_a_bad_setting_names_the_variable(name, value) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_recheck_floor_under_a_day_is_refused_against_live_sites() -> None:
    assert Settings.from_env({}).recheck_floor_s == 86400.0
    with pytest.raises(ConfigError, match="AKAROM_RECHECK_FLOOR_S"):
        Settings.from_env({"AKAROM_RECHECK_FLOOR_S": "1"})
    sandbox = {"AKAROM_CARRIERS_URL": "http://127.0.0.1:8765", "AKAROM_RECHECK_FLOOR_S": "1"}
    assert Settings.from_env(sandbox).recheck_floor_s == 1.0
