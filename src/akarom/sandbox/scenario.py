"""Sandbox scenarios: the YAML file of INTERFACES.md §5, read into validated dataclasses.

Every key is optional; an empty file (or no file) is the default scenario: seed 0,
every IMEI ``unregistered`` everywhere, every carrier ``normal`` with no latency, no
errors and no rate limit.

.. code-block:: yaml

    seed: 7
    default: unregistered          # status for IMEIs not listed (not "unknown")
    carriers:
      docomo: {latency_ms: 120, jitter_ms: 40, rate_limit_per_s: 5, error_rate: 0.02,
               mode: normal}        # normal | blocked | maintenance | captcha
    devices:
      "352099001761481": {docomo: ok}
      "356938035643809": {softbank: pending, changes: [{after_s: 30, softbank: restricted}]}

One sandbox-only extension: ``carriers.<id>.symbols`` maps a status to the character
that carrier's page prints for it (``{ok: "○", unregistered: "－"}`` on au), to test the
variants of carrier-sites.md §7. Any character the site's encoding can carry is
accepted, so a scenario can also print one no adapter knows (it must answer
``unknown``). Rakuten answers numeric codes and takes no ``symbols``.

Device keys must be quoted strings (YAML reads an unquoted IMEI as an integer and
would drop a leading zero): 15 digits, or a 14-hex-digit MEID (only au accepts those).

>>> s = parse_scenario({"default": "ok", "devices": {"352099001761481": {"au": "pending"}}})
>>> [s.status_at("352099001761481", c, 0.0) for c in (Carrier.AU, Carrier.DOCOMO)]
[<Status.PENDING: 'pending'>, <Status.OK: 'ok'>]
>>> parse_scenario({"carriers": {"kddi": {}}})
Traceback (most recent call last):
...
ValueError: carriers: unknown carrier 'kddi' (expected one of docomo, au, softbank, rakuten)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from akarom.domain import Carrier, Status
from akarom.sandbox._site import Mode

__all__ = [
    "CarrierSettings",
    "Change",
    "Device",
    "Mode",
    "Scenario",
    "device_key",
    "load_scenario",
    "parse_carrier_settings",
    "parse_scenario",
    "parse_statuses",
]


# Statuses a device can have at a carrier: ``unknown`` is akarom's, not a carrier's.
DEVICE_STATUSES: tuple[Status, ...] = tuple(s for s in Status if s is not Status.UNKNOWN)

_EMPTY_STATUSES: Mapping[Carrier, Status] = MappingProxyType({})
_EMPTY_SYMBOLS: Mapping[Status, str] = MappingProxyType({})
_IMEI = re.compile(r"[0-9]{15}")
_MEID = re.compile(r"[0-9A-Fa-f]{14}")
_TOP_KEYS = ("seed", "default", "carriers", "devices")
_SETTING_KEYS = ("latency_ms", "jitter_ms", "rate_limit_per_s", "error_rate", "mode", "symbols")


@dataclass(frozen=True, slots=True)
class CarrierSettings:
    """How one carrier's pages behave: latency, errors, rate limit, mode, symbols."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform ± around latency_ms
    rate_limit_per_s: float = 0.0  # 0 = unlimited
    error_rate: float = 0.0  # share of requests answered with HTTP 500/502/503
    mode: Mode = Mode.NORMAL
    symbols: Mapping[Status, str] = field(default_factory=lambda: _EMPTY_SYMBOLS)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (for the admin endpoints)."""
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "rate_limit_per_s": self.rate_limit_per_s,
            "error_rate": self.error_rate,
            "mode": self.mode.value,
            "symbols": {status.value: symbol for status, symbol in self.symbols.items()},
        }


@dataclass(frozen=True, slots=True)
class Change:
    """Statuses that take effect ``after_s`` seconds of sandbox uptime."""

    after_s: float
    statuses: Mapping[Carrier, Status]


@dataclass(frozen=True, slots=True)
class Device:
    """One listed IMEI: its statuses at start, then its timed changes in time order."""

    statuses: Mapping[Carrier, Status] = field(default_factory=lambda: _EMPTY_STATUSES)
    changes: tuple[Change, ...] = ()


def _default_carriers() -> Mapping[Carrier, CarrierSettings]:
    return MappingProxyType({carrier: CarrierSettings() for carrier in Carrier})


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole sandbox scenario; ``carriers`` always holds all four carriers."""

    seed: int = 0
    default: Status = Status.UNREGISTERED
    carriers: Mapping[Carrier, CarrierSettings] = field(default_factory=_default_carriers)
    devices: Mapping[str, Device] = field(default_factory=lambda: MappingProxyType({}))

    def status_at(self, imei: str, carrier: Carrier, uptime_s: float) -> Status:
        """What ``carrier`` answers for ``imei`` after ``uptime_s`` seconds of uptime."""
        device = self.devices.get(device_key(imei))
        if device is None:
            return self.default
        status = device.statuses.get(carrier, self.default)
        for change in device.changes:
            if change.after_s <= uptime_s and carrier in change.statuses:
                status = change.statuses[carrier]
        return status


def device_key(imei: str) -> str:
    """The key a device is stored under: the IMEI, or the MEID in upper case."""
    return imei.upper()


def load_scenario(path: Path | None) -> Scenario:
    """Read a scenario YAML file; ``None`` gives the default scenario.

    Raises ``ValueError`` naming the file and the bad key for invalid content, and
    ``OSError`` when the file cannot be read.
    """
    if path is None:
        return Scenario()
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: a scenario is a mapping of keys, got {_kind(data)}")
    try:
        return parse_scenario(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate scenario data (as read from YAML or JSON) into a ``Scenario``.

    Raises ``ValueError`` whose message names the offending key and value.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a scenario is a mapping of keys, got {_kind(data)}")
    _check_keys(data, _TOP_KEYS, "scenario")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: must be an integer, got {seed!r}")
    default = _parse_status(data.get("default", Status.UNREGISTERED.value), "default")

    carriers = dict(_default_carriers())
    raw_carriers = _mapping(data.get("carriers"), "carriers")
    for name, raw in raw_carriers.items():
        carrier = _parse_carrier(name, "carriers")
        carriers[carrier] = parse_carrier_settings(
            carrier, raw, CarrierSettings(), where=f"carriers.{carrier.value}"
        )

    devices: dict[str, Device] = {}
    for key, raw in _mapping(data.get("devices"), "devices").items():
        imei = _parse_device_key(key)
        if imei in devices:
            raise ValueError(f"devices: {key!r} is listed twice")
        devices[imei] = _parse_device(raw, f"devices.{key}")

    return Scenario(
        seed=seed,
        default=default,
        carriers=MappingProxyType(carriers),
        devices=MappingProxyType(devices),
    )


def parse_carrier_settings(
    carrier: Carrier, data: Any, base: CarrierSettings, *, where: str
) -> CarrierSettings:
    """``base`` with the keys given in ``data`` replaced; used for YAML and the admin PUT."""
    raw = _mapping(data, where)
    _check_keys(raw, _SETTING_KEYS, where)
    changes: dict[str, Any] = {}
    for key in ("latency_ms", "jitter_ms", "rate_limit_per_s"):
        if key in raw:
            changes[key] = _non_negative(raw[key], f"{where}.{key}")
    if "error_rate" in raw:
        rate = _non_negative(raw["error_rate"], f"{where}.error_rate")
        if rate > 1:
            raise ValueError(f"{where}.error_rate: must be between 0 and 1, got {rate!r}")
        changes["error_rate"] = rate
    if "mode" in raw:
        changes["mode"] = _parse_mode(raw["mode"], f"{where}.mode")
    if "symbols" in raw:
        changes["symbols"] = _parse_symbols(carrier, raw["symbols"], where)
    return replace(base, **changes)


def parse_statuses(data: Mapping[Any, Any], where: str) -> dict[Carrier, Status]:
    """Validate a ``{carrier id: status}`` mapping (a device entry, a change, an admin PUT)."""
    statuses: dict[Carrier, Status] = {}
    for name, value in data.items():
        carrier = _parse_carrier(name, where)
        statuses[carrier] = _parse_status(value, f"{where}.{carrier.value}")
    return statuses


def _parse_device(data: Any, where: str) -> Device:
    raw = dict(_mapping(data, where))
    raw_changes = raw.pop("changes", None)
    statuses = parse_statuses(raw, where)
    changes: list[Change] = []
    if raw_changes is not None:
        if not isinstance(raw_changes, list):
            raise ValueError(f"{where}.changes: must be a list, got {_kind(raw_changes)}")
        for index, item in enumerate(raw_changes):
            changes.append(_parse_change(item, f"{where}.changes[{index}]"))
    changes.sort(key=lambda change: change.after_s)  # stable: file order breaks ties
    return Device(statuses=MappingProxyType(statuses), changes=tuple(changes))


def _parse_change(data: Any, where: str) -> Change:
    raw = dict(_mapping(data, where))
    if "after_s" not in raw:
        raise ValueError(f"{where}: missing after_s (seconds of uptime)")
    after_s = _non_negative(raw.pop("after_s"), f"{where}.after_s")
    if not raw:
        raise ValueError(f"{where}: names no carrier status to change")
    return Change(after_s=after_s, statuses=MappingProxyType(parse_statuses(raw, where)))


def _parse_device_key(key: Any) -> str:
    if not isinstance(key, str):
        raise ValueError(
            f"devices: key {key!r} must be a quoted string, not {_kind(key)} "
            '(write "352099001761481", so YAML keeps every digit)'
        )
    if _IMEI.fullmatch(key) or _MEID.fullmatch(key):
        return device_key(key)
    raise ValueError(f"devices: key {key!r} is not a 15-digit IMEI or a 14-hex-digit MEID")


def _parse_symbols(carrier: Carrier, data: Any, where: str) -> Mapping[Status, str]:
    # The sites import this module (for Mode's neighbours), so the registry comes late.
    from akarom.sandbox.sites import site_class

    site = site_class(carrier)
    if site.numeric:
        raise ValueError(f"{where}.symbols: {carrier} answers numeric status codes, not symbols")
    symbols: dict[Status, str] = {}
    for name, value in _mapping(data, f"{where}.symbols").items():
        status = _parse_status(name, f"{where}.symbols")
        key = f"{where}.symbols.{status.value}"
        if not isinstance(value, str) or not value.strip() or "\n" in value or "<" in value:
            raise ValueError(f"{key}: must be a one-line, non-empty text, got {value!r}")
        try:
            value.encode(site.codec)
        except UnicodeEncodeError:
            raise ValueError(
                f"{key}: {value!r} cannot be written in {carrier.value}'s encoding ({site.charset})"
            ) from None
        symbols[status] = value
    return MappingProxyType(symbols)


def _parse_carrier(name: Any, where: str) -> Carrier:
    try:
        return Carrier(name)
    except ValueError:
        raise ValueError(
            f"{where}: unknown carrier {name!r} (expected one of {_choices(Carrier)})"
        ) from None


def _parse_status(value: Any, where: str) -> Status:
    if isinstance(value, str) and value in {s.value for s in DEVICE_STATUSES}:
        return Status(value)
    raise ValueError(
        f"{where}: unknown status {value!r} (expected one of {_choices(DEVICE_STATUSES)})"
    )


def _parse_mode(value: Any, where: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise ValueError(
            f"{where}: unknown mode {value!r} (expected one of {_choices(Mode)})"
        ) from None


def _non_negative(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: must be a finite number >= 0, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: must be a mapping, got {_kind(value)} {value!r}")
    return value


def _check_keys(data: Mapping[Any, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for key in data:
        if key not in allowed:
            raise ValueError(f"{where}: unknown key {key!r} (expected one of {', '.join(allowed)})")


def _choices(values: Iterable[str]) -> str:
    return ", ".join(str(value) for value in values)


def _kind(value: Any) -> str:
    return type(value).__name__
