"""Record one check at a carrier's site as an offline fixture (STYLE.md §3).

Usage::

    python scripts/record_fixture.py CARRIER IMEI CASE [--base-url URL]
                                     [--test-imei IMEI] [--description TEXT] [--force]

Runs that carrier's real adapter once, through ``akarom.http.build_client`` with a
``RateLimiter`` at the adapter's ``MIN_INTERVAL`` and one request at a time, with a
recording transport around the real one. Every request/response step is written to
``tests/carriers/fixtures/<carrier>/<case>/`` in the format ``tests/carriers/replay.py``
replays: ``case.json`` and each response body as raw bytes, in its original encoding
(``01-<name>.html``, ``02-<name>.json``, …). The script then prints what the adapter
concluded and the ``AdapterCase(...)`` line to add to the adapter's ``TESTS`` (a
registry test insists that every fixture folder is named there).

Scrubbing, and nothing else is changed in a page:

- the real IMEI becomes a Luhn-valid test IMEI (``352099001761481``, or ``--test-imei``)
  in paths, queries, form values, kept headers, bodies and the description: as 15
  digits, as its first 14 digits (an IMEISV, an echo without check digit), and printed
  in groups with hyphens or spaces (``35-209900-176148-1``). A MEID (au) becomes a test
  MEID, in either letter case. Form values and query values that carry it say
  ``{imei}``, which the replay fills in;
- response headers other than ``Content-Type``, ``Retry-After`` and ``Location`` are
  dropped (``Set-Cookie`` among them); request headers (``Cookie``) are never written;
- tracking parameters (``_gl``, ``_ga``, ``utm_*``, ``gclid``, ``fbclid``, ``msclkid``,
  ``yclid``) are dropped from recorded queries and ``Location`` headers.

A transport failure is written as ``{"raise": "timeout"}`` (any httpx time-out) or
``{"raise": "connect"}`` (any other transport error; both end as ``CarrierUnavailable``).
A request's query string, which replay does not check, is kept as ``"query"`` for
the reader. An existing case folder is only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from akarom.carriers import ADAPTERS, CarrierAdapter, adapter_class
from akarom.carriers._base import codec_name, declared_charset
from akarom.domain import Carrier, Status
from akarom.errors import CarrierError, InvalidImei
from akarom.http import build_client
from akarom.identity import Identity, parse
from akarom.ratelimit import RateLimiter

__all__ = [
    "DEFAULT_TEST_IMEI",
    "DEFAULT_TEST_MEID",
    "FIXTURES",
    "AdapterCrashed",
    "Exchange",
    "RecordError",
    "Recording",
    "RecordingTransport",
    "Scrubber",
    "build_case",
    "live_limiter",
    "main",
    "record_fixture",
]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "carriers" / "fixtures"
DEFAULT_TEST_IMEI = "352099001761481"
DEFAULT_TEST_MEID = "A0000000002329"

KEPT_HEADERS = ("content-type", "retry-after", "location")
_TRACKING_KEYS = frozenset({"_gl", "_ga", "gclid", "fbclid", "msclkid", "yclid"})
_CASE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Headers that describe the bytes on the wire, not the body handed on (already decoded).
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
_PROVENANCE = "recorded from {host} on {date} by scripts/record_fixture.py"


class RecordError(Exception):
    """The recording was refused or could not be made; nothing was written."""


class AdapterCrashed(Exception):
    """The adapter raised something other than a ``CarrierError``; the fixture was written."""

    def __init__(self, recording: Recording) -> None:
        super().__init__(f"the adapter crashed; the steps are in {recording.folder}")
        self.recording = recording


def is_tracking(key: str) -> bool:
    """Whether a query parameter is a tracking tag.

    >>> [is_tracking(k) for k in ("_gl", "utm_source", "UTM_medium", "page", "imei")]
    [True, True, True, False, False]
    """
    key = key.lower()
    return key in _TRACKING_KEYS or key.startswith("utm_")


def strip_tracking(url: str) -> str:
    """``url`` without tracking parameters; other parameters keep their exact bytes.

    >>> strip_tracking("/r.php?_gl=1*x&id=7&utm_source=ad#top")
    '/r.php?id=7#top'
    >>> strip_tracking("/r.php?utm_source=ad")
    '/r.php'
    """
    base, hash_, fragment = url.partition("#")
    path, question, query = base.partition("?")
    if not question:
        return url
    kept = [
        part for part in query.split("&") if part and not is_tracking(unquote(part.split("=")[0]))
    ]
    return path + ("?" + "&".join(kept) if kept else "") + hash_ + fragment


class Scrubber:
    """Replaces a real IMEI (or MEID) with a test one, in bytes and in text.

    >>> s = Scrubber(parse("490154203237518"), parse("352099001761481"))
    >>> s.scrub(b"<td>490154203237518</td><td>49-015420-323751-8</td><td>49 015420 323751</td>")
    b'<td>352099001761481</td><td>35-209900-176148-1</td><td>35 209900 176148</td>'
    >>> s.field("490154203237518"), s.field("IMEI 49-015420-323751-8")
    ('{imei}', 'IMEI 35-209900-176148-1')
    """

    def __init__(self, real: Identity, test: Identity) -> None:
        if (real.kind == "meid") != (test.kind == "meid"):
            kind = "MEID" if real.kind == "meid" else "IMEI"
            raise RecordError(f"the test identity {test.value} must be a {kind}, as recorded")
        self.real = real.value
        self.test = test.value
        self._same = self.real == self.test  # recording the test IMEI itself
        self.meid = real.kind == "meid"
        if self.meid:
            self._pattern = re.compile(re.escape(self.real).encode("ascii"), re.IGNORECASE)
        else:
            # 2-6-6(-1) digit groups with an optional hyphen or space between them; the
            # check digit is optional, so a 14-digit echo or an IMEISV is caught too.
            # Digits and these separators are never trail bytes in Shift_JIS, and are
            # ASCII in every encoding a carrier uses, so this is safe on raw bytes.
            r = self.real
            sep = rb"([- ]?)"
            self._pattern = re.compile(
                r[:2].encode() + sep + r[2:8].encode() + sep + r[8:14].encode()
                + rb"(?:" + sep + r[14:].encode() + rb")?"
            )  # fmt: skip

    def _replace(self, match: re.Match[bytes]) -> bytes:
        if self.meid:
            found = match.group().decode("ascii")
            test = self.test.lower() if any(c.islower() for c in found) else self.test.upper()
            return test.encode("ascii")
        t = self.test.encode("ascii")
        out = t[:2] + match.group(1) + t[2:8] + match.group(2) + t[8:14]
        if match.group(3) is not None:
            out += match.group(3) + t[14:]
        return out

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every printing of the real identity replaced."""
        return self._pattern.sub(self._replace, data)

    def text(self, value: str) -> str:
        """``value`` with every printing of the real identity replaced."""
        return self.scrub(value.encode("utf-8")).decode("utf-8")

    def field(self, value: str) -> str:
        """A form or query value: the identity as sent becomes ``{imei}``, the rest scrubbed."""
        flags = re.IGNORECASE if self.meid else 0
        return self.text(re.sub(re.escape(self.real), "{imei}", value, flags=flags))

    def leaks(self, data: bytes) -> bool:
        """Whether ``data`` still shows the real identity."""
        return not self._same and self._pattern.search(data) is not None


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as sent and what came back: a response, or a transport failure."""

    method: str
    url: httpx.URL
    request_headers: httpx.Headers
    request_body: bytes
    status_code: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    failure: str | None = None  # "timeout" | "connect"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes every request to ``inner`` and keeps a copy of each exchange.

    Bodies are kept decoded from any ``Content-Encoding`` (gzip, br) but otherwise as
    sent, in the page's own charset. The response handed on is that decoded body
    without the wire headers, so that nothing downstream decodes it a second time.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = await request.aread()

        def record(**outcome: Any) -> Exchange:
            return Exchange(request.method, request.url, request.headers, sent, **outcome)

        try:
            response = await self._inner.handle_async_request(request)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            self.exchanges.append(record(failure="timeout"))
            raise
        except httpx.TransportError:
            self.exchanges.append(record(failure="connect"))
            raise
        headers = httpx.Headers(
            [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
        )
        self.exchanges.append(record(status_code=response.status_code, headers=headers, body=body))
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def charset_of(content: bytes, headers: httpx.Headers, default: str) -> str:
    """The charset a browser submits this page's forms in: as declared, else ``default``.

    >>> charset_of(b"", httpx.Headers({"content-type": "text/html; charset=Shift_JIS"}), "utf-8")
    'cp932'
    >>> charset_of(b'<meta charset="EUC-JP">', httpx.Headers(), "utf-8")
    'euc_jp'
    """
    return declared_charset(content, headers) or codec_name(default) or "utf-8"


def _form_fields(
    exchange: Exchange, candidates: Sequence[str]
) -> tuple[dict[str, str], str] | None:
    """The urlencoded form of a request and the first candidate charset it decodes in."""
    content_type = exchange.request_headers.get("content-type", "")
    if not exchange.request_body or "x-www-form-urlencoded" not in content_type.lower():
        return None
    try:
        text = exchange.request_body.decode("ascii")
    except UnicodeDecodeError:
        return None
    for encoding in candidates:
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding=encoding, errors="strict")
        except (UnicodeDecodeError, LookupError):
            continue
        return dict(pairs), encoding
    return None


def _body_name(index: int, exchange: Exchange, scrubber: Scrubber) -> str:
    """``01-search.html``: the last path segment that is not the IMEI, and the type."""
    segments = [s for s in exchange.url.path.split("/") if s]
    names = [s for s in segments if not scrubber.leaks(s.encode())]
    stem = names[-1].rsplit(".", 1)[0] if names else "page"
    stem = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-") or "page"
    content_type = exchange.headers.get("content-type", "").lower()
    if "json" in content_type:
        ext = "json"
    elif "html" in content_type:
        ext = "html"
    elif "xml" in content_type:
        ext = "xml"
    elif content_type.startswith("text/"):
        ext = "txt"
    elif content_type.startswith("image/"):
        ext = content_type.split("/", 1)[1].split(";")[0].strip() or "bin"
    else:
        ext = "bin"
    return f"{index:02d}-{stem}.{ext}"


def build_case(
    exchanges: Sequence[Exchange],
    scrubber: Scrubber,
    *,
    default_encoding: str,
    description: str,
    provenance: str,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``case.json`` content and the body files, scrubbed, from recorded exchanges.

    A form's charset is the one the previous page declares (as a browser submits it),
    else ``default_encoding``; the first of those, UTF-8 and cp932 that decodes it.
    """
    steps: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    previous: Exchange | None = None
    for index, exchange in enumerate(exchanges, start=1):
        step: dict[str, Any] = {
            "method": exchange.method,
            "path": scrubber.text(exchange.url.path),
        }
        query = {
            scrubber.text(k): scrubber.field(v)
            for k, v in exchange.url.params.multi_items()
            if not is_tracking(k)
        }
        if query:
            step["query"] = query
        declared = (
            charset_of(previous.body, previous.headers, default_encoding)
            if previous is not None and previous.failure is None
            else codec_name(default_encoding) or "utf-8"
        )
        form = _form_fields(exchange, list(dict.fromkeys([declared, "utf-8", "cp932"])))
        if form is not None:
            fields, encoding = form
            step["expect_form"] = {scrubber.text(k): scrubber.field(v) for k, v in fields.items()}
            if codec_name(encoding) != "utf-8":
                step["form_encoding"] = encoding
        if exchange.failure is not None:
            step["raise"] = exchange.failure
        else:
            step["status"] = exchange.status_code
            headers: dict[str, str] = {}
            for name in KEPT_HEADERS:
                value = exchange.headers.get(name)
                if value is not None:
                    if name == "location":
                        value = strip_tracking(value)
                    headers[name] = scrubber.text(value)
            step["headers"] = headers
            if exchange.body:
                name = _body_name(index, exchange, scrubber)
                files[name] = scrubber.scrub(exchange.body)
                step["body"] = name
        steps.append(step)
        previous = exchange
    spec = {
        "description": scrubber.text(description),
        "provenance": provenance,
        "steps": steps,
    }
    return spec, files


@dataclass(frozen=True, slots=True)
class Recording:
    """What was written, and what the adapter concluded."""

    carrier: Carrier
    case: str
    folder: Path
    test_imei: str
    outcome: Status | type[BaseException]
    symbol: str | None
    message: str
    description: str
    files: tuple[Path, ...]
    redirected: bool

    def adapter_case(self) -> str:
        """The ``AdapterCase(...)`` line for the adapter's ``TESTS``."""
        if isinstance(self.outcome, Status):
            expect = f"Status.{self.outcome.name}"
        else:
            expect = self.outcome.__name__
        parts = [json.dumps(self.case), json.dumps(self.test_imei), expect]
        if self.symbol is not None:
            parts.append(f"symbol={json.dumps(self.symbol, ensure_ascii=False)}")
        parts.append(f"description={json.dumps(self.description, ensure_ascii=False)}")
        return f"AdapterCase({', '.join(parts)}),"


def live_limiter(adapter: type[CarrierAdapter]) -> RateLimiter:
    """The politeness floor of the live site: ``MIN_INTERVAL`` apart, one at a time."""
    return RateLimiter(1.0 / adapter.MIN_INTERVAL, concurrency=1)


def _identities(
    adapter: type[CarrierAdapter], imei: str, test_imei: str | None
) -> tuple[Identity, Identity]:
    try:
        real = parse(imei)
    except InvalidImei as err:
        raise RecordError(f"IMEI {imei!r}: {err}") from err
    if real.kind == "meid" and not adapter.ACCEPTS_MEID:
        raise RecordError(f"{adapter.CARRIER.value} takes an IMEI, not a MEID")
    default = DEFAULT_TEST_MEID if real.kind == "meid" else DEFAULT_TEST_IMEI
    try:
        test = parse(test_imei or default)
    except InvalidImei as err:
        raise RecordError(f"test IMEI {test_imei!r}: {err}") from err
    return real, test


async def record_fixture(
    adapter: type[CarrierAdapter],
    imei: str,
    case: str,
    *,
    transport: httpx.AsyncBaseTransport,
    fixtures: Path = FIXTURES,
    base_url: str | None = None,
    test_imei: str | None = None,
    description: str | None = None,
    force: bool = False,
    limiter: RateLimiter | None = None,
) -> Recording:
    """Check ``imei`` once with ``adapter`` over ``transport`` and write the fixture.

    Raises ``RecordError`` before any request when the IMEI or case name is invalid
    or the case folder exists (without ``force``), and ``AdapterCrashed`` (after
    writing the fixture) when the adapter fails with anything but a ``CarrierError``.
    """
    real, test = _identities(adapter, imei, test_imei)
    scrubber = Scrubber(real, test)
    if not _CASE_NAME.fullmatch(case):
        raise RecordError(f"case name {case!r}: use lower-case letters, digits, '-' and '_'")
    folder = fixtures / adapter.CARRIER.value / case
    if folder.exists() and not force:
        raise RecordError(f"{folder} exists; pass --force to replace it")

    recorder = RecordingTransport(transport)
    outcome: Status | type[BaseException]
    symbol: str | None = None
    crash: Exception | None = None
    async with build_client(limiter or live_limiter(adapter), transport=recorder) as client:
        checker = adapter(client, base_url=base_url)
        host = urlsplit(checker.base_url).netloc
        try:
            observation = await checker.check(real.value)
        except CarrierError as err:
            outcome, message = type(err), str(err)
        except Exception as err:  # noqa: BLE001  # an adapter bug: re-raised after writing
            outcome, message, crash = type(err), str(err), err
        else:
            outcome, symbol = observation.reading.status, observation.reading.symbol
            message = observation.reading.message or ""
    if not recorder.exchanges:
        if crash is not None:
            raise crash
        raise RecordError(f"the adapter made no request ({message})")

    if description is None:
        if isinstance(outcome, Status):
            description = f"{adapter.CARRIER.value} answers {symbol} ({outcome.value})"
        else:
            description = f"{outcome.__name__}: {message}"
    today = datetime.now(UTC).date().isoformat()
    spec, bodies = build_case(
        recorder.exchanges,
        scrubber,
        default_encoding=adapter.DEFAULT_ENCODING,
        description=description,
        provenance=_PROVENANCE.format(host=host, date=today),
    )
    case_json = (json.dumps(spec, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    for name, data in [("case.json", case_json), *bodies.items()]:
        if scrubber.leaks(data):  # the scrubber's own invariant; never expected
            raise RecordError(f"{name} still shows the real IMEI; nothing was written")

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    written = []
    for name, data in [("case.json", case_json), *bodies.items()]:
        (folder / name).write_bytes(data)
        written.append(folder / name)
    recording = Recording(
        carrier=adapter.CARRIER,
        case=case,
        folder=folder,
        test_imei=test.value,
        outcome=outcome,
        symbol=symbol,
        message=scrubber.text(message),
        description=spec["description"],
        files=tuple(written),
        redirected=any(300 <= (e.status_code or 0) < 400 for e in recorder.exchanges),
    )
    if crash is not None:
        raise AdapterCrashed(recording) from crash
    return recording


def _report(recording: Recording) -> None:
    for path in recording.files:
        try:
            shown = path.relative_to(ROOT)
        except ValueError:
            shown = path
        print(f"wrote {shown}")
    outcome = recording.outcome
    if isinstance(outcome, Status):
        print(f"adapter concluded: {outcome.value} ({recording.symbol})")
    else:
        print(f"adapter raised {outcome.__name__}: {recording.message}")
    if recording.redirected:
        print("note: the site redirected; the offline replay client does not follow redirects")
    if isinstance(outcome, type) and not issubclass(outcome, CarrierError):
        return
    print(f"\nadd to {recording.carrier.value}'s TESTS (import any error class it names):")
    print(f"    {recording.adapter_case()}")


def main(
    argv: Sequence[str] | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """Command line entry; ``transport`` replaces the network (for tests)."""
    parser = argparse.ArgumentParser(
        prog="record_fixture.py",
        description="Record one check at a carrier's site as an offline test fixture.",
    )
    parser.add_argument("carrier", choices=[a.CARRIER.value for a in ADAPTERS])
    parser.add_argument("imei", help="the real IMEI to check (replaced by the test IMEI)")
    parser.add_argument("case", help="fixture folder name, e.g. restricted")
    parser.add_argument("--base-url", help="scheme and host instead of the live site's")
    parser.add_argument(
        "--test-imei", help=f"Luhn-valid IMEI written instead (default {DEFAULT_TEST_IMEI})"
    )
    parser.add_argument("--description", help="case.json description (default: the outcome)")
    parser.add_argument("--force", action="store_true", help="replace an existing case folder")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    adapter = adapter_class(Carrier(args.carrier))
    try:
        recording = asyncio.run(
            record_fixture(
                adapter,
                args.imei,
                args.case,
                transport=transport or httpx.AsyncHTTPTransport(),
                fixtures=args.fixtures,
                base_url=args.base_url,
                test_imei=args.test_imei,
                description=args.description,
                force=args.force,
            )
        )
    except RecordError as err:
        print(f"record_fixture: {err}", file=sys.stderr)
        return 2
    except AdapterCrashed as err:
        _report(err.recording)
        traceback.print_exception(err.__cause__ or err)
        print(f"record_fixture: {err}", file=sys.stderr)
        return 1
    _report(recording)
    return 0


if __name__ == "__main__":
    sys.exit(main())
