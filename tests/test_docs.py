"""Documentation that is generated or promised stays true."""

from __future__ import annotations

import re
from pathlib import Path

from akarom.domain import Carrier
from scripts.make_supported_carriers import OUTPUT, render

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_supported_carriers_page_is_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), (
        "docs/carriers.md is stale: run python scripts/make_supported_carriers.py"
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if line.startswith("python3 -m venv"))
    assert f"```sh\n{command}\n```" in README


def test_every_setting_is_documented() -> None:
    names = {"AKAROM_DATA_DIR", "AKAROM_LANG", "AKAROM_DATABASE_URL"}
    names |= {"AKAROM_CARRIERS_URL", "AKAROM_RATE_LIMIT", "AKAROM_CONCURRENCY"}
    documented = set(re.findall(r"`(AKAROM_[A-Z_<>]+)`", README))
    assert names <= documented
    assert {"AKAROM_<ID>_URL", "AKAROM_<ID>_RATE_LIMIT", "AKAROM_<ID>_CONCURRENCY"} <= documented
    assert all(f"`{carrier.value}`" in README for carrier in Carrier)
