"""The catalogue says everything akarom shows, in both languages."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from akarom.advice import SITUATIONS, Action, Disclosure, Marketplace
from akarom.domain import Status, Verdict
from akarom.services.advising import Role
from akarom.services.explaining import _TERMS
from akarom.texts import LANGS, catalogue, compiled, keys, parse_catalogue, text

SRC = Path(__file__).parents[1] / "src" / "akarom"
LITERAL_KEY = re.compile(r"""\btext\(\s*["']([a-z0-9_.]+)["']""")
#: A whole key (``t("web.title")``), not the start of one a template builds with ``~``.
TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.]*[a-z0-9_])["']\s*[,)]""")


def test_every_key_written_in_the_code_is_in_the_catalogue() -> None:
    used = {
        match
        for module in SRC.rglob("*.py")
        for match in LITERAL_KEY.findall(module.read_text(encoding="utf-8"))
    }
    assert len(used) > 40  # the pattern still finds the calls
    assert sorted(used - set(keys()) - set(keys("web."))) == []


def test_every_key_a_page_says_is_in_the_web_catalogue() -> None:
    """``t("web.…")`` in a template; a key a template builds (``~``) is checked by its tests."""
    used = {
        match
        for template in (SRC / "web" / "templates").rglob("*.html")
        for match in TEMPLATE_KEY.findall(template.read_text(encoding="utf-8"))
    }
    assert len(used) > 10
    assert sorted(used - set(keys()) - set(keys("web."))) == []


def test_web_sentences_are_written_in_japanese_too() -> None:
    untranslated = [
        key
        for key in keys("web.")
        if text(key, "ja").isascii() and re.search(r"[a-z]{3}", text(key, "ja"))
    ]
    assert untranslated == []


def _families() -> list[str]:
    """Keys the code builds from a value (``f"status.{status}.meaning"``)."""
    wanted = [f"status.{s.value}.meaning" for s in Status]
    wanted += [f"verdict.{v.value}.{part}" for v in Verdict for part in ("headline", "short")]
    wanted += [f"role.{r.value}" for r in Role]
    wanted += [f"situation.{s}" for s in SITUATIONS]
    wanted += [f"marketplace.{m.value}" for m in Marketplace]
    wanted += [f"decision.{a.value}" for a in Action]
    wanted += [f"disclosure.{d.value}" for d in Disclosure]
    wanted += [
        f"explain.symbol.{s.value}.{part}"
        for s in Status
        for part in ("title", "body", *(r.value for r in Role))
    ]
    wanted += [
        f"explain.term.{t}.{part}"
        for t in sorted(set(_TERMS.values()))
        for part in ("title", "body")
    ]
    return wanted


@pytest.mark.parametrize("key", _families())
def test_every_key_built_from_a_value_is_in_the_catalogue(key: str) -> None:
    for lang in LANGS:
        assert text(key, lang).strip()


def test_japanese_is_written_in_japanese() -> None:
    """A ja sentence that is plain ASCII is an English one left untranslated."""
    names = {"label.kind.imei", "label.kind.meid", "disclosure.imei"}
    untranslated = [
        key
        for key, sentence in catalogue("ja").items()
        if key not in names and sentence.isascii() and re.search(r"[a-z]{3}", sentence)
    ]
    assert untranslated == []


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([], "expected a mapping"),
        ({"k": {"ja": "はい"}}, "exactly the languages"),
        ({"k": {"ja": "はい", "en": True}}, "non-text"),  # YAML's bare yes
        ({"k": {"ja": " ", "en": "x"}}, "empty"),
        ({"k": {"ja": "{n}件", "en": "{rows} rows"}}, "placeholders"),
    ],
)
def test_a_broken_catalogue_is_refused(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_catalogue(raw, "messages.yaml")


def test_the_catalogue_can_be_handed_to_a_web_page_in_one_language() -> None:
    english = catalogue("en")
    assert english["verdict.red.headline"] == text("verdict.red.headline", "en")
    assert set(english) == set(catalogue("ja")) == set(keys())


def test_the_compiled_catalogue_is_the_yaml_one() -> None:
    """Commands read messages.json; a sentence edited in messages.yaml alone never shows."""
    folder = resources.files("akarom").joinpath("locale")
    assert folder.joinpath("messages.json").read_text(encoding="utf-8") == compiled(
        folder.joinpath("messages.yaml")
    ), "messages.yaml changed: run python scripts/compile_data.py"
