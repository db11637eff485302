"""Answer pages for tests, made from the recorded pages so that they match the templates.

A test that needs "docomo's answer × for this IMEI" takes the recorded ``ok`` page and
changes only the slots: ``answer_page(Carrier.DOCOMO, IMEI, "×")``. A test that needs a
page the template must refuse changes a recorded page in exactly the way it means to
(``recorded(...)`` then ``with_text``), so that nothing else makes it fail.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from akarom.carriers import Page
from akarom.carriers.au import WORDINGS as AU_WORDINGS
from akarom.carriers.docomo import WORDINGS as DOCOMO_WORDINGS
from akarom.domain import Carrier, Status
from tests.carriers.replay import Replay

__all__ = ["ENCODINGS", "answer_page", "page_encoding", "page_text", "recorded", "with_text"]

#: The encoding each carrier's recorded ``ok`` page is written in.
ENCODINGS = {
    Carrier.DOCOMO: "cp932",
    Carrier.AU: "cp932",
    Carrier.SOFTBANK: "cp932",
    Carrier.RAKUTEN: "utf-8",
}

_RECORDED_IMEI = {
    Carrier.DOCOMO: "352099001761481",
    Carrier.AU: "352099001761481",
    Carrier.SOFTBANK: "356938035643809",
    Carrier.RAKUTEN: "352099001761481",
}
_SYMBOL_STATUS = {
    "○": Status.OK,
    "〇": Status.OK,
    "◯": Status.OK,
    "△": Status.PENDING,
    "▲": Status.PENDING,
    "×": Status.RESTRICTED,
    "✕": Status.RESTRICTED,
    "-": Status.UNREGISTERED,
    "－": Status.UNREGISTERED,
    "ー": Status.UNREGISTERED,
    "−": Status.UNREGISTERED,
}
_RAKUTEN_CODES = {Status.OK: 0, Status.PENDING: 1, Status.RESTRICTED: 2, Status.UNREGISTERED: 3}


def recorded(carrier: Carrier, case: str, imei: str | None = None) -> Page:
    """The answer page (last response) of a recorded case."""
    return Replay.load(carrier.value, case, imei or _RECORDED_IMEI[carrier]).result_page()


def page_encoding(page: Page) -> str:
    """The encoding a recorded page is written in (UTF-8 or cp932)."""
    for encoding in ("utf-8", "cp932"):
        try:
            page.content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    raise AssertionError("a recorded page is neither UTF-8 nor cp932")


def page_text(page: Page) -> str:
    """A page's body as text, decoded as the recorded pages are written."""
    return page.content.decode(page_encoding(page))


def with_text(page: Page, text: str, encoding: str | None = None) -> Page:
    """``page`` with its body replaced by ``text`` (in the page's own encoding)."""
    for candidate in (encoding, "utf-8", "cp932"):
        if candidate is None:
            continue
        try:
            page.content.decode(candidate)
        except UnicodeDecodeError:
            continue
        return replace(page, content=text.encode(candidate))
    raise AssertionError("cannot re-encode the page")


def answer_page(
    carrier: Carrier, imei: str, symbol: str, *, wording: str | bool | None = True
) -> Page:
    """The recorded ``ok`` page of ``carrier``, answering ``symbol`` about ``imei``.

    ``wording``: True for the carrier's first known sentence for that status (where
    the page carries one), False or None for none, or a sentence of the test's own.
    """
    status = _SYMBOL_STATUS[symbol]
    page = recorded(carrier, "ok")
    if carrier is Carrier.RAKUTEN:
        body: dict[str, object] = {"imei": imei, "status": _RAKUTEN_CODES[status]}
        if isinstance(wording, str):
            body["message"] = wording
        return replace(page, content=json.dumps(body, ensure_ascii=False).encode())
    text = page_text(page).replace(_RECORDED_IMEI[carrier], imei)
    if carrier is Carrier.DOCOMO:
        sentence = DOCOMO_WORDINGS[status][0] if wording is True else wording
        text = text.replace(
            '<div class="result-panel">○</div>', f'<div class="result-panel">{symbol}</div>'
        )
        recorded_wording = DOCOMO_WORDINGS[Status.OK][0]
        panel = f'<div class="panel outst">\n<p>{recorded_wording}</p>\n</div>\n'
        text = text.replace(
            panel, f'<div class="panel outst">\n<p>{sentence}</p>\n</div>\n' if sentence else ""
        )
    elif carrier is Carrier.AU:
        sentence = AU_WORDINGS[status][0] if wording is True else wording
        text = re.sub(
            r'(<div class="list_heading">状態</div><div class="list_details">)[^<]*(</div>)',
            lambda m: m.group(1) + symbol + (sentence or "") + m.group(2),
            text,
        )
    else:
        text = text.replace('color="#666666">○</font>', f'color="#666666">{symbol}</font>')
    return with_text(page, text, ENCODINGS[carrier])
