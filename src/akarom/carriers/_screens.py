"""Recognising a page that is not an answer: a captcha, a block or a maintenance page.

Small pure functions over a parsed page (a selectolax ``LexborHTMLParser``). They
never raise and never change the tree: each adapter's ``screen_page`` composes them in
its own order, around what only its carrier's page tells (which page holds a result or
the form, and the screens seen on that site), and raises the error itself.

What is SEEN and what is GUESSED (``reference/carrier-sites.md``):

SEEN, and kept in the carrier's module
    - docomo's numeric GIF captcha, ``<img src="gifcat/call.php">`` with the field
      ``attestationkey`` (§1.3; c. 2016 to 2022/23, gone by 2025-06): ``docomo.py``;
    - au's 「Forbidden | auお客さまサポート」 page, 「要求されたページへのアクセスが禁止され
      ています。」, served to a headless client (§2.1, §2.6): its sentence is in
      ``au.py``; its title is one ``blocked_title`` recognises.

GUESSED, here (no carrier has been seen showing them, §0, §8)
    - ``captcha_marker``: 「画像認証」 in the visible text, or an ``input``, ``img``,
      ``iframe``, ``div`` or ``form`` whose ``name``, ``id``, ``class``, ``src`` or
      ``alt`` mentions "captcha" (reCAPTCHA's ``g-recaptcha`` included). A ``<script
      src=…recaptcha…>`` alone is not one: it loads a library and shows nothing;
    - ``blocked_title``: a ``<title>`` saying "Forbidden" (au's, above, for the other
      carriers a guess) or "Access Denied", the usual wording of a server's refusal;
    - ``mentions_maintenance``: the word 「メンテナンス」. No carrier's maintenance page
      has been seen (§1.5, §8), and ordinary pages mention the word in notices and
      footer links, so adapters ask only of a page that holds neither a result nor
      their form.

``visible_text`` is the body text a person reads: without scripts, styles,
``noscript`` and ``template``, and without link texts (a footer link to
「メンテナンス情報」 is not a notice).

>>> from selectolax.lexbor import LexborHTMLParser
>>> tree = LexborHTMLParser(
...     "<title>403 Forbidden</title><p>ただいま<b>メンテナンス</b>中</p>"
...     "<a href='/info'>画像認証について</a><script>var s = 'captcha';</script>"
...     "<img src='/Captcha.jpg'>"
... )
>>> visible = visible_text(tree)
>>> visible
'ただいまメンテナンス中'
>>> mentions_maintenance(visible)
True
>>> captcha_marker(tree, visible)
'<img src="/Captcha.jpg">'
>>> blocked_title(tree)
'403 Forbidden'
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = [
    "attr",
    "blocked_title",
    "captcha_marker",
    "mentions_maintenance",
    "visible_text",
]

_HIDDEN = ["a", "script", "style", "noscript", "template"]
_CAPTCHA_TEXT = "画像認証"
_CAPTCHA_NODES = "input, img, iframe, div, form"
_CAPTCHA_ATTRS = ("name", "id", "class", "src", "alt")
_BLOCKED_TITLE = re.compile(r"forbidden|access denied", re.I)
_MAINTENANCE = "メンテナンス"


def attr(node: LexborNode, name: str) -> str:
    """The value of attribute ``name`` as written; ``""`` when absent or given bare.

    >>> node = LexborHTMLParser('<input name="imei" disabled>').css_first("input")
    >>> attr(node, "name"), attr(node, "disabled"), attr(node, "value")
    ('imei', '', '')
    """
    value = node.attributes.get(name)
    return value if isinstance(value, str) else ""


def visible_text(tree: LexborHTMLParser) -> str:
    """The body's text without scripts, styles, ``noscript``, ``template`` and links."""
    body = tree.body
    if body is None:
        return ""
    shown = body.clone()  # strip a copy: the caller's tree stays as parsed
    shown.strip_tags(_HIDDEN)
    return shown.text()


def captcha_marker(tree: LexborHTMLParser, visible: str) -> str | None:
    """What makes the page look like a captcha (a guess, see above); None when nothing does.

    ``visible`` is ``visible_text(tree)``.

    >>> captcha_marker(LexborHTMLParser('<div class="g-recaptcha"></div>'), "")
    '<div class="g-recaptcha">'
    >>> captcha_marker(LexborHTMLParser("<p>画像認証</p>"), "画像認証")
    '「画像認証」'
    >>> page = '<script src="https://www.google.com/recaptcha/api.js"></script>'
    >>> captcha_marker(LexborHTMLParser(page), "") is None
    True
    """
    if _CAPTCHA_TEXT in visible:
        return f"「{_CAPTCHA_TEXT}」"
    for node in tree.css(_CAPTCHA_NODES):
        for name in _CAPTCHA_ATTRS:
            value = attr(node, name)
            if "captcha" in value.lower():
                return f'<{node.tag} {name}="{value}">'
    return None


def blocked_title(tree: LexborHTMLParser) -> str | None:
    """The page's ``<title>`` when it says "Forbidden" or "Access Denied", else None.

    >>> blocked_title(LexborHTMLParser("<TITLE>Access  Denied</TITLE>"))
    'Access Denied'
    >>> blocked_title(LexborHTMLParser("<title>ネットワーク利用制限</title>")) is None
    True
    """
    title = tree.css_first("title")
    text = " ".join(title.text().split()) if title is not None else ""
    return text if _BLOCKED_TITLE.search(text) else None


def mentions_maintenance(text: str) -> bool:
    """Whether ``text`` mentions 「メンテナンス」 (a guess, see above)."""
    return _MAINTENANCE in text
