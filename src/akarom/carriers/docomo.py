"""NTT docomo (and ahamo): 「ネットワーク利用制限携帯電話機確認サイト」.

Implements carrier-sites.md §1 (docomo), as written on 2026-11-26.

Check page
    ``https://nw-restriction.nttdocomo.co.jp/search.php``. docomo itself published the
    landing page ``top.php`` (§1.1, 2016) and its own guide pages link it over https
    (used-lab.com, 2025), but every scraper 2016–2026 used plain **http**; that https
    answers the same is INFERRED (§1.1, M). akarom uses https.

Flow (§1.4, SEEN 2025-06 … 2026-02 in three independent scrapers)
    One request: ``POST /search.php`` with the form ``productno=<15 digits>``,
    ``application/x-www-form-urlencoded``, percent-encoded in cp932 like everything
    the Shift_JIS site receives (the digits are ASCII anyway). The preceding
    ``GET top.php`` that some scrapers make only fetches a ``PHPSESSID`` cookie that
    no current scraper needs (§1.4 step 1, "optional"); leaving it out halves the load
    on docomo and is the politest flow. If the site ever starts to demand the session,
    the answer will no longer be a result page and the check fails loudly
    (``ParseError``), never with a guessed status.

What the page returns (the template ``RESULT``, recognised whole)
    A Shift_JIS result page: three ``div.result-panel`` blocks labelled 製造番号,
    ネットワーク利用制限のステータス and 製造番号の検索日 (the IMEI, the bare symbol ○ ◯
    △ × or the ASCII hyphen ``-`` for "no record", the search date; §1.4 step 4, H;
    the order and labels INFERRED, M, from a 2024 blog describing the screen), an
    optional panel with one of the sentences of §1.5 (``WORDINGS``; returned as the
    message, and refused when it belongs to another status than the symbol), the
    翌々日中 note and FAQ link of top.php (§1.2), and docomo's header and footer.
    Anything else on the page (a notice, an extra panel, a script, hidden markup, a
    symbol with other text or a combining mark) is a ``ParseError`` naming what
    differs: the answer is ``unknown``.

Quirks
    - Shift_JIS (cp932), declared in ``<meta>`` and, per the sandbox notes, the header
      (§1.2, §1.4 step 3, §9). Pages are decoded by their declaration, else as cp932.
    - "No record" is the ASCII hyphen ``-``, not － (§1.4, M).
    - Before about 2023 a numeric GIF captcha (``gifcat/call.php``, field
      ``attestationkey``) stood before the answer (§1.3). It is gone since 2025-06 at the
      latest; if it comes back the check raises ``CaptchaRequired``, and a person may
      answer it (below).
    - No blocking or rate limit has been reported (§1.8). HTTP 403, a page titled
      「Forbidden」 / "Access Denied" → ``Blocked``; a page whose visible text (not a
      link or a script) mentions 「メンテナンス」 and that shows no result →
      ``Maintenance`` (its wording is unknown, §1.5). Those two screens are guesses,
      shared with the other adapters (``_screens``); the gifcat captcha is docomo's own.

Captcha, answered by a person (§1.3; akarom never answers a captcha by machine)
    After ``check`` raised ``CaptchaRequired``, ``captcha_challenge(imei)`` replays the
    legacy flow for a person. ``GET /search.php`` (Referer top.php; PHP starts or
    resumes the ``PHPSESSID`` session, kept in the cookie jar of the adapter's client)
    must show the form with ``productno``, the ``attestationkey`` field and
    ``<img src="gifcat/call.php">``; then that image is fetched in the same session
    (Referer search.php). The challenge is data: the image, and in ``session`` the
    ``Cookie`` header the session needs, the form's action and fields, and a random
    token naming the challenge. ``answer_captcha(challenge, text)`` POSTs the form to
    ``search.php`` with that ``Cookie`` header (what a browser sends from it, with
    ``productno=<imei>`` and ``attestationkey=<text>``, in cp932), from whichever
    client of docomo it is called on, and reads the response exactly as ``check``
    does (screens, symbol, IMEI echo); its observation keeps every page: the form,
    the image (when the challenge still has them), the answer.

    - The image is checked to be one by its magic number (GIF, PNG or JPEG) and is
      never read: whatever a response says about the code (the sandbox's
      ``X-Sandbox-Captcha`` header) is ignored. Only a person reads the code.
    - The person's text (``captcha_answer``): NFKC (full-width digits), blanks
      removed, then ASCII digits only (the code was 5 or 6 digits, §1.3; the length
      is not checked, the image decides). Anything else is a ``ValueError`` before
      any request.
    - ``search.php`` showing the plain ``productno`` form: the captcha is gone, the
      result is None, and the caller simply ``check``s again. Neither form →
      ``ParseError(field="captcha form")``; a response that is no image →
      ``ParseError(field="captcha image")``.
    - The answer showing the captcha form again → ``CaptchaFailed`` (docomo's wording
      for a wrong code is unknown, §1.3). A code is good for one POST: a challenge
      this adapter made whose answer reached docomo, or that a newer challenge of
      this adapter replaced (each image gives the session a new code), raises
      ``CaptchaFailed`` without a request. A challenge made elsewhere (another
      process) is sent: the store it came from lets only one answer through, and
      docomo itself refuses a replaced code.
    - One session per client: the session lives in the client's cookie jar, so
      checks running beside a live challenge would share it. The Checker asks one
      person at a time per carrier, so only one challenge of it is live at a time.

Decisions where the reference is silent
    - **IMEI echo** (``ECHO = Echo.REQUIRED``). The first panel must hold the whole
      IMEI asked about (hyphens, spaces or full-width digits allowed; a masked,
      shortened, 16-digit or annotated number is refused with
      ``ParseError(field="imei echo")``): the answer must be about our device. The
      2024 blog shows 製造番号 on the result screen (§1.4), so the echo is required.
    - **Invalid IMEI.** The site's own invalid-IMEI answer is unknown (§1.5). A page
      that shows the search form again (a ``productno`` input) is reported as a
      ``ParseError`` saying so, not as ``CarrierRejected``: akarom only sends
      Luhn-valid IMEIs, so the form coming back more likely means the flow changed
      (a token, a captcha, a session) than a refusal.
    - **Input.** docomo takes 15 digits only (§1.7; no MEID). ``_check`` raises
      ``ValueError`` for anything else: services validate and never send it, so it is
      a programming error, and nothing is sent.

Drift probe (``probe_page``, for ``akarom doctor --live``)
    GETs only, never the POST: ``top.php`` (the page docomo publishes, §1.2) must
    declare Shift_JIS and link to ``search.php``; then ``search.php`` (the form a
    person fills in, ``PROBE_EXTRA_PATHS``) must declare Shift_JIS, hold a form
    posting to ``search.php`` with the ``productno`` input the adapter sends, and show
    no gifcat captcha (``attestationkey``, ``gifcat/call.php``, §1.3). Each problem
    names what is missing.

Fixtures
    Every page under ``tests/carriers/fixtures/docomo/`` is RECONSTRUCTED from
    carrier-sites.md §1 (2026-11-26); no live capture was possible here.

Unverified about the live site (carrier-sites.md §10)
    - the current HTML of the result page: how many ``result-panel`` blocks, their
      order and labels, how the IMEI is echoed (hyphens?), the date format, the
      header, notes and footer around them: the template is the best reconstruction,
      and the first live page that differs is refused and counted as drift;
    - whether the result page carries any explanatory wording at all, and in which
      words;
    - https versus http behaving the same; whether a cookie-less single POST keeps
      working;
    - the invalid-IMEI, empty-input and maintenance pages and their HTTP statuses;
    - whether the captcha can come back under load; any rate limit or terms of use
      (``about.html`` unread, §8).
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx

from akarom.carriers import _screens
from akarom.carriers._base import (
    AdapterCase,
    CaptchaChallenge,
    CarrierAdapter,
    Observation,
    Page,
    Reading,
    Visit,
    declared_charset,
)
from akarom.carriers._forms import action_path, find_form
from akarom.carriers._template import (
    Echo,
    HtmlTemplate,
    date_slot,
    echo_slot,
    symbol_slot,
    wording_slot,
)
from akarom.domain import Carrier, Status
from akarom.errors import (
    Blocked,
    CaptchaFailed,
    CaptchaRequired,
    CarrierUnavailable,
    Maintenance,
    ParseError,
    RateLimited,
)

__all__ = ["CaptchaForm", "DocomoAdapter"]

_TOP_PATH = "/top.php"
_SEARCH_PATH = "/search.php"
_FORM_ENCODING = "cp932"  # the site is Shift_JIS (§1.4 step 3)
# Any result panel: the screens let a page holding one through to the template.
_RESULT_PANELS = "div.result-panel"
_GIFCAT = 'img[src*="gifcat/call.php"]'  # the legacy captcha image (§1.3)
_CAPTCHA_FIELD = 'input[name="attestationkey"]'
# What the captcha image may be, by its first bytes (§1.3: a GIF).
_IMAGE_MAGIC = (
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)

#: The sentences reported for each status (§1.5, 2014–2024). The result page is
#: accepted with one of them in its wording panel, or with no wording panel at all;
#: an unknown sentence, or one for another status, is refused.
WORDINGS: dict[Status, tuple[str, ...]] = {
    Status.OK: (
        "利用可（後日不正契約が認められた場合を除く）",
        "ネットワーク利用制限の対象外です。",
        "ネットワーク利用制限の対象ではございません。",
    ),
    Status.PENDING: ("利用できますが、代金債務の不履行等により利用制限となる可能性があります。",),
    Status.RESTRICTED: ("利用制限中です。",),
    Status.UNREGISTERED: (
        "IMEI（製造番号）が確認できません。",
        "製造番号が確認できません。",
        "製造番号が確認できません",
    ),
}

#: The result page (§1.4): three labelled panels [IMEI, symbol, search date] (the
#: order INFERRED from a 2024 blog, M), an optional wording panel (§1.5), the
#: 翌々日中 note and the FAQ link of top.php (§1.2, §1.6), docomo's header and footer.
RESULT = HtmlTemplate(
    "docomo's result page (carrier-sites.md §1.4)",
    """<html><head><title>ネットワーク利用制限携帯電話機確認サイト</title>
<link rel="stylesheet" type="text/css" href="main.css"></head>
<body>
<div id="mainspace">
<div id="header"><a class="logo" href="https://www.docomo.ne.jp/">NTT docomo</a></div>
<div id="contents">
<div class="lead outst"><h2>ネットワーク利用制限の確認結果</h2></div>
<div class="panel outst">
<h5>製造番号</h5>
<div class="result-panel">{echo}</div>
<h5>ネットワーク利用制限のステータス</h5>
<div class="result-panel">{status}</div>
<h5>製造番号の検索日</h5>
<div class="result-panel">{date}</div>
</div>
<div class="panel outst" data-t="optional"><p>{wording}</p></div>
<div class="flex-box">
<p>※ネットワーク利用制限の情報は、お手続きの翌々日中に反映されます。</p>
<p><a href="faq.html">よくあるご質問</a></p>
</div>
<p><a href="search.php" class="h2-button">別の製造番号を確認する</a></p>
</div>
<div id="footer">
<ul><li><a href="https://www.docomo.ne.jp/utility/privacy/">プライバシーポリシー</a></li>
<li><a href="about.html">サイトご利用にあたって</a></li></ul>
<p class="copyright">&copy; NTT DOCOMO</p>
</div>
</div>
</body></html>""",
    slots={
        "echo": echo_slot(),
        "status": symbol_slot(),
        "date": date_slot(),
        "wording": wording_slot(WORDINGS),
    },
)

_case = partial(AdapterCase.of, imei="352099001761481")


@dataclass(frozen=True, slots=True)
class CaptchaForm:
    """docomo's search form with the captcha, as ``search.php`` shows it (§1.3).

    ``fields`` is what a browser sends from the form before it is filled in,
    ``action`` the path it posts to, ``image`` the path of the captcha image.
    """

    fields: Mapping[str, str]
    action: str
    image: str


#: What became of a challenge this adapter made (``DocomoAdapter._challenges``).
_ChallengeState = Literal["live", "replaced", "spent"]
#: How many of its challenges an adapter remembers: far more than a person answers
#: before a newer one replaces them (the Checker keeps one live per carrier).
_REMEMBERED_CHALLENGES = 64


@dataclass(frozen=True, slots=True)
class _CaptchaSession:
    """``CaptchaChallenge.session`` for docomo, checked: what the answer is sent with."""

    token: str
    cookie: str | None
    action: str
    fields: Mapping[str, str]

    @classmethod
    def of(cls, session: Mapping[str, Any]) -> _CaptchaSession:
        """Read a (possibly stored) session; ``ValueError`` when it is not docomo's."""
        token, cookie = session.get("token"), session.get("cookie")
        action, fields = session.get("action"), session.get("fields")
        if not (
            isinstance(token, str)
            and token
            and (cookie is None or isinstance(cookie, str))
            and isinstance(action, str)
            and action.startswith("/")
            and isinstance(fields, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
        ):
            raise ValueError("not the session of a docomo captcha challenge")
        return cls(token, cookie, action, dict(fields))


def _require_imei(imei: str) -> None:
    if not (len(imei) == 15 and imei.isascii() and imei.isdigit()):
        raise ValueError(f"docomo takes exactly 15 digits, not {imei!r} (§1.7)")


class DocomoAdapter(CarrierAdapter):
    """docomo's check page: one POST of ``productno``, the symbol in the 2nd result panel."""

    CARRIER = Carrier.DOCOMO
    DISPLAY_NAME = "ネットワーク利用制限携帯電話機確認サイト"
    BASE_URL = "https://nw-restriction.nttdocomo.co.jp"
    ENTRY_PATH = "/top.php"  # the URL docomo itself publishes (§1.1)
    # The probe also looks at the search form, where a returning captcha would show.
    PROBE_EXTRA_PATHS = (_SEARCH_PATH,)
    DEFAULT_ENCODING = "cp932"
    MIN_INTERVAL = 2.0
    # One small PHP page; 20 s is several times what a browser waits in practice and
    # keeps a hung connection from holding docomo's single request slot (INTERFACES §4).
    TIMEOUT = 20.0
    VERSION = "docomo-2026.11.26"
    ACCEPTS_MEID = False
    TEMPLATES = (RESULT,)
    FORM_AGAIN = (
        'input[name="productno"]',
        "docomo showed the search form again instead of a result (its invalid-IMEI wording "
        "is unknown, carrier-sites.md §1.5)",
    )
    ECHO = Echo.REQUIRED  # 「製造番号」 is on the result screen (bumbullbee 2024, §1.4)

    TESTS: ClassVar[tuple[AdapterCase, ...]] = (
        _case("ok", Status.OK, "○: not restricted", symbol="○"),
        _case(
            "ok-large-circle", Status.OK, "◯ (U+25EF), the variant one scraper keys on", symbol="◯"
        ),
        _case("pending", Status.PENDING, "△: installments or review period", symbol="△"),
        _case("restricted", Status.RESTRICTED, "×: 赤ロム", symbol="×"),
        _case("unregistered", Status.UNREGISTERED, "ASCII '-': no record", symbol="-"),
        _case(
            "whitespace",
            Status.RESTRICTED,
            "symbol wrapped in newlines, spaces and U+3000",
            symbol="×",
        ),
        _case(
            "attribute-order",
            Status.PENDING,
            "several classes, attributes reordered, upper case",
            symbol="△",
        ),
        _case("meta-charset-only", Status.OK, "Shift_JIS declared only in <meta>", symbol="○"),
        _case("imei-echo-mismatch", ParseError, "the page is about another IMEI"),
        _case("search-form-again", ParseError, "the form came back instead of a result"),
        _case("layout-changed", ParseError, "no div.result-panel at all"),
        _case("empty-symbol", ParseError, "the symbol panel is empty"),
        _case("look-alike-symbol", ParseError, "◎ is not one of docomo's symbols"),
        _case("captcha", CaptchaRequired, "the legacy gifcat captcha form (§1.3)"),
        _case("blocked", Blocked, "HTTP 403 Forbidden"),
        _case("maintenance-503", Maintenance, "HTTP 503 with a メンテナンス page"),
        _case("maintenance-200", Maintenance, "HTTP 200 with a メンテナンス page"),
        _case("server-error", CarrierUnavailable, "HTTP 500"),
        _case("timeout", CarrierUnavailable, "no answer in time"),
        _case("rate-limited", RateLimited, "HTTP 429 with Retry-After"),
    )

    def __init__(self, client: httpx.AsyncClient, *, base_url: str | None = None) -> None:
        super().__init__(client, base_url=base_url)
        # The challenges this adapter made, by token, and what became of each: an answer
        # is sent only to the newest one, once (each image gives the session a new code).
        self._challenges: OrderedDict[str, _ChallengeState] = OrderedDict()

    async def _check(self, imei: str, visit: Visit) -> Reading:
        """POST ``productno`` to ``search.php``; the answer is that response."""
        _require_imei(imei)
        page = await visit.fetch(
            "POST",
            _SEARCH_PATH,
            form={"productno": imei},
            form_encoding=_FORM_ENCODING,
            headers={"Referer": self.base_url + _SEARCH_PATH},
        )
        return self.parse_result(page, imei)

    async def captcha_challenge(self, imei: str) -> CaptchaChallenge | None:
        """The gifcat captcha, for a person to answer; None when search.php shows none.

        See the module docstring (Captcha, answered by a person) and ``CaptchaChallenge``.
        """
        _require_imei(imei)
        visit = Visit(self)
        started_at = datetime.now(UTC)
        clock = time.perf_counter()
        search_url = self.base_url + _SEARCH_PATH
        with self._keeping_evidence(visit):
            page = await visit.fetch(
                "GET",
                _SEARCH_PATH,
                headers={"Referer": self.base_url + _TOP_PATH},
                captcha_expected=True,
            )
            form = self.read_captcha_form(page)
            if form is None:
                return None
            token = secrets.token_hex(16)
            # A new image gives the session a new code: older challenges are void now.
            live = [known for known, state in self._challenges.items() if state == "live"]
            self._challenges.update(dict.fromkeys(live, "replaced"))
            self._remember(token, "live")
            image = await visit.fetch("GET", form.image, headers={"Referer": search_url})
            media_type = self.captcha_media_type(image)
        # The Cookie header a browser would send with the answer: the session itself.
        cookie = self.client.build_request("POST", self.base_url + form.action).headers.get(
            "cookie"
        )
        return CaptchaChallenge(
            carrier=self.CARRIER,
            imei=imei,
            image=image.content,
            media_type=media_type,
            session={
                "token": token,
                "cookie": cookie,
                "action": form.action,
                "fields": dict(form.fields),
            },
            pages=tuple(visit.pages),
            started_at=started_at,
            elapsed_s=time.perf_counter() - clock,
        )

    async def answer_captcha(self, challenge: CaptchaChallenge, text: str) -> Observation:
        """POST the person's code in the challenge's session; read the answer as ``check``."""
        if challenge.carrier is not self.CARRIER:
            raise ValueError(f"a {challenge.carrier} captcha cannot be answered at docomo")
        _require_imei(challenge.imei)
        code = self.captcha_answer(text)
        session = _CaptchaSession.of(challenge.session)
        imei = challenge.imei
        search_url = self.base_url + _SEARCH_PATH
        visit = Visit(self, challenge.pages)
        clock = time.perf_counter()
        with self._keeping_evidence(visit):
            state = self._challenges.get(session.token)
            if state == "spent":
                raise CaptchaFailed(
                    "this docomo captcha was already answered: answer a new challenge"
                )
            if state == "replaced":
                raise CaptchaFailed(
                    "a newer docomo captcha was shown in this session: answer the newer one"
                )
            headers = {"Referer": search_url}
            if session.cookie:
                headers["Cookie"] = session.cookie
            try:
                page = await visit.fetch(
                    "POST",
                    session.action,
                    form={**session.fields, "productno": imei, "attestationkey": code},
                    form_encoding=_FORM_ENCODING,
                    headers=headers,
                )
            except CaptchaRequired as err:
                raise CaptchaFailed(
                    "docomo did not take the answer: it shows the captcha again "
                    "(a wrong code, or the session expired)"
                ) from err
            finally:
                if len(visit.pages) > len(challenge.pages):
                    self._remember(session.token, "spent")  # docomo saw the code
            reading = self.parse_result(page, imei)
        return Observation(
            carrier=self.CARRIER,
            imei=imei,
            reading=reading,
            pages=tuple(visit.pages),
            started_at=challenge.started_at,
            elapsed_s=challenge.elapsed_s + time.perf_counter() - clock,
            adapter_version=self.VERSION,
        )

    def _remember(self, token: str, state: _ChallengeState) -> None:
        self._challenges[token] = state
        self._challenges.move_to_end(token)
        while len(self._challenges) > _REMEMBERED_CHALLENGES:
            self._challenges.popitem(last=False)

    @classmethod
    def captcha_answer(cls, text: str) -> str:
        """The code a person typed, as it is sent: NFKC, blanks removed, ASCII digits only.

        ``ValueError`` for anything else (docomo's code is digits, §1.3).

        >>> DocomoAdapter.captcha_answer(" ４８２　１３ ")
        '48213'
        >>> DocomoAdapter.captcha_answer("48a13")
        Traceback (most recent call last):
        ...
        ValueError: docomo's captcha is digits only, not '48a13'
        """
        digits = "".join(unicodedata.normalize("NFKC", text).split())
        if not (digits and digits.isascii() and digits.isdigit()):
            raise ValueError(f"docomo's captcha is digits only, not {text!r}")
        return digits

    @classmethod
    def read_captcha_form(cls, page: Page) -> CaptchaForm | None:
        """**Pure**: the captcha form ``page`` shows; None for the plain search form.

        ``ParseError(field="captcha form")`` when it shows neither, or a captcha
        without the form, field or image the flow needs.
        """
        tree = cls._tree(page)
        image = tree.css_first(_GIFCAT)
        form = find_form(page.text(cls.DEFAULT_ENCODING), action_contains="search.php")
        controls = form.controls if form is not None else ()
        if image is None and "attestationkey" not in controls:
            if "productno" in controls:
                return None
            raise ParseError(
                "search.php shows neither the captcha nor the search form", field="captcha form"
            )
        missing = [
            what
            for what, there in (
                ("a form posting to search.php", form is not None),
                ("the productno field", "productno" in controls),
                ("the attestationkey field", "attestationkey" in controls),
                ("the gifcat/call.php image", image is not None),
            )
            if not there
        ]
        if form is None or image is None or missing:
            raise ParseError(
                f"docomo's captcha form lacks {', '.join(missing)}", field="captcha form"
            )
        return CaptchaForm(
            fields=dict(form.fields),
            action=action_path(form.action, page.url),
            image=action_path(_screens.attr(image, "src"), page.url),
        )

    @staticmethod
    def captcha_media_type(page: Page) -> str:
        """**Pure**: what the captcha image is, by its first bytes; ``ParseError`` if none.

        >>> DocomoAdapter.captcha_media_type(Page("GET", "https://x/gifcat/call.php", 200,
        ...                                       {}, b"GIF89a..."))
        'image/gif'
        """
        for magic, media_type in _IMAGE_MAGIC:
            if page.content.startswith(magic):
                return media_type
        sent = page.headers.get("content-type", "no content type")
        raise ParseError(
            f"the captcha image is not an image ({sent}, {len(page.content)} bytes)",
            field="captcha image",
        )

    @classmethod
    def probe_page(cls, page: Page) -> list[str]:
        """``top.php``: Shift_JIS and the link on; ``search.php``: the ``productno`` form."""
        tree = cls._tree(page)
        is_search = urlsplit(page.url).path.endswith(_SEARCH_PATH)
        name = _SEARCH_PATH.lstrip("/") if is_search else "top.php"
        declared = declared_charset(page.content, page.headers)
        problems = []
        if declared is None:
            problems.append(f"{name} declares no charset (expected Shift_JIS)")
        elif declared != _FORM_ENCODING:
            problems.append(f"{name} declares {declared}, not Shift_JIS")
        if not is_search:
            if not any(
                urlsplit(_screens.attr(a, "href")).path.endswith("search.php")
                for a in tree.css("a[href]")
            ):
                problems.append("top.php has no link to search.php")
            return problems
        form = next((f for f in tree.css("form") if f.css_first('input[name="productno"]')), None)
        if form is None:
            problems.append("search.php has no form with a productno input")
        else:
            action = urlsplit(_screens.attr(form, "action").strip()).path
            if action and not action.endswith("search.php"):
                problems.append(f"the productno form posts to {action!r}, not search.php")
        if tree.css_first(_GIFCAT) is not None or tree.css_first(_CAPTCHA_FIELD) is not None:
            problems.append("search.php shows the gifcat captcha (attestationkey)")
        return problems

    @classmethod
    def screen_page(cls, page: Page) -> None:
        """Captcha (legacy gifcat form), maintenance, and 「Forbidden」 pages."""
        tree = cls._tree(page)
        if tree.css_first(_GIFCAT) is not None or tree.css_first(_CAPTCHA_FIELD) is not None:
            raise CaptchaRequired(
                "docomo asks for the image code (gifcat captcha, §1.3); "
                "akarom does not solve captchas: check by hand"
            )
        if tree.css_first(_RESULT_PANELS) is not None:
            return
        if _screens.mentions_maintenance(_screens.visible_text(tree)):
            raise Maintenance(f"docomo shows a maintenance page (HTTP {page.status_code})")
        title = _screens.blocked_title(tree)
        if title is not None:
            raise Blocked(f"docomo refused access: {title[:60]!r}")
