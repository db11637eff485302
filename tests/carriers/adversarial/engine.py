"""A mutation engine for carrier answer pages, each variant with its ground truth.

Every recorded page of every carrier (the last response of each case under
``tests/carriers/fixtures/``) is a **base**: an answer page shows the status its case
says, any other page (maintenance, a changed layout, an echo of another device…)
shows none. Operators change a base the way a site, a proxy or a hostile page could,
and each operator says, **by construction and without asking any adapter**, what the
changed page shows:

``ordinary``
    A variation a person would not see (blanks, attribute order and quoting, tag
    case, character references, comments, another encoding declared as such, extra
    class names, a harmless inline style, an inline wrapper around the symbol, another
    printed form of the same symbol). The page still shows its status, and an
    adapter **must read it** (``Truth.must_read``).
``answer``
    Another valid symbol in the status slot of a page that carries no wording: the
    page now shows that symbol's status, and it must be read as that.
``hostile``
    The six classes of issue #8 and more: a notice beside a placeholder, a page about
    another device, a JSON envelope with an error, an extra or moved panel, hidden or
    struck markup, combining marks, look-alike symbols, scripts and styles, a refresh,
    another status's sentence. The page shows **no single status** (``status`` None):
    the only acceptable outcome is ``unknown``. A few hostile operators leave the
    real status visible and only add something hidden (``status`` kept, nothing
    required): reading the real status is then fine, reading any other is not.
``damage``
    Truncation, a cut-out slice, a duplicated or reordered element, an encoding
    declared falsely: the page may still show its status or show nothing; any
    other status is a misread. Applied only to pages no hostile operator has touched,
    so that a cut can never reveal something a hostile operator hid.

The engine never imports an adapter or a template: it finds the symbol, the echo and
the wording on a page by the recorded case's own expectations (``AdapterCase.symbol``,
``AdapterCase.imei``) and by the sentences of the reference (``_SENTENCES``), with
regular expressions of its own.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from akarom.carriers import ADAPTERS, CarrierAdapter, Page
from akarom.domain import Carrier, Status
from tests.carriers.replay import Replay

__all__ = ["OPERATORS", "Base", "Doc", "Operator", "Truth", "Variant", "bases", "variants"]

# Printed symbols by status (carrier-sites.md §7), kept here apart from the adapters'.
PRINTED: dict[Status, tuple[str, ...]] = {
    Status.OK: ("○", "〇", "◯"),
    Status.PENDING: ("△", "▲"),
    Status.RESTRICTED: ("×", "✕"),
    Status.UNREGISTERED: ("-", "－", "ー", "−"),
}
STATUS_OF = {symbol: status for status, symbols in PRINTED.items() for symbol in symbols}
LOOK_ALIKES = ("●", "◎", "◇", "▽", "▼", "✖", "☓", "x", "X", "0", "O", "⚪", "＿", "~", "?", "ｘ")
PLACEHOLDERS = ("-", "－", "ー", "−")
# What may follow or precede a symbol and change what it looks like.
MARKS = ("\u20e0", "\u0338", "\u20dd", "\u0336", "\ufe0e", "\ufe0f", "\u200d", "\u200b", "\u034f")
PREFIXES = ("\u202e", "\u200f", "\u2066", "\u200b")
NOTICES = (
    "ただいまメンテナンス中のため、ご利用いただけません。",
    "システムエラーが発生しました。しばらくしてから再度お試しください。",
    "アクセスが集中しております。時間をおいて再度アクセスしてください。",
    "セッションの有効期限が切れました。最初からやり直してください。",
    "Service Temporarily Unavailable",
    "ただいま混み合っております。",
    "現在、判定結果を表示できません。",
    "不正な画面遷移です。",
)
# Sentences a carrier prints for a status (carrier-sites.md §1.5 and the recorded pages).
_SENTENCES: dict[Status, tuple[str, ...]] = {
    Status.OK: (
        "利用可（後日不正契約が認められた場合を除く）",
        "ご利用いただけます。ネットワーク利用制限の対象外です。",
        "ネットワーク利用制限の対象外です。",
    ),
    Status.PENDING: (
        "利用できますが、代金債務の不履行等により利用制限となる可能性があります。",
        "ご利用いただけますが、代金債務の不履行等により、今後ネットワーク利用制限の対象となる"
        "可能性があります。",
        "分割払い中のため、ネットワーク利用制限の対象となる可能性があります。",
    ),
    Status.RESTRICTED: (
        "利用制限中です。",
        "利用制限中のため、この携帯電話機はご利用いただけません。",
    ),
    Status.UNREGISTERED: ("IMEI（製造番号）が確認できません。", "製造番号が確認できません。"),
}
OTHER_IMEIS = ("353287081234565", "356938035643809", "490154203237518", "352099001761481")
HIDING_WRAPPERS = (
    '<span style="display:none">{}</span>',
    '<span style="display: none !important">{}</span>',
    "<span hidden>{}</span>",
    '<span style="visibility:hidden">{}</span>',
    '<span style="font-size:0">{}</span>',
    '<span style="font-size:1px">{}</span>',
    '<span style="opacity:0">{}</span>',
    '<span style="color:#fff">{}</span>',
    '<span style="position:absolute;left:-9999px">{}</span>',
    '<span class="sr-only">{}</span>',
    '<span class="visually-hidden">{}</span>',
    '<span class="d-none">{}</span>',
    '<span aria-hidden="true" class="hidden">{}</span>',
    "<noscript>{}</noscript>",
    "<textarea>{}</textarea>",
    "<template>{}</template>",
    "<del>{}</del>",
    "<s>{}</s>",
    "<strike>{}</strike>",
    '<span style="text-decoration:line-through">{}</span>',
    '<div style="display:none"><div class="result-panel">{}</div></div>',
    '<font color="#ffffff">{}</font>',
    '<span style="clip:rect(0 0 0 0);position:absolute">{}</span>',
)
ACTIVE = (
    "<script>document.write('×');</script>",
    '<script src="/js/result.js"></script>',
    "<script>document.querySelector('div').textContent='○'</script>",
    "<style>.result-panel,font,.list_details{display:none}</style>",
    "<style>body{color:#fff}</style>",
    '<iframe src="/other.html"></iframe>',
    '<object data="/other.html"></object>',
    '<img src="x" onerror="document.body.innerHTML=\'○\'">',
    '<meta http-equiv="refresh" content="0;url=/elsewhere">',
    '<svg><text x="0" y="10">○</text></svg>',
    "<marquee>×</marquee>",
    '<form action="/x"><input type="hidden" name="status" value="0"></form>',
)
BENIGN_CLASSES = ("is-active", "js-result", "u-mt10", "clearfix", "x12", "pc-only", "sp-view")
BENIGN_STYLES = ("text-align:center", "font-weight:bold", "margin:0", "padding:4px 8px")


@dataclass(frozen=True, slots=True)
class Truth:
    """What a variant shows: ``status`` (None: no single status) and whether it must be read."""

    status: Status | None
    must_read: bool


@dataclass(frozen=True, slots=True)
class Doc:
    """A page being mutated, with what it shows."""

    carrier: Carrier
    case: str
    imei: str
    text: str
    encoding: str  # what the bytes will be written in
    headers: dict[str, str]
    is_json: bool
    symbol: str | None  # the printed symbol, where it stands as element text
    status: Status | None
    must_read: bool
    has_wording: bool
    hostile: bool = False
    ops: tuple[str, ...] = ()

    @property
    def truth(self) -> Truth:
        return Truth(self.status, self.must_read and self.status is not None)

    def page(self) -> Page:
        headers = {k.lower(): v for k, v in self.headers.items()}
        content = self.text.encode(self.encoding, errors="xmlcharrefreplace")
        if self.encoding == "utf-16":
            content = self.text.encode("utf-16")  # with its byte-order mark
        return Page("POST", "https://carrier.test/answer", 200, headers, content)


@dataclass(frozen=True, slots=True)
class Base:
    """A recorded page as a base for variants."""

    doc: Doc
    adapter: type[CarrierAdapter]


@dataclass(frozen=True, slots=True)
class Variant:
    """One mutated page, the IMEI asked about, and what it shows."""

    carrier: Carrier
    case: str
    first: str  # the name of the first operator applied
    ops: tuple[str, ...]
    page: Page
    imei: str
    truth: Truth


Apply = Callable[[Doc, random.Random], Doc | None]


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    family: str  # ordinary | answer | hostile | damage
    apply: Apply
    json: bool = False  # applies to JSON bodies (else to HTML)
    needs_answer: bool = False  # needs a page that shows a status
    rewrites: bool = False  # re-serialises a JSON body (which would undo a hostile change)


def _actual_encoding(page: Page) -> str:
    for encoding in ("utf-8", "cp932"):
        try:
            page.content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def bases(carrier: Carrier) -> list[Base]:
    """Every recorded page of ``carrier`` that came back with a body."""
    adapter = next(a for a in ADAPTERS if a.CARRIER is carrier)
    found = []
    for case in adapter.TESTS:
        replay = Replay.load(carrier.value, case.name, case.imei)
        if not any("raise" not in step and step.get("body") for step in replay.steps):
            continue
        page = replay.result_page()
        encoding = _actual_encoding(page)
        text = page.content.decode(encoding)
        status = case.expect if isinstance(case.expect, Status) else None
        is_json = "json" in page.headers.get("content-type", "")
        found.append(
            Base(
                Doc(
                    carrier=carrier,
                    case=case.name,
                    imei=case.imei,
                    text=text,
                    encoding=encoding,
                    headers=dict(page.headers),
                    is_json=is_json,
                    symbol=case.symbol if status is not None and not is_json else None,
                    status=status,
                    must_read=status is not None,
                    has_wording=any(s in text for ss in _SENTENCES.values() for s in ss),
                ),
                adapter,
            )
        )
    return found


# --- where things are on an HTML page --------------------------------------------------

# A tag, or a whole comment (which may hold ``>``).
_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
_BODY_START = re.compile(r"<body[^>]*>", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


def _body_span(text: str) -> tuple[int, int]:
    start = _BODY_START.search(text)
    end = _BODY_END.search(text)
    return (start.end() if start else 0), (end.start() if end else len(text))


def _gaps(text: str) -> list[int]:
    """Positions in the body between two tags (where a new element may go)."""
    low, high = _body_span(text)
    return [m.end() for m in _TAG.finditer(text, low, high) if text.startswith("<", m.end())]


_REFERENCE = re.compile(r"&#?\w+;")


def _splittable(text: str, start: int, end: int) -> list[int]:
    """Positions in ``text[start:end]`` that do not cut a character reference in two."""
    inside = {
        position
        for ref in _REFERENCE.finditer(text, start, end)
        for position in range(ref.start() + 1, ref.end())
    }
    return [position for position in range(start, end + 1) if position not in inside]


def _text_runs(text: str) -> list[tuple[int, int]]:
    """Spans of non-blank text between tags in the body."""
    low, high = _body_span(text)
    runs, position = [], low
    for tag in _TAG.finditer(text, low, high):
        if text[position : tag.start()].strip():
            runs.append((position, tag.start()))
        position = tag.end()
    return runs


def _start_tags(text: str) -> list[re.Match[str]]:
    low, high = _body_span(text)
    return [
        m
        for m in _TAG.finditer(text, low, high)
        if re.match(r"<[A-Za-z]", m.group()) and not m.group().startswith("<!")
    ]


def _symbol_at(doc: Doc) -> int | None:
    """Where the printed symbol starts an element's text, if the page shows it once."""
    if doc.symbol is None:
        return None
    found = [
        m.end(1) for m in re.finditer(r"(>[\s\u3000\u00a0]*)" + re.escape(doc.symbol), doc.text)
    ]
    return found[0] if len(found) == 1 else None


def _edit(doc: Doc, op: str, text: str, **changes: Any) -> Doc:
    return replace(doc, text=text, ops=(*doc.ops, op), **changes)


def _hostile(doc: Doc, op: str, text: str, *, keeps_status: bool = False) -> Doc:
    return _edit(
        doc,
        op,
        text,
        status=doc.status if keeps_status else None,
        must_read=False,
        hostile=True,
    )


def _insert_at_gap(doc: Doc, rng: random.Random, fragment: str) -> str | None:
    gaps = _gaps(doc.text)
    if not gaps:
        return None
    at = rng.choice(gaps)
    return doc.text[:at] + fragment + doc.text[at:]


# --- ordinary operators ----------------------------------------------------------------


def blanks(doc: Doc, rng: random.Random) -> Doc | None:
    text = doc.text
    for _ in range(rng.randint(1, 6)):
        gaps = _gaps(text)
        if not gaps:
            return None
        at = rng.choice(gaps)
        text = text[:at] + rng.choice([" ", "\n", "\t", "\r\n", "\n\n  ", " \t "]) + text[at:]
    return _edit(doc, "blanks", text)


def edge_blanks(doc: Doc, rng: random.Random) -> Doc | None:
    """Blanks (ideographic space, NBSP included) at the edges of a text."""
    runs = _text_runs(doc.text)
    if not runs:
        return None
    start, end = rng.choice(runs)
    pad = rng.choice([" ", "\u3000", "\n  ", "\u00a0", "\t"])
    text = doc.text[:start] + pad + doc.text[start:end] + pad + doc.text[end:]
    return _edit(doc, "edge blanks", text)


def _rewrite_tag(tag: str, rng: random.Random, *, upper: bool) -> str:
    inner = re.match(r"<([A-Za-z][\w:-]*)(.*?)(/?)>$", tag, re.S)
    if inner is None:
        return tag
    name, rest, slash = inner.groups()
    attrs = _ATTR.findall(rest)
    rng.shuffle(attrs)
    written = []
    for attr_name, value in attrs:
        if upper:
            attr_name = attr_name.upper()
        if not value:
            written.append(attr_name)
            continue
        raw = value[1:-1] if value[0] in "'\"" else value
        quote = "'" if '"' in raw else rng.choice(['"', "'"])
        if re.fullmatch(r"[\w#.-]+", raw) and rng.random() < 0.3:
            quote = ""
        written.append(f"{attr_name}={quote}{raw}{quote}")
    name = name.upper() if upper else name
    return "<" + " ".join([name, *written]) + (" /" if slash else "") + ">"


def attribute_order(doc: Doc, rng: random.Random) -> Doc | None:
    tags = [m for m in _start_tags(doc.text) if " " in m.group()]
    if not tags:
        return None
    text = doc.text
    for tag in sorted(
        rng.sample(tags, min(len(tags), rng.randint(1, 4))), key=lambda m: -m.start()
    ):
        text = text[: tag.start()] + _rewrite_tag(tag.group(), rng, upper=False) + text[tag.end() :]
    return _edit(doc, "attribute order", text)


def tag_case(doc: Doc, rng: random.Random) -> Doc | None:
    def upper(match: re.Match[str]) -> str:
        tag = match.group()
        if tag.startswith("</"):
            return tag.upper()
        if tag.startswith("<!"):
            return tag
        return _rewrite_tag(tag, rng, upper=True)

    return _edit(doc, "tag case", _TAG.sub(upper, doc.text))


def character_references(doc: Doc, rng: random.Random) -> Doc | None:
    runs = _text_runs(doc.text)
    if not runs:
        return None
    text = doc.text
    for start, end in sorted(rng.sample(runs, min(len(runs), rng.randint(1, 5))), reverse=True):
        written = "".join(
            (f"&#x{ord(ch):X};" if rng.random() < 0.5 else f"&#{ord(ch)};")
            if ord(ch) > 127 and rng.random() < 0.7
            else ch
            for ch in text[start:end]
        )
        text = text[:start] + written + text[end:]
    return _edit(doc, "character references", text)


def named_reference(doc: Doc, rng: random.Random) -> Doc | None:
    """The symbol as a named reference (``&cir;`` is ○, ``&times;`` is ×)."""
    names = {"○": "&cir;", "×": "&times;", "−": "&minus;", "-": "&#45;", "△": "&#x25B3;"}
    at = _symbol_at(doc)
    if at is None or doc.symbol not in names:
        return None
    text = doc.text[:at] + names[doc.symbol] + doc.text[at + 1 :]
    return _edit(doc, "named reference", text)


def comments(doc: Doc, rng: random.Random) -> Doc | None:
    text = doc.text
    for _ in range(rng.randint(1, 4)):
        choices = [
            *_gaps(text),
            *(rng.choice(_splittable(text, s, e)) for s, e in _text_runs(text)),
        ]
        if not choices:
            return None
        at = rng.choice(choices)
        note = rng.choice(["", " x ", " result ", " 判定結果: × ", " <p>○</p> ", "-", " > "])
        text = text[:at] + f"<!--{note}-->" + text[at:]
    return _edit(doc, "comments", text)


def _declare(doc: Doc, encoding: str, *, honest: bool) -> Doc:
    label = {"cp932": "Shift_JIS", "utf-8": "UTF-8", "euc_jp": "EUC-JP", "utf-16": "UTF-16"}
    text = re.sub(
        r"(charset\s*=\s*[\"']?)([\w-]+)",
        lambda m: m.group(1) + label[encoding],
        doc.text,
        count=1,
        flags=re.I,
    )
    headers = dict(doc.headers)
    content_type = headers.get("content-type", "text/html")
    headers["content-type"] = re.sub(r";\s*charset=[\w-]+", "", content_type) + (
        f"; charset={label[encoding]}"
    )
    if honest:
        return replace(doc, text=text, headers=headers, encoding=encoding)
    return replace(doc, text=text, headers=headers)


def reencode(doc: Doc, rng: random.Random) -> Doc | None:
    target = rng.choice([e for e in ("utf-8", "cp932", "euc_jp", "utf-16") if e != doc.encoding])
    # A byte-order mark belongs to the old encoding, not to the text: it goes with it.
    changed = _declare(replace(doc, text=doc.text.removeprefix("\ufeff")), target, honest=True)
    return replace(changed, ops=(*doc.ops, f"reencode {target}"))


def byte_order_mark(doc: Doc, rng: random.Random) -> Doc | None:
    """UTF-8 with a byte-order mark, whatever the page declares (a browser follows the mark)."""
    if doc.encoding != "utf-8" or doc.text.startswith("\ufeff"):
        return None
    return _edit(doc, "byte-order mark", "\ufeff" + doc.text)


def line_endings(doc: Doc, rng: random.Random) -> Doc | None:
    return _edit(doc, "CRLF", doc.text.replace("\r\n", "\n").replace("\n", "\r\n"))


def self_closing(doc: Doc, rng: random.Random) -> Doc | None:
    """Void elements written ``<br>`` become ``<br />``, and ``<br />`` become ``<br>``."""
    void = re.compile(r"<(br|img|meta|link|hr|input)\b([^>]*?)\s*(/?)>", re.I)
    text = void.sub(lambda m: f"<{m.group(1)}{m.group(2)}{'' if m.group(3) else ' /'}>", doc.text)
    return _edit(doc, "self-closing", text) if text != doc.text else None


def extra_class(doc: Doc, rng: random.Random) -> Doc | None:
    tags = _start_tags(doc.text)
    if not tags:
        return None
    tag = rng.choice(tags)
    name = rng.choice(BENIGN_CLASSES)
    written = tag.group()
    if re.search(r"\sclass\s*=\s*\"", written, re.I):
        written = re.sub(r'(\sclass\s*=\s*")', rf"\1{name} ", written, count=1, flags=re.I)
    elif re.search(r"\sclass\s*=", written, re.I):
        return None
    else:
        written = written[:-1].rstrip("/") + f' class="{name}">'
    return _edit(doc, "extra class", doc.text[: tag.start()] + written + doc.text[tag.end() :])


def extra_attribute(doc: Doc, rng: random.Random) -> Doc | None:
    tags = [t for t in _start_tags(doc.text) if " id=" not in t.group().lower()]
    if not tags:
        return None
    tag = rng.choice(tags)
    extra = rng.choice([' data-v-3f2a=""', ' data-index="2"', ' id="r12"', ' lang="ja"'])
    written = tag.group()[:-1].rstrip("/") + extra + ">"
    return _edit(doc, "extra attribute", doc.text[: tag.start()] + written + doc.text[tag.end() :])


def benign_style(doc: Doc, rng: random.Random) -> Doc | None:
    tags = [t for t in _start_tags(doc.text) if "style=" not in t.group().lower()]
    if not tags:
        return None
    tag = rng.choice(tags)
    written = tag.group()[:-1].rstrip("/") + f' style="{rng.choice(BENIGN_STYLES)}">'
    return _edit(doc, "benign style", doc.text[: tag.start()] + written + doc.text[tag.end() :])


def wrap_symbol(doc: Doc, rng: random.Random) -> Doc | None:
    at = _symbol_at(doc)
    if at is None:
        return None
    wrapper = rng.choice(
        ["<span>{}</span>", "<b>{}</b>", "<strong>{}</strong>", '<span class="ico">{}</span>']
    )
    text = doc.text[:at] + wrapper.format(doc.text[at]) + doc.text[at + 1 :]
    return _edit(doc, "wrap symbol", text)


def same_status_symbol(doc: Doc, rng: random.Random) -> Doc | None:
    at = _symbol_at(doc)
    if at is None or doc.status is None:
        return None
    others = [s for s in PRINTED[doc.status] if s != doc.symbol]
    if not others:
        return None
    symbol = rng.choice(others)
    return _edit(
        doc, f"same status {symbol}", doc.text[:at] + symbol + doc.text[at + 1 :], symbol=symbol
    )


# --- answer operators ------------------------------------------------------------------


def other_status_symbol(doc: Doc, rng: random.Random) -> Doc | None:
    """Another status's symbol; a page carrying a sentence then contradicts itself."""
    at = _symbol_at(doc)
    if at is None or doc.status is None:
        return None
    status = rng.choice([s for s in PRINTED if s is not doc.status])
    symbol = rng.choice(PRINTED[status])
    text = doc.text[:at] + symbol + doc.text[at + 1 :]
    if doc.has_wording:
        return _hostile(replace(doc, symbol=symbol), f"contradicting {symbol}", text)
    return _edit(doc, f"other status {symbol}", text, symbol=symbol, status=status)


# --- hostile operators -----------------------------------------------------------------


def notice_with_placeholder(doc: Doc, rng: random.Random) -> Doc | None:
    fragment = rng.choice(
        [
            "<p>{}</p>",
            '<div class="notice"><p>{}</p></div>',
            '<p class="txt_error">{}</p>',
            '<tr><td><font size="2">{}</font></td></tr>',
            "{}",
            '<div class="result-panel">{}</div>',
        ]
    ).format(rng.choice(NOTICES))
    text = _insert_at_gap(doc, rng, fragment)
    if text is None:
        return None
    at = _symbol_at(replace(doc, text=text))
    if at is not None and rng.random() < 0.7:
        text = text[:at] + rng.choice(PLACEHOLDERS) + text[at + 1 :]
    return _hostile(doc, "notice beside the answer", text)


def _near_misses(imei: str, other: str) -> list[str]:
    """Numbers that are not ``imei`` but look like it (masked, cut, longer, annotated…)."""
    last = imei[-1]
    bumped = "0123456789ABCDEF"[("0123456789ABCDEF".index(last.upper()) + 1) % 10]
    return [
        other,
        imei[:-4] + "****",
        imei[:10],
        imei[:-1],
        imei + "01",
        imei[:-1] + bumped,
        imei + "（iPhone 15）",
        f"{imei[:2]}-{imei[2:8]}-{imei[8:-1]}-{bumped}",
        "IMEI: " + other,
        imei.replace(imei[5], "*", 1),
    ]


def another_device(doc: Doc, rng: random.Random) -> Doc | None:
    other = rng.choice([i for i in OTHER_IMEIS if i != doc.imei])
    shown = rng.choice(_near_misses(doc.imei, other))
    if doc.imei in doc.text:
        return _hostile(doc, f"echo {shown!r}", doc.text.replace(doc.imei, shown))
    fragment = rng.choice(
        [
            "<p>製造番号：{}</p>",
            "{}",
            "<tr><td>製造番号（IMEI）：{}</td></tr>",
            '<div class="result-panel">{}</div>',
        ]
    )
    text = _insert_at_gap(doc, rng, fragment.format(other))
    return None if text is None else _hostile(doc, "another device's number", text)


def extra_status_element(doc: Doc, rng: random.Random) -> Doc | None:
    """A second element that looks like the status (a panel, an item, a size-8 font)."""
    symbol = rng.choice([*STATUS_OF, *PLACEHOLDERS])
    fragment = rng.choice(
        [
            '<div class="result-panel">{}</div>',
            '<h5>ネットワーク利用制限のステータス</h5><div class="result-panel">{}</div>',
            '<li class="list_item"><div class="list_heading">SIMロック解除状態</div>'
            '<div class="list_details">{}解除済み</div></li>',
            '<li class="list_item"><div class="list_heading">状態の見方</div>'
            '<div class="list_details">{}：ご利用いただけます</div></li>',
            '<li class="list_item"><div class="list_heading">状態</div>'
            '<div class="list_details">{}</div></li>',
            '<font size="8" color="#666666">{}</font>',
            '<tr><td align="center"><font size="8" color="#cc0000">{}</font></td></tr>',
            "<p>{}</p>",
            '<div class="panel outst"><p>{}：利用可 △：注意 ×：利用制限中</p></div>',
        ]
    ).format(symbol)
    text = _insert_at_gap(doc, rng, fragment)
    return None if text is None else _hostile(doc, "extra status element", text)


def hide_symbol(doc: Doc, rng: random.Random) -> Doc | None:
    """The real symbol hidden or struck; sometimes another shown beside it."""
    at = _symbol_at(doc)
    if at is None:
        return None
    hidden = rng.choice(HIDING_WRAPPERS).format(doc.text[at])
    shown = rng.choice(["", "", *STATUS_OF])
    text = doc.text[:at] + hidden + shown + doc.text[at + 1 :]
    return _hostile(doc, "hidden symbol", text)


def hidden_decoy(doc: Doc, rng: random.Random) -> Doc | None:
    """A hidden symbol (or panel) before the real one, which stays visible."""
    at = _symbol_at(doc)
    if at is None:
        return None
    decoy = rng.choice(HIDING_WRAPPERS).format(rng.choice([*STATUS_OF]))
    text = doc.text[:at] + decoy + doc.text[at:]
    return _hostile(doc, "hidden decoy", text, keeps_status=True)


def hidden_ancestor(doc: Doc, rng: random.Random) -> Doc | None:
    """A hiding attribute or class on an element of the page.

    Only on an element that has no such attribute yet: a browser keeps the first of two
    same-named attributes, so a second ``style`` would hide nothing.
    """
    extra = rng.choice(
        [
            ' style="display:none"',
            " hidden",
            ' class="hidden"',
            ' aria-hidden="true"',
            ' style="visibility: hidden"',
            ' style="color:white;background:white"',
        ]
    )
    name = extra.split("=")[0].strip()
    tags = [t for t in _start_tags(doc.text) if not re.search(rf"\s{name}\b", t.group(), re.I)]
    if not tags:
        return None
    tag = rng.choice(tags)
    written = tag.group()[:-1].rstrip("/") + extra + ">"
    return _hostile(
        doc, "hiding attribute", doc.text[: tag.start()] + written + doc.text[tag.end() :]
    )


def combining_mark(doc: Doc, rng: random.Random) -> Doc | None:
    at = _symbol_at(doc)
    if at is None:
        return None
    if rng.random() < 0.75:
        text = doc.text[: at + 1] + rng.choice(MARKS) + doc.text[at + 1 :]
    else:
        text = doc.text[:at] + rng.choice(PREFIXES) + doc.text[at:]
    return _hostile(doc, "mark on the symbol", text)


def look_alike(doc: Doc, rng: random.Random) -> Doc | None:
    at = _symbol_at(doc)
    if at is None:
        return None
    return _hostile(doc, "look-alike", doc.text[:at] + rng.choice(LOOK_ALIKES) + doc.text[at + 1 :])


def two_symbols(doc: Doc, rng: random.Random) -> Doc | None:
    at = _symbol_at(doc)
    if at is None:
        return None
    second = rng.choice([*STATUS_OF])
    joiner = rng.choice(["", " ", "\u3000", "<br>", " / "])
    return _hostile(doc, "two symbols", doc.text[: at + 1] + joiner + second + doc.text[at + 1 :])


def active_content(doc: Doc, rng: random.Random) -> Doc | None:
    fragment = rng.choice(ACTIVE)
    if rng.random() < 0.4:
        head = re.search(r"</head\s*>", doc.text, re.I)
        if head is None:
            return None
        text = doc.text[: head.start()] + fragment + doc.text[head.start() :]
    else:
        text = _insert_at_gap(doc, rng, fragment)
        if text is None:
            return None
    return _hostile(doc, "active content", text)


def other_sentence(doc: Doc, rng: random.Random) -> Doc | None:
    status = rng.choice([s for s in _SENTENCES if s is not doc.status])
    sentence = rng.choice(_SENTENCES[status])
    text = _insert_at_gap(
        doc, rng, rng.choice(["<p>{}</p>", "{}", '<p class="txt_note">{}</p>']).format(sentence)
    )
    return None if text is None else _hostile(doc, "another status's sentence", text)


def title_change(doc: Doc, rng: random.Random) -> Doc | None:
    found = re.search(r"<title>(.*?)</title>", doc.text, re.I | re.S)
    if found is None:
        return None
    title = rng.choice(
        ["メンテナンス中", "エラー", "Service Unavailable", found.group(1) + "（エラー）"]
    )
    return _hostile(doc, "title", doc.text[: found.start(1)] + title + doc.text[found.end(1) :])


# --- damage operators (only on pages no hostile operator touched) ----------------------


def _damaged(doc: Doc, op: str, text: str) -> Doc:
    return _edit(doc, op, text, must_read=False)


def truncate(doc: Doc, rng: random.Random) -> Doc | None:
    return _damaged(doc, "truncated", doc.text[: rng.randint(0, max(0, len(doc.text) - 1))])


def cut_slice(doc: Doc, rng: random.Random) -> Doc | None:
    start = rng.randint(0, max(0, len(doc.text) - 1))
    end = rng.randint(start, min(len(doc.text), start + rng.choice([1, 3, 20, 200, 2000])))
    return _damaged(doc, f"cut {start}:{end}", doc.text[:start] + doc.text[end:])


def duplicate_element(doc: Doc, rng: random.Random) -> Doc | None:
    simple = list(re.finditer(r"<(\w+)[^>]*>[^<]*</\1>", doc.text[slice(*_body_span(doc.text))]))
    if not simple:
        return None
    low = _body_span(doc.text)[0]
    element = rng.choice(simple)
    start, end = low + element.start(), low + element.end()
    return _damaged(
        doc, "duplicated element", doc.text[:end] + doc.text[start:end] + doc.text[end:]
    )


def reorder(doc: Doc, rng: random.Random) -> Doc | None:
    low = _body_span(doc.text)[0]
    simple = list(re.finditer(r"<(\w+)[^>]*>[^<]*</\1>", doc.text[slice(*_body_span(doc.text))]))
    if len(simple) < 2:
        return None
    first, second = sorted(rng.sample(simple, 2), key=lambda m: m.start())
    a, b = (low + first.start(), low + first.end()), (low + second.start(), low + second.end())
    text = doc.text
    text = text[: a[0]] + text[b[0] : b[1]] + text[a[1] : b[0]] + text[a[0] : a[1]] + text[b[1] :]
    return _damaged(doc, "reordered elements", text)


def false_charset(doc: Doc, rng: random.Random) -> Doc | None:
    target = rng.choice([e for e in ("utf-8", "cp932", "euc_jp", "latin-1") if e != doc.encoding])
    label = {"cp932": "Shift_JIS", "utf-8": "UTF-8", "euc_jp": "EUC-JP", "latin-1": "ISO-8859-1"}
    headers = dict(doc.headers)
    headers["content-type"] = (
        re.sub(r";\s*charset=[\w-]+", "", headers.get("content-type", "text/html"))
        + f"; charset={label[target]}"
    )
    return _damaged(replace(doc, headers=headers), f"declared {target}", doc.text)


# --- JSON operators --------------------------------------------------------------------


def _data(doc: Doc) -> dict[str, Any] | None:
    try:
        data = json.loads(doc.text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _dump(data: dict[str, Any], rng: random.Random, *, ascii_only: bool | None = None) -> str:
    items = list(data.items())
    rng.shuffle(items)
    return json.dumps(
        dict(items),
        ensure_ascii=rng.random() < 0.5 if ascii_only is None else ascii_only,
        indent=rng.choice([None, 1, 2, "\t"]),
        separators=rng.choice([(",", ":"), (", ", ": "), (",", " : ")]),
    )


def json_layout(doc: Doc, rng: random.Random) -> Doc | None:
    """Key order, blanks, ``\\u`` escapes: the same object."""
    data = _data(doc)
    return None if data is None else _edit(doc, "json layout", _dump(data, rng))


def json_escaped_key(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None or "status" not in data:
        return None
    text = _dump(data, rng, ascii_only=True).replace('"status"', '"st\\u0061tus"', 1)
    return _edit(doc, "json escaped key", text)


def json_other_status(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    codes = {Status.OK: 0, Status.PENDING: 1, Status.RESTRICTED: 2, Status.UNREGISTERED: 3}
    if data is None or doc.status is None or data.get("status") != codes[doc.status]:
        return None
    status = rng.choice([s for s in codes if s is not doc.status])
    data["status"] = codes[status]
    if "message" in data:
        return _hostile(doc, "json contradicting status", _dump(data, rng))
    return _edit(doc, f"json status {codes[status]}", _dump(data, rng), status=status)


def json_envelope(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None:
        return None
    key, value = rng.choice(
        [
            ("error", {"code": "E500", "message": "システムエラーが発生しました"}),
            ("error", "maintenance"),
            ("errors", [{"message": "Service Temporarily Unavailable"}]),
            ("message", "ただいまメンテナンス中です"),
            ("message", "アクセスが集中しております"),
            ("code", 500),
            ("result", "NG"),
            ("success", False),
            ("maintenance", True),
            ("data", {"status": 2}),
            ("statusCode", 503),
            ("Status", 2),
        ]
    )
    data[key] = value
    return _hostile(doc, f"json {key}", _dump(data, rng))


def json_status_type(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None or "status" not in data:
        return None
    raw = rng.choice(
        [
            '"0"',
            "0.0",
            "true",
            "false",
            "null",
            "[0]",
            '{"v":0}',
            "-0",
            "00",
            "1e0",
            "0.5",
            "NaN",
            "Infinity",
            '"○"',
            '"-"',
            "1180591620717411303424",
            " -1",
        ]
    )
    text = re.sub(r'("status"\s*:\s*)[^,}]+', lambda m: m.group(1) + raw, _dump(data, rng), count=1)
    return _hostile(doc, f"json status {raw}", text)


def json_duplicate_key(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None or "status" not in data:
        return None
    text = (
        _dump(data, rng, ascii_only=True).rstrip("}").rstrip()
        + f', "status": {rng.randint(0, 3)}}}'
    )
    return _hostile(doc, "json duplicate key", text)


def json_echo(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None:
        return None
    other = rng.choice([i for i in OTHER_IMEIS if i != doc.imei])
    data[rng.choice(["imei", "imei", "IMEI", "imeiNo"])] = rng.choice(
        [*_near_misses(doc.imei, other), int(other), " " + doc.imei, None, [doc.imei]]
    )
    return _hostile(doc, "json echo", _dump(data, rng))


def json_nested(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None:
        return None
    wrapped = rng.choice([{"result": data}, [data], {"data": data, "status": data.get("status")}])
    return _hostile(doc, "json nested", json.dumps(wrapped))


def json_media_type(doc: Doc, rng: random.Random) -> Doc | None:
    headers = dict(doc.headers)
    headers["content-type"] = rng.choice(["text/plain", "text/html; charset=utf-8", ""])
    return _hostile(replace(doc, headers=headers), "json served as another type", doc.text)


def json_message(doc: Doc, rng: random.Random) -> Doc | None:
    data = _data(doc)
    if data is None:
        return None
    status = rng.choice(list(_SENTENCES))
    data["message"] = rng.choice(_SENTENCES[status] + NOTICES)
    same = doc.status is status and data["message"] in _SENTENCES.get(status, ())
    # A known sentence for the page's own status is fine, anything else is not.
    return _hostile(doc, "json message", _dump(data, rng), keeps_status=same)


OPERATORS: tuple[Operator, ...] = (
    Operator("blanks", "ordinary", blanks),
    Operator("edge blanks", "ordinary", edge_blanks),
    Operator("attribute order", "ordinary", attribute_order),
    Operator("tag case", "ordinary", tag_case),
    Operator("character references", "ordinary", character_references),
    Operator("named reference", "ordinary", named_reference, needs_answer=True),
    Operator("comments", "ordinary", comments),
    Operator("reencode", "ordinary", reencode),
    Operator("byte-order mark", "ordinary", byte_order_mark),
    Operator("CRLF", "ordinary", line_endings),
    Operator("self-closing", "ordinary", self_closing),
    Operator("extra class", "ordinary", extra_class),
    Operator("extra attribute", "ordinary", extra_attribute),
    Operator("benign style", "ordinary", benign_style),
    Operator("wrap symbol", "ordinary", wrap_symbol, needs_answer=True),
    Operator("same status symbol", "ordinary", same_status_symbol, needs_answer=True),
    Operator("other status symbol", "answer", other_status_symbol, needs_answer=True),
    Operator("notice beside the answer", "hostile", notice_with_placeholder),
    Operator("another device", "hostile", another_device),
    Operator("extra status element", "hostile", extra_status_element),
    Operator("hidden symbol", "hostile", hide_symbol, needs_answer=True),
    Operator("hidden decoy", "hostile", hidden_decoy, needs_answer=True),
    Operator("hiding attribute", "hostile", hidden_ancestor),
    Operator("mark on the symbol", "hostile", combining_mark, needs_answer=True),
    Operator("look-alike", "hostile", look_alike, needs_answer=True),
    Operator("two symbols", "hostile", two_symbols, needs_answer=True),
    Operator("active content", "hostile", active_content),
    Operator("another status's sentence", "hostile", other_sentence),
    Operator("title", "hostile", title_change),
    Operator("truncated", "damage", truncate),
    Operator("cut slice", "damage", cut_slice),
    Operator("duplicated element", "damage", duplicate_element),
    Operator("reordered elements", "damage", reorder),
    Operator("false charset", "damage", false_charset),
    Operator("json layout", "ordinary", json_layout, json=True, rewrites=True),
    Operator("json escaped key", "ordinary", json_escaped_key, json=True, rewrites=True),
    Operator("byte-order mark", "ordinary", byte_order_mark, json=True),
    Operator("json other status", "answer", json_other_status, json=True, rewrites=True),
    Operator("json envelope", "hostile", json_envelope, json=True, rewrites=True),
    Operator("json status type", "hostile", json_status_type, json=True, rewrites=True),
    Operator("json duplicate key", "hostile", json_duplicate_key, json=True, rewrites=True),
    Operator("json echo", "hostile", json_echo, json=True, rewrites=True),
    Operator("json nested", "hostile", json_nested, json=True, rewrites=True),
    Operator("json media type", "hostile", json_media_type, json=True),
    Operator("json message", "hostile", json_message, json=True, rewrites=True),
    Operator("truncated", "damage", truncate, json=True),
    Operator("cut slice", "damage", cut_slice, json=True),
)


def _usable(operator: Operator, doc: Doc) -> bool:
    if operator.json != doc.is_json:
        return False
    if operator.needs_answer and doc.symbol is None:
        return False
    # Damage only where it cannot reveal what a hostile operator hid, nor cut away the
    # one thing that made a page a non-answer (an echo of another device, say); and
    # JSON is never rewritten whole after a hostile change that lives in its text
    # (a duplicate key, a number written oddly), which rewriting would undo.
    if operator.family == "damage":
        return doc.status is not None and not doc.hostile
    return not (operator.rewrites and doc.hostile)


def variants(carrier: Carrier, count: int, seed: str) -> Iterator[Variant]:
    """``count`` variants of ``carrier``'s recorded pages, reproducible from ``seed``.

    The first operator of each variant takes the operators in turn (so every class
    is covered in any sample), up to two more are drawn at random.
    """
    rng = random.Random(f"{seed}:{carrier.value}")
    all_bases = bases(carrier)
    produced = 0
    attempt = 0
    while produced < count:
        base = all_bases[attempt % len(all_bases)].doc
        attempt += 1
        usable = [op for op in OPERATORS if _usable(op, base)]
        first = usable[(attempt // len(all_bases)) % len(usable)]
        doc = first.apply(base, rng)
        if doc is None:
            continue
        for _ in range(rng.choice([0, 0, 1, 2])):
            more = [op for op in OPERATORS if _usable(op, doc)]
            changed = rng.choice(more).apply(doc, rng)
            doc = changed if changed is not None else doc
        produced += 1
        yield Variant(carrier, base.case, first.name, doc.ops, doc.page(), base.imei, doc.truth)


@dataclass
class Tally:
    """What a run of variants gave, for the report."""

    variants: int = 0
    read: int = 0
    unknown: int = 0
    by_operator: Counter[str] = field(default_factory=Counter)  # the first operator
    misreads: list[tuple[Variant, str]] = field(default_factory=list)
    missed: list[tuple[Variant, str]] = field(default_factory=list)
