"""Pages: the Jinja2 environment, the language of a request, and the text catalogue.

Autoescaping is on for every template (``.html``): a hostile IMEI cell, file name
or carrier wording is shown as text, never read as markup. Japanese is the default;
``?lang=en`` switches and is remembered in a cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from akarom.texts import Lang, text

__all__ = ["LANG_COOKIE", "page", "request_lang", "templates"]

LANG_COOKIE = "akarom_lang"
_TEMPLATES = Path(__file__).parent / "templates"

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,  # a misspelt name fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def request_lang(request: Request) -> Lang:
    """``?lang=`` if given, else the remembered choice, else the server's default."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in ("ja", "en"):
        return asked  # type: ignore[return-value]  # narrowed by the test just above
    default: Lang = getattr(request.app.state, "default_lang", "ja")
    return default


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` rendered in the request's language, with what every page needs."""
    lang = request_lang(request)

    def t(key: str, **values: object) -> str:
        message = text(key, lang)
        return message.format(**values) if values else message

    other: Lang = "en" if lang == "ja" else "ja"
    full = {
        "lang": lang,
        "other_lang": other,
        "other_lang_url": _in_other_lang(request, other),
        "t": t,
        "demo": getattr(request.app.state, "demo", False),
        "csrf": request.scope.get("session", {}).get("csrf", ""),
        **(context or {}),
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, template, full, status_code=status_code
    )
    if request.query_params.get("lang") in ("ja", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


def _in_other_lang(request: Request, other: Lang) -> str:
    """The same page in ``other`` (its parameters kept: ``?role=seller``); for a page
    answering a form, where the form came from (a POST address cannot be opened)."""
    if request.method != "GET":
        home = "/dealer/" if request.url.path.startswith("/dealer/") else "/"
        return f"{home}?lang={other}"
    return request.url.path + "?" + str(request.url.include_query_params(lang=other).query)
