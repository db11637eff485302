"""The symbols carriers print, mapped to statuses (carrier-sites.md §7, INTERFACES.md §2).

Only the characters below are answers. Anything else, a look-alike (● ◎ ▽ ✖ x 0)
or an empty cell included, is not a status: the adapter raises ``ParseError``.

>>> symbol_status("▲")
<Status.PENDING: 'pending'>
>>> symbol_status(" ー ")
<Status.UNREGISTERED: 'unregistered'>
>>> symbol_status("◎") is None
True
"""

from __future__ import annotations

from akarom.domain import Status

__all__ = ["BLANKS", "SYMBOLS", "leading_symbol", "symbol_status"]

#: Printed character → status. ⚪ (U+26AA) is left out on purpose: it appears only in
#: third-party code, never confirmed as a carrier's output (carrier-sites.md §7, L).
SYMBOLS: dict[str, Status] = {
    "○": Status.OK,  # U+25CB white circle
    "〇": Status.OK,  # U+3007 ideographic number zero (au)
    "◯": Status.OK,  # U+25EF large circle
    "△": Status.PENDING,  # U+25B3 (docomo, au, Rakuten)
    "▲": Status.PENDING,  # U+25B2 (SoftBank)
    "×": Status.RESTRICTED,  # U+00D7 multiplication sign
    "✕": Status.RESTRICTED,  # U+2715 (FAQ and blog text)
    "-": Status.UNREGISTERED,  # U+002D (docomo, Rakuten)
    "－": Status.UNREGISTERED,  # U+FF0D (SoftBank, old au)
    "ー": Status.UNREGISTERED,  # U+30FC katakana prolonged sound mark (au)
    "−": Status.UNREGISTERED,  # U+2212 minus sign (blogs)
}

#: Whitespace a page may wrap a symbol in, ideographic space and NBSP included.
BLANKS = " \t\r\n\u3000\u00a0"


def symbol_status(text: str) -> Status | None:
    """The status of a cell whose whole text (blanks aside) is one symbol, else None."""
    return SYMBOLS.get(text.strip(BLANKS))


def leading_symbol(text: str) -> tuple[str, str] | None:
    """Split ``"△ご利用いただけますが…"`` into the symbol and the wording after it.

    Returns None when the text does not start with a symbol.

    >>> leading_symbol("  〇 ご利用いただけます")
    ('〇', 'ご利用いただけます')
    >>> leading_symbol("状態") is None
    True
    """
    stripped = text.strip(BLANKS)
    if not stripped or stripped[0] not in SYMBOLS:
        return None
    return stripped[0], stripped[1:].strip(BLANKS)
