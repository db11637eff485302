"""Generated devices, the sandbox scenario that knows them, dealers' sheets listing them,
and the reports akarom writes for those sheets.

A *fleet* is a catalogue of phone models, each with its own TAC (the first 8 digits
of the IMEI, which names the model) and the carrier(s) that sell it. Devices are
drawn from it with a mix of sellers, one of:

* ``SKEWED_SHARES``, the market's mix: 40 % docomo, 30 % au, 20 % SoftBank, 5 %
  Rakuten, on carrier models whose TAC only that carrier sells (SO-51D at docomo,
  SOG11 at au), so akarom can learn a TAC's carrier from the answers it has already
  seen; and 5 % SIM-free models, unregistered at every carrier;
* ``UNIFORM_SHARES``: every carrier sells the same share and nothing is SIM-free,
  so every carrier's limit binds at once (a scheduler that lets one carrier's pipe
  run dry while another is full shows here, and hides on the skewed mix);
* optionally (``shared_share``), a share of devices on models every carrier sells
  under the same TAC (the iPhone): there the TAC says nothing about the seller; the
  seller is then drawn from the carriers' shares of the mix.

At its seller a device is 85 % ``ok``, 10 % ``pending`` and 5 % ``restricted``.
Model names are realistic; the TACs are made up (random, unique, starting 35), and
every IMEI is Luhn-valid. Everything is drawn from a seeded ``random.Random``, so
the same seed gives the same devices.
"""

from __future__ import annotations

import codecs
import csv
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stdnum import luhn

from akarom.domain import Carrier, Status

__all__ = [
    "SKEWED_SHARES",
    "STATUS_SHARES",
    "UNIFORM_SHARES",
    "Device",
    "Fleet",
    "Model",
    "ReportRow",
    "read_report",
    "scenario_devices",
    "write_sheet",
]

#: Share of devices by selling carrier; ``None`` is SIM-free (no carrier's record).
SKEWED_SHARES: Mapping[Carrier | None, float] = {
    Carrier.DOCOMO: 0.40,
    Carrier.AU: 0.30,
    Carrier.SOFTBANK: 0.20,
    Carrier.RAKUTEN: 0.05,
    None: 0.05,
}
#: The same share for each of the carriers with a catalogue, nothing SIM-free.
UNIFORM_SHARES: Mapping[Carrier | None, float] = {
    Carrier.DOCOMO: 0.25,
    Carrier.AU: 0.25,
    Carrier.SOFTBANK: 0.25,
    Carrier.RAKUTEN: 0.25,
}
#: Status of a device at the carrier that sold it.
STATUS_SHARES: Mapping[Status, float] = {
    Status.OK: 0.85,
    Status.PENDING: 0.10,
    Status.RESTRICTED: 0.05,
}

# Models by seller, most popular first (popularity falls off as 1/rank).
_CATALOGUE: Mapping[Carrier | None, Sequence[str]] = {
    Carrier.DOCOMO: (
        "Xperia 10 V SO-52D",
        "Galaxy S24 SC-51E",
        "AQUOS sense8 SH-54D",
        "arrows We2 F-52E",
        "Xperia 1 V SO-51D",
        "Galaxy A54 5G SC-53D",
        "AQUOS wish3 SH-53D",
        "Galaxy Z Flip5 SC-54D",
        "arrows N F-51C",
        "AQUOS R8 SH-52D",
    ),
    Carrier.AU: (
        "Galaxy S24 SCG25",
        "Xperia 10 V SOG11",
        "AQUOS sense8 SHG11",
        "TORQUE G06 KYG03",
        "Galaxy A54 5G SCG21",
        "Xiaomi 13T XIG04",
        "AQUOS wish3 SHG10",
        "Xperia 5 V SOG12",
    ),
    Carrier.SOFTBANK: (
        "AQUOS sense8 A301SH",
        "Xperia 10 V A302SO",
        "Libero 5G IV A302ZT",
        "Google Pixel 8a (SoftBank)",
        "arrows We2 Plus A301FC",
        "Xiaomi 13T Pro A301XM",
    ),
    Carrier.RAKUTEN: ("Rakuten Hand 5G", "Rakuten BIG s", "AQUOS sense8 SH-M26 (楽天)"),
    None: (
        "Google Pixel 8 (SIMフリー)",
        "OPPO Reno10 Pro 5G (SIMフリー)",
        "Xperia 10 V XQ-DC44",
        "moto g53j 5G",
        "AQUOS sense8 SH-M26",
    ),
}
# Sold by every carrier (and SIM-free) under one TAC per model.
_SHARED_MODELS: Sequence[str] = ("iPhone 15", "iPhone 14", "iPhone SE (第3世代)", "iPhone 13")

# How a dealer writes the seller in a キャリア column.
_HINT_SPELLINGS: Mapping[Carrier | None, Sequence[str]] = {
    Carrier.DOCOMO: ("docomo", "ドコモ", "ahamo"),
    Carrier.AU: ("au", "UQ mobile", "povo"),
    Carrier.SOFTBANK: ("SoftBank", "ソフトバンク", "Y!mobile", "ワイモバイル"),
    Carrier.RAKUTEN: ("楽天モバイル", "Rakuten"),
    None: ("SIMフリー",),
}

SHEET_HEADER = ("管理番号", "製造番号", "機種", "キャリア")


@dataclass(frozen=True, slots=True)
class Model:
    """A phone model: its name, its TAC, and who sells it (empty: SIM-free)."""

    name: str
    tac: str
    sellers: tuple[Carrier, ...]


@dataclass(frozen=True, slots=True)
class Device:
    """One generated device: its IMEI, model, seller (None: SIM-free) and status there."""

    imei: str
    model: Model
    seller: Carrier | None
    status: Status


@dataclass
class Fleet:
    """A catalogue of models and a seeded source of new devices (IMEIs never repeat)."""

    seed: int = 7
    models: dict[Carrier | None, list[Model]] = field(init=False)
    shared: list[Model] = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._serials: dict[str, set[str]] = {}
        tacs = iter(self._rng.sample(range(350_000, 360_000), 64))
        self.models = {
            seller: [
                Model(name, f"{next(tacs):06d}{self._rng.randrange(100):02d}", _sold_by(seller))
                for name in names
            ]
            for seller, names in _CATALOGUE.items()
        }
        self.shared = [
            Model(name, f"{next(tacs):06d}{self._rng.randrange(100):02d}", tuple(Carrier))
            for name in _SHARED_MODELS
        ]

    @property
    def all_models(self) -> list[Model]:
        return [model for models in self.models.values() for model in models] + self.shared

    def devices(
        self,
        count: int,
        *,
        shares: Mapping[Carrier | None, float] = SKEWED_SHARES,
        shared_share: float = 0.0,
    ) -> list[Device]:
        """``count`` new devices drawn from the mix ``shares`` (see the module docstring);
        a ``shared_share`` of them are models every carrier sells under one TAC."""
        rng = self._rng
        sellers = list(shares)
        weights = list(shares.values())
        carriers = [s for s in sellers if s is not None]
        carrier_weights = [shares[c] for c in carriers]
        drawn = []
        for _ in range(count):
            if rng.random() < shared_share:
                model = _popular(rng, self.shared)
                seller: Carrier | None = rng.choices(carriers, carrier_weights)[0]
            else:
                seller = rng.choices(sellers, weights)[0]
                model = _popular(rng, self.models[seller])
            status = (
                rng.choices(list(STATUS_SHARES), list(STATUS_SHARES.values()))[0]
                if seller is not None
                else Status.UNREGISTERED
            )
            drawn.append(Device(self._new_imei(model.tac), model, seller, status))
        return drawn

    def _new_imei(self, tac: str) -> str:
        used = self._serials.setdefault(tac, set())
        while (serial := f"{self._rng.randrange(1_000_000):06d}") in used:
            pass
        used.add(serial)
        body = tac + serial
        return body + luhn.calc_check_digit(body)


def _sold_by(seller: Carrier | None) -> tuple[Carrier, ...]:
    return () if seller is None else (seller,)


def _popular(rng: random.Random, models: Sequence[Model]) -> Model:
    return rng.choices(models, [1 / (rank + 1) for rank in range(len(models))])[0]


def scenario_devices(devices: Iterable[Device]) -> dict[str, dict[str, str]]:
    """The scenario's ``devices`` entries: each seller's status; SIM-free ones are left to
    the scenario's ``default: unregistered``."""
    return {
        device.imei: {device.seller.value: device.status.value}
        for device in devices
        if device.seller is not None
    }


def write_sheet(
    path: Path,
    devices: Sequence[Device],
    *,
    hint_share: float = 0.0,
    seed: int = 11,
    encoding: str = "cp932",
) -> None:
    """A dealer's stock list as Excel in Japan saves it (cp932, CRLF), one row per device.

    With ``hint_share`` > 0 a キャリア column names the seller (in the brand spellings
    dealers use; ``SIMフリー`` for SIM-free) on that share of rows, and is blank on the
    others. Hints are always right. Without, the column is left out.
    """
    rng = random.Random(seed)
    header = SHEET_HEADER if hint_share > 0 else SHEET_HEADER[:3]
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(header)
        for number, device in enumerate(devices, 1):
            row = [f"S-{number:05d}", device.imei, device.model.name]
            if hint_share > 0:
                hinted = rng.random() < hint_share
                row.append(rng.choice(_HINT_SPELLINGS[device.seller]) if hinted else "")
            writer.writerow(row)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One data row of a bulk report, as INTERFACES.md §3 defines its added columns.

    ``asked`` are the carriers whose column holds a symbol: a carrier the verdict did
    not need is left blank, so these are the carrier checks spent on the row (a
    ``?`` is a check that found no answer, still a check).
    """

    cells: Mapping[str, str]
    verdict: str
    asked: tuple[Carrier, ...]


def read_report(path: Path) -> Iterator[ReportRow]:
    """The rows of a bulk report (CSV in the input's encoding: UTF-8 or cp932), in order."""
    with path.open("rb") as raw:
        head = raw.read(1 << 16)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        try:
            # A multi-byte character cut at the end of the sample is not an error.
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp932"
    with path.open(encoding=encoding, newline="") as stream:
        for cells in csv.DictReader(stream):
            asked = tuple(carrier for carrier in Carrier if cells.get(carrier.value))
            yield ReportRow(cells, cells["verdict"], asked)
