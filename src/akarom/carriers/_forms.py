"""Find an HTML form and collect what a browser would submit from it.

Two carriers need this: SoftBank's check page carries a set of hidden framework
fields (``_PageID``, ``_DataStoreID``…) that must be sent back as served, and au's
form has hidden fields nobody has documented. The helper reads them from the page
instead of hard-coding them (after yt-dlp's ``_form_hidden_inputs``).

API (kept small and stable; other adapters use it):

``find_form(html, *, name=None, action_contains=None) -> Form | None``
    The first ``<form>`` whose ``name`` (or ``id``) equals ``name`` and whose
    ``action`` contains ``action_contains``; with neither given, the first form.
``Form(action, method, fields, submits, controls)``
    ``action`` as written in the page (unresolved, ``""`` when absent), ``method``
    upper-cased (``GET`` when absent), ``fields`` what the form sends without a
    button (see below), ``submits`` the named submit buttons, name → value,
    ``controls`` the name of every named control in page order, valued or not (to
    check that a field such as ``imei`` exists before filling it in).
``action_path(action, page_url) -> str``
    The form's target as a path plus query, resolved against the page's URL. Adapters
    fetch paths on the host they were given, so the host in an absolute ``action``
    is dropped on purpose (the sandbox replaces the host, paths never change).

The codec a browser encodes a form in is the page's own: ``Page.encoding`` (in
``_base``), the charset the page declares, else the adapter's default.

``fields`` follows what a browser sends: every named ``type=hidden`` input (value
``""`` when it has none); other named inputs only when they carry a ``value``
(text-like inputs) or are ``checked`` (checkbox, radio; value ``"on"`` by default);
a named ``<select>``'s selected (else first) option; a named ``<textarea>``'s text.
Submit, image, reset, button and file inputs and ``<button>`` elements are never in
``fields``; named submit inputs and buttons are listed in ``submits`` so the adapter
can add the one it "clicks". Disabled controls are skipped. Later duplicates of a
name replace earlier ones (a plain dict; no carrier form repeats a name).

>>> page = '''<form name="f1" method="post" action="/WBF/icv?x=1">
...   <input type="hidden" name="_PageID" value="WBF001000">
...   <INPUT value="" name="imei" type="text">
...   <input type="checkbox" name="agree" checked>
...   <input type="submit" name="ACT_TE001" value="送信">
... </form>'''
>>> form = find_form(page, action_contains="WBF/icv")
>>> form.method, form.action
('POST', '/WBF/icv?x=1')
>>> form.fields
{'_PageID': 'WBF001000', 'imei': '', 'agree': 'on'}
>>> form.submits
{'ACT_TE001': '送信'}
>>> form.controls
('_PageID', 'imei', 'agree', 'ACT_TE001')
>>> find_form(page, name="other") is None
True
>>> action_path(form.action, "https://ct99.my.softbank.jp/WBF/icv")
'/WBF/icv?x=1'
>>> action_path("http://elsewhere.example/a/b", "https://ct99.my.softbank.jp/WBF/icv")
'/a/b'
>>> action_path("", "https://example.jp/dir/page.php?q=1")
'/dir/page.php?q=1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from akarom.carriers._screens import attr

__all__ = ["Form", "action_path", "find_form"]

_BUTTON_TYPES = frozenset({"submit", "image", "reset", "button", "file"})


@dataclass(frozen=True, slots=True)
class Form:
    """A form as a browser would submit it; see the module docstring."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    submits: dict[str, str] = field(default_factory=dict)
    controls: tuple[str, ...] = ()


def _value(node: LexborNode) -> str | None:
    """The ``value`` attribute; None when absent or given bare (then a browser has none)."""
    return node.attributes.get("value")


def _has(node: LexborNode, name: str) -> bool:
    return name in node.attributes


def _collect(form: LexborNode) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    fields: dict[str, str] = {}
    submits: dict[str, str] = {}
    controls: list[str] = []
    for node in form.css("input, select, textarea, button"):
        name = attr(node, "name")
        if not name or _has(node, "disabled"):
            continue
        if name not in controls:
            controls.append(name)
        tag = node.tag
        if tag == "button":
            if (attr(node, "type") or "submit").lower() == "submit":
                submits[name] = attr(node, "value")
            continue
        if tag == "select":
            options = node.css("option")
            chosen = next((o for o in options if _has(o, "selected")), None)
            chosen = chosen or (options[0] if options else None)
            if chosen is not None:
                value = _value(chosen)
                fields[name] = value if value is not None else chosen.text(strip=True)
            continue
        if tag == "textarea":
            fields[name] = node.text()
            continue
        kind = (attr(node, "type") or "text").lower()
        value = _value(node)
        if kind in ("submit", "image"):
            submits[name] = value or ""
        elif kind in _BUTTON_TYPES:
            continue
        elif kind == "hidden":
            fields[name] = value or ""
        elif kind in ("checkbox", "radio"):
            if _has(node, "checked"):
                fields[name] = value if value is not None else "on"
        elif value is not None:
            fields[name] = value
    return fields, submits, tuple(controls)


def find_form(
    html: str, *, name: str | None = None, action_contains: str | None = None
) -> Form | None:
    """The first form matching ``name`` (``name`` or ``id``) and ``action_contains``, or None."""
    tree = LexborHTMLParser(html)
    for node in tree.css("form"):
        if name is not None and name not in (attr(node, "name"), attr(node, "id")):
            continue
        action = attr(node, "action").strip()
        if action_contains is not None and action_contains not in action:
            continue
        fields, submits, controls = _collect(node)
        method = (attr(node, "method") or "get").strip().upper() or "GET"
        return Form(action, method, fields, submits, controls)
    return None


def action_path(action: str, page_url: str) -> str:
    """Path and query of ``action`` resolved against ``page_url``; the host is dropped."""
    parts = urlsplit(urljoin(page_url, action))
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
