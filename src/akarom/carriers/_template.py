"""Recognising a carrier's answer whole, then reading it.

An adapter does not search a page for something that looks like a symbol. It holds
**templates** of the answers it knows, and accepts an answer only from a page that
matches one of them *whole*: every element in its place, every attribute accounted
for, every piece of text either the template's own words or one of a few **slots**
(the IMEI echo, the status, a known wording, a date), each read by a strict reader.
A page that is anything else (an extra notice, a moved or extra panel, a second
symbol, hidden or struck content, a script, another device's number) is a
``Mismatch``, which the adapter raises as ``ParseError``: the answer is ``unknown``,
the page is kept as evidence, and the mismatch's ``reason`` is counted as drift.

An HTML template is written as the page it describes (``HtmlTemplate``)::

    <html><head><title>確認結果</title><link rel="stylesheet" href="main.css"></head>
    <body><div id="main">
      <h5>製造番号</h5><div class="result-panel">{echo}</div>
      <div class="result-panel">{status}</div>
      <p data-t="optional">{wording}</p>
    </div></body></html>

- ``{name}`` in a text (alone or inside fixed words) or an attribute value is a slot,
  read by the ``Slot`` of that name; the rest of a text must equal the page's
  (blanks collapsed, so line breaks and indentation never matter).
- ``data-t="optional"``: the element may be absent. ``data-t="any-order"``: its child
  elements may come in any order (each once).
- An element whose template content is one text is read as that text with simple
  inline markup flattened: ``<span>``, ``<b>``, ``<strong>``, ``<br>`` (each checked
  like any element).
- In the head, only ``<title>`` (its text is matched), ``<meta>`` of the harmless
  kinds, and ``<link>`` (a stylesheet only when the template links it) may appear:
  a ``<script>``, ``<style>``, ``<base>`` or refresh is a page the template does not
  describe.

What may vary without changing what a person sees, and is accepted (the ordinary
variations of a real page): blanks between and around texts, attribute order and
quoting, tag and attribute-name case, character references, comments, the encoding
(decoded before matching), extra class names, and extra ``id``, ``lang`` and
``data-*`` attributes, unless a name or value says it hides something (``hidden``,
``sr-only``, ``d-none``…). An inline ``style`` is accepted only when every
declaration is one that cannot hide text (a readable ``font-size``, ``text-align``,
non-negative margins and padding…); ``color`` is not one of them. Everything else is
a mismatch: no attribute is ignored because it looks harmless.

``JsonTemplate`` does the same for a JSON body: the keys it names and no other,
each value read by its reader, no duplicate key, no non-standard number.

>>> from akarom.carriers._base import Page
>>> template = HtmlTemplate(
...     "example",
...     '<html><head><title>T</title></head><body><p>状態: {status}</p></body></html>',
...     slots={"status": symbol_slot()},
... )
>>> def page(body): return Page("GET", "https://x/", 200, {}, body.encode())
>>> template.match(page("<title>T</title><p>状態: <b>×</b></p>"), "352099001761481", "utf-8")
{'status': Reading(status=<Status.RESTRICTED: 'restricted'>, symbol='×', message=None)}
>>> template.match(page("<title>T</title><p>状態: ×</p><p>メンテナンス中</p>"),
...                "352099001761481", "utf-8")
Traceback (most recent call last):
...
akarom.carriers._template.Mismatch: body: an element the template does not expect: \
<p> 'メンテナンス中'
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from akarom.carriers._symbols import SYMBOLS
from akarom.domain import Status

if TYPE_CHECKING:
    from akarom.carriers._base import Page

__all__ = [
    "Echo",
    "HtmlTemplate",
    "JsonField",
    "JsonTemplate",
    "Mismatch",
    "PageTemplate",
    "Reading",
    "Reason",
    "Slot",
    "Values",
    "Wording",
    "date_slot",
    "echo_slot",
    "json_echo",
    "json_status",
    "json_wording",
    "one_of",
    "symbol_slot",
    "symbol_with_wording_slot",
    "visible_colour_slot",
    "wording_slot",
]

Values = dict[str, object]


class Reason(enum.StrEnum):
    """Why a page did not match: the drift classes counted per carrier (``akarom doctor``)."""

    STRUCTURE = "page structure"  # an element missing, extra, or of another kind
    TEXT = "unaccounted text"  # words the template does not account for
    ATTRIBUTE = "attribute"  # an attribute the template does not allow
    HIDDEN = "hidden markup"  # markup that hides, strikes or restyles content
    HEAD = "page head"  # a script, style, refresh or unknown title in the head
    ECHO = "imei echo"  # the IMEI the page names is not the one asked about
    SYMBOL = "symbol"  # the status slot does not hold exactly one known symbol
    WORDING = "wording"  # a wording the template does not know, or one that contradicts the symbol
    DATE = "date"  # a date slot that is not a date
    JSON = "json"  # a JSON body of another shape


class Echo(enum.StrEnum):
    """Whether a carrier's answer names the IMEI it is about (part of the adapter contract)."""

    REQUIRED = "required"  # every answer echoes it; an answer without is refused
    OPTIONAL = "optional"  # an answer may echo it; when it does, it must be the IMEI asked
    ABSENT = "absent"  # not known to echo it: any device number on the page is refused


class Mismatch(Exception):
    """The page is not the template's page: ``reason`` (a ``Reason``) and what a person can act on.

    ``order`` is how far into the page (in document order) the match got before it
    failed: of several alternatives, the one that got furthest explains best.
    """

    def __init__(self, reason: Reason, message: str, *, order: int = -1) -> None:
        super().__init__(message)
        self.reason = reason
        self.order = order


def _furthest(first: Mismatch | None, second: Mismatch) -> Mismatch:
    return second if first is None or second.order > first.order else first


@dataclass(frozen=True, slots=True)
class Reading:
    """What a result page shows: a status, the symbol as printed, the carrier's wording."""

    status: Status
    symbol: str
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status is Status.UNKNOWN:
            raise ValueError("a Reading is an answer the page gave; unknown is not one")


@dataclass(frozen=True, slots=True)
class Wording:
    """A carrier's sentence, as printed, and the status it belongs to."""

    text: str
    status: Status


@dataclass(frozen=True, slots=True)
class Slot:
    """What a slot accepts: ``read(text, imei)`` gives its value or raises ``Mismatch``.

    ``accepts`` says it in a few words, for ``docs/carriers.md``.
    """

    read: Callable[[str, str], object]
    accepts: str


class PageTemplate(Protocol):
    """A page an adapter recognises whole (``HtmlTemplate``, ``JsonTemplate``)."""

    name: str

    def match(self, page: Page, imei: str, default_encoding: str) -> Values:
        """The slots' values when ``page`` matches whole; ``Mismatch`` otherwise.

        ``status`` is the ``Reading``, with the ``wording`` slot's sentence as its
        message when it agrees with the symbol (``Reason.WORDING`` when it does not).
        """
        ...

    def slot_kinds(self) -> Mapping[str, bool]:
        """Every slot, and whether the page must have it (False: it sits in an optional part)."""
        ...

    def describe(self) -> list[str]:
        """What the template accepts, a line per slot, for ``docs/carriers.md``."""
        ...


# --- slot readers ----------------------------------------------------------------------

_BLANKS = " \t\r\n\u3000\u00a0"
# What may follow a symbol and change how it looks: combining marks (〇⃠, ○̸),
# variation selectors, joiners and other format characters.
_ALTERING = frozenset({"Mn", "Me", "Cf"})


def _squeeze(text: str) -> str:
    """Text as compared: blanks removed (the carriers' sentences carry none that matter)."""
    return "".join(text.split())


def _symbol_reading(symbol: str) -> Reading:
    return Reading(SYMBOLS[symbol], symbol)


def symbol_slot() -> Slot:
    """A slot holding exactly one printed symbol (○ 〇 ◯ △ ▲ × ✕ - － ー −), blanks aside."""

    def read(text: str, imei: str) -> Reading:
        shown = text.strip(_BLANKS)
        if shown in SYMBOLS:
            return _symbol_reading(shown)
        if shown[:1] in SYMBOLS and unicodedata.category(shown[1:2] or " ") in _ALTERING:
            raise Mismatch(Reason.SYMBOL, f"a mark is combined with the symbol: {shown[:8]!r}")
        raise Mismatch(Reason.SYMBOL, f"not exactly one known symbol: {shown[:40]!r}")

    return Slot(read, "exactly one symbol of §7 (○ 〇 ◯ △ ▲ × ✕ - － ー −), nothing else")


def _sentences(wordings: Mapping[Status, Collection[str]]) -> str:
    return "; ".join(
        f"{status.symbol} " + " / ".join(f"「{sentence}」" for sentence in known)
        for status, known in wordings.items()
    )


def _wording_of(text: str, wordings: Mapping[Status, Collection[str]]) -> tuple[Status, str] | None:
    """The status and the known sentence (as the carrier writes it) that ``text`` is."""
    key = _squeeze(text)
    for status, known in wordings.items():
        for sentence in known:
            if _squeeze(sentence) == key:
                return status, sentence
    return None


def _agreeing(reading: Reading, wording: Wording) -> Reading:
    """``reading`` with the carrier's sentence as its message; ``Mismatch`` when the
    sentence belongs to another status than the symbol's."""
    if wording.status is not reading.status:
        raise Mismatch(
            Reason.WORDING,
            f"the symbol {reading.symbol} ({reading.status}) comes with the wording for "
            f"{wording.status}: {wording.text[:80]!r}",
        )
    return replace(reading, message=wording.text)


def _answer(values: Values) -> Values:
    """The slots with the status slot's ``Reading`` carrying the ``wording`` slot's sentence."""
    wording = values.get("wording")
    reading = values.get("status")
    if isinstance(wording, Wording) and isinstance(reading, Reading):
        values["status"] = _agreeing(reading, wording)
    return values


def symbol_with_wording_slot(wordings: Mapping[Status, Collection[str]]) -> Slot:
    """A symbol, then (optionally) one of the carrier's sentences for that very status.

    The sentence may follow the symbol directly or after blanks or a colon; one
    known for another status, or unknown, is refused (``Reason.WORDING``).
    """

    def read(text: str, imei: str) -> Reading:
        shown = text.strip(_BLANKS)
        symbol, rest = shown[:1], shown[1:]
        if symbol not in SYMBOLS:
            raise Mismatch(Reason.SYMBOL, f"does not start with a known symbol: {shown[:40]!r}")
        if rest and unicodedata.category(rest[0]) in _ALTERING:
            raise Mismatch(Reason.SYMBOL, f"a mark is combined with the symbol: {shown[:8]!r}")
        rest = rest.lstrip(_BLANKS + ":：")
        reading = _symbol_reading(symbol)
        if not rest:
            return reading
        known = _wording_of(rest, wordings)
        if known is None:
            raise Mismatch(Reason.WORDING, f"a wording the template does not know: {rest[:80]!r}")
        return _agreeing(reading, Wording(known[1], known[0]))

    return Slot(
        read,
        "a symbol of §7, then nothing or the sentence for that status: " + _sentences(wordings),
    )


def wording_slot(wordings: Mapping[Status, Collection[str]]) -> Slot:
    """One of the carrier's known sentences; its ``Wording`` must agree with the status slot."""

    def read(text: str, imei: str) -> Wording:
        known = _wording_of(text, wordings)
        if known is None:
            raise Mismatch(Reason.WORDING, f"a wording the template does not know: {text[:80]!r}")
        return Wording(known[1], known[0])

    return Slot(read, "the sentence for the status shown: " + _sentences(wordings))


def one_of(*texts: str) -> Slot:
    """One of a few fixed texts (a heading the carrier has written in several ways)."""
    keys = {_squeeze(text): text for text in texts}

    def read(text: str, imei: str) -> str:
        if _squeeze(text) not in keys:
            raise Mismatch(Reason.TEXT, f"{text[:80]!r} is none of {', '.join(texts)}")
        return text

    return Slot(read, " / ".join(f"「{text}」" for text in texts))


_ECHO_FORM = re.compile(r"[0-9A-Fa-f](?:[ -]?[0-9A-Fa-f])*")


def echo_slot() -> Slot:
    """The IMEI the page says it answers for: the **whole** number asked about.

    Full-width digits, hyphens and spaces between digits are accepted; a masked,
    shortened, longer (an IMEISV) or annotated number is not.
    """

    def read(text: str, imei: str) -> str:
        shown = unicodedata.normalize("NFKC", text).strip()
        if _ECHO_FORM.fullmatch(shown) and shown.replace("-", "").replace(" ", "").upper() == (
            imei.upper()
        ):
            return imei
        raise Mismatch(
            Reason.ECHO, f"the page answers for {text[:40]!r}, not the IMEI asked ({imei})"
        )

    return Slot(read, "the IMEI asked about, whole (digits, optionally hyphenated)")


_DATE_FORMS = (
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
)


def date_slot() -> Slot:
    """A calendar date, written 2026年11月26日, 2026/11/26 or 2026-11-26."""

    def read(text: str, imei: str) -> date:
        shown = unicodedata.normalize("NFKC", text).strip()
        for form in _DATE_FORMS:
            found = form.fullmatch(shown)
            if found:
                try:
                    return date(*(int(part) for part in found.groups()))
                except ValueError:
                    break
        raise Mismatch(Reason.DATE, f"not a date: {text[:40]!r}")

    return Slot(read, "a date (2026年11月26日, 2026/11/26, 2026-11-26)")


_NAMED_COLOURS = {
    "black": "#000000",
    "white": "#ffffff",
    "gray": "#808080",
    "grey": "#808080",
    "silver": "#c0c0c0",
    "red": "#ff0000",
    "maroon": "#800000",
    "green": "#008000",
    "navy": "#000080",
    "blue": "#0000ff",
    "purple": "#800080",
    "teal": "#008080",
    "olive": "#808000",
}
_HEX_COLOUR = re.compile(r"#?([0-9a-f]{3}|[0-9a-f]{6})")
#: WCAG's least contrast for large text: below it, text may not be read at all.
_LEAST_CONTRAST = 3.0


def _luminance(colour: str) -> float | None:
    found = _HEX_COLOUR.fullmatch(_NAMED_COLOURS.get(colour, colour))
    if found is None:
        return None
    digits = found.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def visible_colour_slot(*, on: str) -> Slot:
    """A text colour a person can read on the background ``on`` (contrast ≥ 3:1)."""
    background = _luminance(on)
    assert background is not None, on

    def read(text: str, imei: str) -> str:
        colour = text.strip().lower()
        shown = _luminance(colour)
        if shown is None:
            raise Mismatch(Reason.HIDDEN, f"{text[:20]!r} is not a colour")
        light, dark = max(shown, background), min(shown, background)
        if (light + 0.05) / (dark + 0.05) < _LEAST_CONTRAST:
            raise Mismatch(Reason.HIDDEN, f"the colour {colour} is hard to see on {on}")
        return colour

    return Slot(read, f"a colour readable on {on} (contrast at least 3:1)")


# --- the page, as matched --------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[_Element | _Text] = field(default_factory=list)
    parent: _Element | None = None
    order: int = 0

    def label(self) -> str:
        label = self.tag
        ident = self.attrs.get("id")
        if ident:
            label += f"#{ident}"
        classes = (self.attrs.get("class") or "").split()
        if classes:
            label += f".{classes[0]}"
        return label

    @property
    def path(self) -> str:
        parts: list[str] = []
        node: _Element | None = self
        while node is not None and node.tag != "html":
            parts.append(node.label())
            node = node.parent
        return " > ".join(reversed(parts))

    def text(self) -> str:
        parts = [
            child.text if isinstance(child, _Text) else child.text() for child in self.children
        ]
        return " ".join(part for part in parts if part)

    def describe(self) -> str:
        shown = self.text()
        return f"<{self.label()}>" + (f" {shown[:60]!r}" if shown else "")


@dataclass(slots=True, eq=False)
class _Text:
    text: str
    order: int = 0


_MAX_DEPTH = 64
_MAX_NODES = 5000


class _Builder:
    """The page as matched: comments dropped, adjacent texts joined, blanks collapsed."""

    def __init__(self) -> None:
        self.count = 0

    def element(self, node: LexborNode, parent: _Element | None, depth: int) -> _Element:
        if depth > _MAX_DEPTH:
            raise Mismatch(Reason.STRUCTURE, f"elements nested deeper than {_MAX_DEPTH}")
        self.count += 1
        if self.count > _MAX_NODES:
            raise Mismatch(Reason.STRUCTURE, f"more than {_MAX_NODES} nodes")
        element = _Element(node.tag or "", dict(node.attributes), parent=parent, order=self.count)
        children = element.children
        pending = ""
        for child in node.iter(include_text=True):
            tag = child.tag or ""
            if tag == "-text":
                pending += child.text_content or ""
            elif tag == "-comment":
                continue  # a comment shows nothing; the texts around it join up
            elif not tag or tag[0] in "-!":
                raise Mismatch(Reason.STRUCTURE, f"{element.path}: a {tag} node")
            else:
                if pending:
                    self._text(children, pending)
                    pending = ""
                children.append(self.element(child, element, depth + 1))
        if pending:
            self._text(children, pending)
        return element

    def _text(self, children: list[_Element | _Text], raw: str) -> None:
        text = " ".join(raw.split())
        if text:
            self.count += 1
            children.append(_Text(text, self.count))


# --- what extra markup may say ---------------------------------------------------------

# A name or value that says it hides, strikes or removes what it marks.
_HIDING_WORDS = (
    "hidden",
    "hide",
    "invisible",
    "sronly",
    "screenreader",
    "visually",
    "offscreen",
    "dnone",
    "displaynone",
    "collapse",
    "transparent",
    "strike",
    "linethrough",
    "noscript",
    "printonly",
    "clip",
    "removed",
    "deleted",
)
_HIDING_TOKENS = frozenset({"sr", "vh", "none", "del", "off"})
_LONG_NUMBER = re.compile(r"\d{8}")
_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# Attributes whose values compare without case or surrounding blanks (HTML keywords, colours).
_CASELESS = frozenset(
    {
        "align",
        "valign",
        "color",
        "bgcolor",
        "text",
        "size",
        "border",
        "width",
        "height",
        "cellspacing",
        "cellpadding",
        "type",
        "method",
        "rel",
        "http-equiv",
        "nowrap",
    }
)
_INLINE = frozenset({"span", "b", "strong", "br"})


def _hiding_word(text: str) -> str | None:
    folded = text.casefold()
    squeezed = re.sub(r"[-_\s:]", "", folded)
    for word in _HIDING_WORDS:
        if word in squeezed:
            return word
    for token in re.split(r"[-_\s:]+", folded):
        if token in _HIDING_TOKENS:
            return token
    return None


_LENGTH = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(px|pt|em|rem|%|ex|ch)?")
# Smallest readable font size per unit (a smaller one hides text in plain sight).
_MIN_FONT_SIZE = {"px": 9.0, "pt": 7.0, "em": 0.6, "rem": 0.6, "%": 60.0, "ex": 1.2, "ch": 1.2}
_FONT_KEYWORDS = frozenset(
    {"small", "medium", "large", "x-large", "xx-large", "xxx-large", "larger", "smaller"}
)
_SYMBOL_FONTS = re.compile(r"(?i)wingding|webding|dingbat|symbol|icon|emoji|awesome")


def _non_negative_lengths(value: str) -> bool:
    return all(
        part in ("0", "auto") or _LENGTH.fullmatch(part) is not None for part in value.split()
    )


def _readable_font_size(value: str) -> bool:
    if value in _FONT_KEYWORDS:
        return True
    found = _LENGTH.fullmatch(value)
    if found is None or found.group(2) is None:
        return False
    return float(found.group(1)) >= _MIN_FONT_SIZE[found.group(2)]


def _plain_font_family(value: str) -> bool:
    names = [name.strip().strip("'\"") for name in value.split(",")]
    return all(
        name and len(name) <= 40 and _SYMBOL_FONTS.search(name) is None and "\\" not in name
        for name in names
    )


# Declarations that cannot hide, move away or recolour text.
_BENIGN_STYLE: dict[str, Callable[[str], bool]] = {
    "font-size": _readable_font_size,
    "font-weight": lambda v: re.fullmatch(r"normal|bold|bolder|lighter|[1-9]00", v) is not None,
    "font-style": lambda v: v in ("normal", "italic", "oblique"),
    "font-family": _plain_font_family,
    "text-align": lambda v: v in ("left", "right", "center", "justify", "start", "end"),
    "vertical-align": lambda v: v in ("top", "middle", "bottom", "baseline"),
    "display": lambda v: v in ("block", "inline", "inline-block", "list-item"),
    "white-space": lambda v: v in ("normal", "nowrap", "pre-wrap", "pre-line"),
    "width": _non_negative_lengths,
    "min-width": _non_negative_lengths,
    "max-width": _non_negative_lengths,
    "padding": _non_negative_lengths,
    "padding-top": _non_negative_lengths,
    "padding-right": _non_negative_lengths,
    "padding-bottom": _non_negative_lengths,
    "padding-left": _non_negative_lengths,
    "margin": _non_negative_lengths,
    "margin-top": _non_negative_lengths,
    "margin-right": _non_negative_lengths,
    "margin-bottom": _non_negative_lengths,
    "margin-left": _non_negative_lengths,
    "border": lambda v: re.fullmatch(r"[#\w\s.]+", v) is not None,
    "border-radius": _non_negative_lengths,
}


def _style_problem(style: str) -> str | None:
    """Why an inline ``style`` could change what a person sees; None when it cannot."""
    for declaration in style.split(";"):
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        value = " ".join(value.replace("!important", "").split()).lower()
        check = _BENIGN_STYLE.get(name)
        if not colon or check is None or not value or not check(value):
            return f"{name}: {value}" if colon else declaration.strip()
    return None


# --- HTML templates --------------------------------------------------------------------

_SLOT = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class _TextPattern:
    source: str
    regex: re.Pattern[str]
    slots: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> _TextPattern:
        source = " ".join(text.split())
        parts = _SLOT.split(source)
        # Compared without blanks: a line break or an ideographic space inside the
        # carrier's words (as a comment or inline tag can leave) changes nothing read.
        pattern = "".join(
            re.escape(_squeeze(part)) if index % 2 == 0 else f"(?P<{part}>.*?)"
            for index, part in enumerate(parts)
        )
        return cls(source, re.compile(pattern, re.S), tuple(parts[1::2]))

    def read(
        self,
        text: str,
        slots: Mapping[str, Slot],
        imei: str,
        *,
        where: _Element | str,
        order: int,
    ) -> Values | None:
        """The slots' values if ``text`` fits; a slot's ``Mismatch`` names ``where``."""
        found = self.regex.fullmatch(_squeeze(text))
        if found is None:
            return None
        values: Values = {}
        for name in self.slots:
            try:
                values[name] = slots[name].read(found.group(name), imei)
            except Mismatch as err:
                place = where if isinstance(where, str) else where.path
                raise Mismatch(err.reason, f"{place}: {err}", order=order) from None
        return values


@dataclass(frozen=True, slots=True)
class _ElementPattern:
    tag: str
    attrs: tuple[tuple[str, _TextPattern], ...]
    classes: frozenset[str]
    children: tuple[_ElementPattern | _TextPattern, ...]
    optional: bool
    any_order: bool

    def label(self) -> str:
        ident = dict(self.attrs).get("id")
        label = self.tag + (f"#{ident.source}" if ident else "")
        return label + "".join(f".{c}" for c in sorted(self.classes))

    def slot_names(self) -> Iterable[tuple[str, bool]]:
        """Every slot under this element, and whether it is inside an optional part."""
        for _, value in self.attrs:
            for name in value.slots:
                yield name, self.optional
        for child in self.children:
            if isinstance(child, _TextPattern):
                for name in child.slots:
                    yield name, self.optional
            else:
                for name, optional in child.slot_names():
                    yield name, optional or self.optional


def _pattern(node: LexborNode) -> _ElementPattern:
    attrs = dict(node.attributes)
    markers = set((attrs.pop("data-t", None) or "").split())
    unknown = markers - {"optional", "any-order"}
    if unknown:
        raise ValueError(f"unknown template marker(s) {sorted(unknown)} on <{node.tag}>")
    classes = frozenset((attrs.pop("class", None) or "").split())
    children: list[_ElementPattern | _TextPattern] = []
    pending: list[str] = []
    for child in node.iter(include_text=True):
        tag = child.tag or ""
        if tag == "-text":
            pending.append(child.text_content or "")
            continue
        if tag == "-comment":
            continue
        if "".join(pending).strip():
            children.append(_TextPattern.of("".join(pending)))
        pending.clear()
        children.append(_pattern(child))
    if "".join(pending).strip():
        children.append(_TextPattern.of("".join(pending)))
    return _ElementPattern(
        tag=node.tag or "",
        attrs=tuple(
            (name, _TextPattern.of(_attr_value(name, value or ""))) for name, value in attrs.items()
        ),
        classes=classes,
        children=tuple(children),
        optional="optional" in markers,
        any_order="any-order" in markers,
    )


def _attr_value(name: str, value: str) -> str:
    value = value.strip()
    return value.lower() if name in _CASELESS else value


_META_HTTP_EQUIV = frozenset(
    {
        "content-type",
        "content-style-type",
        "content-script-type",
        "content-language",
        "x-ua-compatible",
        "pragma",
        "cache-control",
        "expires",
        "imagetoolbar",
    }
)
_META_NAMES = frozenset(
    {
        "viewport",
        "robots",
        "description",
        "keywords",
        "format-detection",
        "author",
        "copyright",
        "referrer",
        "theme-color",
    }
)
_LINK_RELS_ANY_HREF = frozenset(
    {"icon", "shortcut icon", "apple-touch-icon", "canonical", "home", "index"}
)


class HtmlTemplate:
    """An HTML page an adapter recognises whole; see the module docstring."""

    def __init__(self, name: str, source: str, *, slots: Mapping[str, Slot]) -> None:
        self.name = name
        self.source = source
        self.slots = dict(slots)
        tree = LexborHTMLParser(source)
        head, body = tree.head, tree.body
        if head is None or body is None:
            raise ValueError(f"template {name!r} has no head or body")
        titles = [node.text() for node in head.css("title")]
        if len(titles) != 1:
            raise ValueError(f"template {name!r} must have one <title>")
        self.title = _TextPattern.of(titles[0])
        self.stylesheets = frozenset(
            urlsplit((node.attributes.get("href") or "").strip()).path
            for node in head.css("link")
            if "stylesheet" in (node.attributes.get("rel") or "").lower().split()
        )
        self.body = _pattern(body)
        named = [name for name, _ in self.body.slot_names()] + list(self.title.slots)
        missing = set(named) - set(self.slots)
        if missing:
            raise ValueError(f"template {name!r} has slots without readers: {sorted(missing)}")
        if len(named) != len(set(named)):
            raise ValueError(f"template {name!r} names a slot twice")

    def slot_kinds(self) -> Mapping[str, bool]:
        kinds = {name: not optional for name, optional in self.body.slot_names()}
        kinds.update(dict.fromkeys(self.title.slots, True))
        return kinds

    def describe(self) -> list[str]:
        kinds = self.slot_kinds()
        return [
            f"`{{{name}}}`{'' if kinds[name] else ' (optional)'}: {self.slots[name].accepts}"
            for name in kinds
        ]

    def match(self, page: Page, imei: str, default_encoding: str) -> Values:
        """The slots' values when ``page`` is this template's page whole; ``Mismatch`` if not."""
        tree = LexborHTMLParser(page.text(default_encoding))
        root, head, body = tree.root, tree.head, tree.body
        if root is None or head is None or body is None:
            raise Mismatch(Reason.STRUCTURE, "not an HTML page")
        self._check_root(root)
        builder = _Builder()
        values = self._match_head(builder.element(head, None, 0), imei)
        page_body = builder.element(body, None, 0)
        values.update(self._element(self.body, page_body, imei))
        return _answer(values)

    # -- head and root ------------------------------------------------------------------

    @staticmethod
    def _check_root(root: LexborNode) -> None:
        for name, value in root.attributes.items():
            if name in ("lang", "xml:lang") and _LANG.fullmatch(value or ""):
                continue
            if name == "xmlns" or name.startswith("xmlns:"):
                continue
            raise Mismatch(Reason.ATTRIBUTE, f"<html {name}={value!r}>: not in the template")

    def _match_head(self, head: _Element, imei: str) -> Values:
        values: Values = {}
        titles = 0
        for child in head.children:
            if isinstance(child, _Text):
                raise Mismatch(Reason.HEAD, f"text in the head: {child.text[:60]!r}")
            attrs = {name: (value or "").strip() for name, value in child.attrs.items()}
            if child.tag == "title":
                titles += 1
                read = self.title.read(
                    child.text(), self.slots, imei, where="<title>", order=child.order
                )
                if read is None:
                    raise Mismatch(
                        Reason.HEAD,
                        f"the title {child.text()[:80]!r} is not {self.title.source!r}",
                        order=child.order,
                    )
                values.update(read)
            elif child.tag == "meta":
                self._check_meta(attrs)
            elif child.tag == "link":
                self._check_link(attrs)
            else:
                raise Mismatch(
                    Reason.HEAD,
                    f"a <{child.tag}> in the head, which the template does not have",
                    order=child.order,
                )
        if titles != 1:
            raise Mismatch(Reason.HEAD, f"{titles} <title> elements, expected 1")
        return values

    @staticmethod
    def _check_meta(attrs: Mapping[str, str]) -> None:
        extra = set(attrs) - {"http-equiv", "content", "charset", "name"}
        equiv = attrs.get("http-equiv", "").lower()
        name = attrs.get("name", "").lower()
        if extra or (equiv and equiv not in _META_HTTP_EQUIV) or (name and name not in _META_NAMES):
            shown = " ".join(f"{k}={v!r}" for k, v in attrs.items())
            raise Mismatch(Reason.HEAD, f"<meta {shown}> is not a kind the template allows")

    def _check_link(self, attrs: Mapping[str, str]) -> None:
        rel = " ".join(attrs.get("rel", "").lower().split())
        path = urlsplit(attrs.get("href", "")).path
        if rel == "stylesheet" and path in self.stylesheets:
            return
        if rel in _LINK_RELS_ANY_HREF:
            return
        raise Mismatch(
            Reason.HEAD, f"<link rel={rel!r} href={attrs.get('href', '')!r}> is not the template's"
        )

    # -- body ---------------------------------------------------------------------------

    def _element(self, pattern: _ElementPattern, node: _Element, imei: str) -> Values:
        if node.tag != pattern.tag:
            raise Mismatch(
                Reason.STRUCTURE,
                f"{node.path}: expected <{pattern.label()}>, found {node.describe()}",
                order=node.order,
            )
        values = self._attributes(pattern, node, imei)
        children = pattern.children
        if len(children) == 1 and isinstance(children[0], _TextPattern):
            text = _flatten(node)
            read = children[0].read(text, self.slots, imei, where=node, order=node.order)
            if read is None:
                raise Mismatch(
                    Reason.TEXT,
                    f"{node.path}: {text[:80]!r}, expected {children[0].source!r}",
                    order=node.order,
                )
            values.update(read)
            return values
        if pattern.any_order:
            values.update(self._any_order(pattern, node, imei))
        else:
            values.update(self._sequence(pattern.children, node.children, node, imei))
        return values

    def _attributes(self, pattern: _ElementPattern, node: _Element, imei: str) -> Values:
        values: Values = {}
        attrs = dict(node.attrs)
        classes = (attrs.pop("class", None) or "").split()
        missing = pattern.classes - set(classes)
        if missing:
            raise Mismatch(
                Reason.STRUCTURE,
                f"{node.path}: expected <{pattern.label()}>, found {node.describe()}",
                order=node.order,
            )
        extra_classes = [token for token in classes if token not in pattern.classes]
        if extra_classes:
            _check_extra_attribute(node, "class", " ".join(extra_classes))
        for name, expected in pattern.attrs:
            if name not in attrs:
                raise Mismatch(
                    Reason.ATTRIBUTE,
                    f"{node.path}: expected <{pattern.label()}>, found {node.describe()}",
                    order=node.order,
                )
            value = attrs.pop(name)
            read = expected.read(
                _attr_value(name, value or ""),
                self.slots,
                imei,
                where=node,
                order=node.order,
            )
            if read is None:
                raise Mismatch(
                    Reason.ATTRIBUTE,
                    f"{node.path}: {name}={value!r}, expected {expected.source!r}",
                    order=node.order,
                )
            values.update(read)
        for name, value in attrs.items():
            _check_extra_attribute(node, name, value)
        return values

    def _sequence(
        self,
        patterns: tuple[_ElementPattern | _TextPattern, ...],
        nodes: list[_Element | _Text],
        parent: _Element,
        imei: str,
    ) -> Values:
        def go(at: int, position: int) -> Values:
            if at == len(patterns):
                if position == len(nodes):
                    return {}
                raise _unexpected(nodes[position], parent)
            pattern = patterns[at]
            failure: Mismatch | None = None
            if position < len(nodes):
                try:
                    here = self._node(pattern, nodes[position], parent, imei)
                    return {**here, **go(at + 1, position + 1)}
                except Mismatch as err:
                    failure = err
            else:
                failure = _missing(pattern, parent)
            if isinstance(pattern, _ElementPattern) and pattern.optional:
                try:
                    return go(at + 1, position)
                except Mismatch as err:
                    failure = _furthest(failure, err)
            raise failure

        return go(0, 0)

    def _any_order(self, pattern: _ElementPattern, node: _Element, imei: str) -> Values:
        patterns = pattern.children
        nodes = node.children
        if len(nodes) > len(patterns):  # each child takes a pattern of its own
            raise Mismatch(
                Reason.STRUCTURE,
                f"{node.path}: {len(nodes)} children, the template has {len(patterns)}",
                order=nodes[len(patterns)].order,
            )

        def go(position: int, used: frozenset[int]) -> Values:
            if position == len(nodes):
                for index, child in enumerate(patterns):
                    optional = isinstance(child, _ElementPattern) and child.optional
                    if index not in used and not optional:
                        raise _missing(child, node)
                return {}
            failure: Mismatch | None = None
            for index, child in enumerate(patterns):
                if index in used:
                    continue
                try:
                    here = self._node(child, nodes[position], node, imei)
                    return {**here, **go(position + 1, used | {index})}
                except Mismatch as err:
                    failure = _furthest(failure, err)
            raise failure or _unexpected(nodes[position], node)

        return go(0, frozenset())

    def _node(
        self,
        pattern: _ElementPattern | _TextPattern,
        node: _Element | _Text,
        parent: _Element,
        imei: str,
    ) -> Values:
        if isinstance(pattern, _TextPattern):
            if isinstance(node, _Element):
                raise _unexpected(node, parent)
            read = pattern.read(node.text, self.slots, imei, where=parent, order=node.order)
            if read is None:
                raise _unexpected(node, parent)
            return read
        if isinstance(node, _Text):
            raise _unexpected(node, parent)
        return self._element(pattern, node, imei)


def _unexpected(node: _Element | _Text, parent: _Element) -> Mismatch:
    if isinstance(node, _Text):
        return Mismatch(
            Reason.TEXT,
            f"{parent.path}: text the template does not account for: {node.text[:80]!r}",
            order=node.order,
        )
    return Mismatch(
        Reason.STRUCTURE,
        f"{parent.path}: an element the template does not expect: {node.describe()}",
        order=node.order,
    )


def _missing(pattern: _ElementPattern | _TextPattern, parent: _Element) -> Mismatch:
    what = f"<{pattern.label()}>" if isinstance(pattern, _ElementPattern) else repr(pattern.source)
    last = parent.children[-1].order if parent.children else parent.order
    return Mismatch(Reason.STRUCTURE, f"{parent.path}: missing {what}", order=last)


def _check_extra_attribute(node: _Element, name: str, value: str | None) -> None:
    """An attribute the template does not name: only a few kinds, and none that hides."""
    shown = value or ""
    if name == "class":  # extra class names are an ordinary variation, unless they hide
        for token in shown.split():
            if _hiding_word(token):
                raise Mismatch(
                    Reason.HIDDEN, f"{node.path}: the class {token!r} may hide it", order=node.order
                )
        return
    if name == "style":
        problem = _style_problem(shown)
        if problem is not None:
            raise Mismatch(
                Reason.HIDDEN,
                f"{node.path}: style {problem!r} may hide or restyle it",
                order=node.order,
            )
        return
    if name in ("lang", "xml:lang") and _LANG.fullmatch(shown):
        return
    if name == "face" and node.tag == "font" and _plain_font_family(shown):
        return
    if name == "id" or name.startswith("data-"):
        word = _hiding_word(name) or _hiding_word(shown)
        if word is not None:
            raise Mismatch(
                Reason.HIDDEN, f"{node.path}: {name}={shown!r} may hide it", order=node.order
            )
        if len(shown) <= 64 and _LONG_NUMBER.search(shown) is None:
            return
    reason = Reason.HIDDEN if _hiding_word(name) else Reason.ATTRIBUTE
    raise Mismatch(
        reason,
        f"{node.path}: the attribute {name}={shown[:40]!r} is not in the template",
        order=node.order,
    )


def _flatten(node: _Element) -> str:
    """An element's text with simple inline markup (checked like any element) flattened."""
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, _Text):
            parts.append(child.text)
            continue
        if child.tag not in _INLINE:
            raise _unexpected(child, node)
        for name, value in child.attrs.items():
            _check_extra_attribute(child, name, value)
        if child.tag == "br":
            if child.children:
                raise _unexpected(child.children[0], child)
            parts.append(" ")
        else:
            parts.append(_flatten(child))
    return " ".join(" ".join(parts).split())


# --- JSON templates --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonField:
    """One key of a JSON answer: ``read(value, imei)`` gives its value or raises ``Mismatch``."""

    read: Callable[[object, str], object]
    accepts: str
    required: bool = True


class _Number:
    """A JSON number not written as a plain non-negative integer (``1.0``, ``-0``, ``01``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain_int(text: str) -> int | _Number:
    if text.isdigit() and (text == "0" or not text.startswith("0")):
        return int(text)
    return _Number(text)


def _no_constant(text: str) -> object:
    raise Mismatch(Reason.JSON, f"{text} is not JSON")


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise Mismatch(Reason.JSON, f"the key {key!r} appears twice")
        data[key] = value
    return data


class JsonTemplate:
    """A JSON object an adapter recognises whole: exactly the keys it names.

    ``fields`` are keyed by slot name (``status``, ``echo``, ``wording``); ``keys``
    gives the JSON key each is read from, where it differs.
    """

    def __init__(
        self,
        name: str,
        fields: Mapping[str, JsonField],
        *,
        keys: Mapping[str, str] | None = None,
        media_types: Collection[str],
    ) -> None:
        self.name = name
        self.fields = dict(fields)
        self.keys = {slot: (keys or {}).get(slot, slot) for slot in self.fields}
        self.media_types = frozenset(media_types)

    def slot_kinds(self) -> Mapping[str, bool]:
        return {name: spec.required for name, spec in self.fields.items()}

    def describe(self) -> list[str]:
        return [
            f"`{self.keys[name]}`{'' if spec.required else ' (optional)'}: {spec.accepts}"
            for name, spec in self.fields.items()
        ] + ["no other key; no key twice; numbers written plainly"]

    def match(self, page: Page, imei: str, default_encoding: str) -> Values:
        media = page.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in self.media_types:
            raise Mismatch(Reason.JSON, f"served as {media or 'no content type'!r}, not JSON")
        try:
            text = page.content.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise Mismatch(Reason.JSON, f"the body is not UTF-8: {err}") from err
        try:
            data = json.loads(
                text,
                object_pairs_hook=_object,
                parse_int=_plain_int,
                parse_float=_Number,
                parse_constant=_no_constant,
            )
        except ValueError as err:
            raise Mismatch(Reason.JSON, f"the body is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise Mismatch(Reason.JSON, f"a JSON {type(data).__name__}, not an object")
        unknown = sorted(set(data) - set(self.keys.values()))
        if unknown:
            raise Mismatch(Reason.JSON, f"keys the template does not know: {unknown}")
        values: Values = {}
        for name, spec in self.fields.items():
            key = self.keys[name]
            if key in data:
                values[name] = spec.read(data[key], imei)
            elif spec.required:
                raise Mismatch(Reason.JSON, f"no {key!r} key")
        return _answer(values)


def json_status(codes: Mapping[int, Status]) -> JsonField:
    """An integer status code, written plainly, mapped by ``codes``."""

    def read(value: object, imei: str) -> Reading:
        if type(value) is not int or value not in codes:
            raise Mismatch(
                Reason.SYMBOL, f"status {value!r} is not one of {', '.join(map(str, codes))}"
            )
        status = codes[value]
        return Reading(status, status.symbol)

    return JsonField(read, "an integer " + ", ".join(f"{k} ({v})" for k, v in codes.items()))


def json_echo(*, required: bool) -> JsonField:
    """The IMEI the answer is about: the IMEI asked, as a string (or an integer)."""

    def read(value: object, imei: str) -> str:
        shown = str(value) if type(value) is int else value
        if shown != imei:
            raise Mismatch(Reason.ECHO, f"the answer is for {value!r}, not the IMEI asked ({imei})")
        return imei

    return JsonField(read, "the IMEI asked about, exactly", required=required)


def json_wording(wordings: Mapping[Status, Collection[str]]) -> JsonField:
    """One of the carrier's known sentences, agreeing with the status."""
    slot = wording_slot(wordings)

    def read(value: object, imei: str) -> Wording:
        if not isinstance(value, str):
            raise Mismatch(Reason.WORDING, f"{value!r} is not a sentence")
        wording = slot.read(value, imei)
        assert isinstance(wording, Wording)
        return wording

    return JsonField(read, slot.accepts, required=False)
