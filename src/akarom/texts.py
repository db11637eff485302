"""Every sentence akarom shows a person, in Japanese (the default) and English.

The sentences live in one data file, ``akarom/locale/messages.yaml`` (the web
pages' own in ``akarom/locale/web/*.yaml``, keys ``web.*``), keyed by
what is being said (a status, a verdict, an error code, a term), so the CLI, the
API and the web pages say the same thing in the same words, and a translator edits
a catalogue, not code.

Commands read ``messages.json`` beside it, the same catalogue compiled by
``python scripts/compile_messages.py`` (a test fails while the two differ): importing
a YAML parser and parsing took ~17 ms, a tenth of ``akarom validate``'s start-up.

>>> text("status.pending.meaning", "en")
'payment remains; it can still become restricted'
>>> text("verdict.red.headline", "ja")
'赤ロムです（ネットワーク利用制限中）'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

__all__ = ["LANGS", "Lang", "catalogue", "compiled", "keys", "parse_catalogue", "text"]

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")

_PLACEHOLDER = re.compile(r"\{(\w*)\}")


@cache
def _load() -> Mapping[str, Mapping[Lang, str]]:
    source = resources.files("akarom").joinpath("locale", "messages.json")
    return parse_catalogue(json.loads(source.read_text(encoding="utf-8")), str(source))


def compiled(source: Traversable) -> str:
    """The YAML catalogue ``source`` as the JSON commands read (``messages.json``)."""
    return json.dumps(_read(source), ensure_ascii=False, indent=1) + "\n"


@cache
def _load_web() -> Mapping[str, Mapping[Lang, str]]:
    """The web pages' own sentences (``web.*`` keys, ``locale/web/*.yaml``), read only by
    the server: a CLI command never pays for them."""
    merged: dict[str, Mapping[Lang, str]] = {}
    folder = resources.files("akarom").joinpath("locale", "web")
    for source in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not source.name.endswith(".yaml"):
            continue
        for key, entry in _read(source).items():
            if not key.startswith("web.") or key in merged:
                raise ValueError(f"{source}: {key!r} is not a new web.* key")
            merged[key] = entry
    return merged


def _read(source: Traversable) -> Mapping[str, Mapping[Lang, str]]:
    import yaml

    # libyaml's loader reads the catalogue in ~4 ms, the pure-Python one in ~30 ms: that
    # difference is a fifth of `akarom validate`'s whole start-up.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)
    return parse_catalogue(raw, str(source))


def _catalogue_of(key: str) -> Mapping[str, Mapping[Lang, str]]:
    return _load_web() if key.startswith("web.") else _load()


def parse_catalogue(raw: object, source: str) -> dict[str, dict[Lang, str]]:
    """Check a loaded catalogue: every key has a non-empty ja and en with the same {fields}.

    >>> parse_catalogue({"k": {"ja": "{n}件", "en": "{count} rows"}}, "x.yaml")
    Traceback (most recent call last):
    ...
    ValueError: x.yaml: 'k' has different {placeholders} in ja and en
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a mapping of key → {{ja, en}}")
    for key, entry in raw.items():
        if not isinstance(entry, dict) or set(entry) != set(LANGS):
            raise ValueError(f"{source}: {key!r} needs exactly the languages ja and en")
        if not all(isinstance(entry[lang], str) and entry[lang].strip() for lang in LANGS):
            # YAML reads a bare yes/no as a boolean: quote such sentences.
            raise ValueError(f"{source}: {key!r} has an empty or non-text sentence")
        if set(_PLACEHOLDER.findall(entry["ja"])) != set(_PLACEHOLDER.findall(entry["en"])):
            raise ValueError(f"{source}: {key!r} has different {{placeholders}} in ja and en")
    return raw


def text(key: str, lang: Lang = "ja") -> str:
    """The sentence for ``key`` in ``lang``; a missing key is a bug and raises ``KeyError``."""
    return _catalogue_of(key)[key][lang]


def keys(prefix: str = "") -> list[str]:
    """The catalogue's keys that start with ``prefix``, in file order.

    >>> keys("verdict.red.")
    ['verdict.red.headline', 'verdict.red.short']
    """
    return [key for key in _catalogue_of(prefix) if key.startswith(prefix)]


def catalogue(lang: Lang) -> dict[str, str]:
    """Every sentence in one language, e.g. to hand to a web page's script as JSON."""
    return {key: entry[lang] for key, entry in _load().items()}
