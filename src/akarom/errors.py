"""Every error akarom raises, in one tree.

::

    AkaromError
    ├── InvalidImei(ValueError)          the input is not an IMEI/MEID; nothing is sent
    │   ├── EmptyInput        code "empty"
    │   ├── InvalidCharacters code "characters"
    │   ├── InvalidLength     code "length"
    │   └── InvalidChecksum   code "checksum"
    ├── CarrierError (.carrier, .page)   one check at one carrier failed → status unknown
    │   ├── CarrierUnavailable   time-out, connection error, 5xx       code "unavailable"/"timeout"
    │   │   └── Maintenance      a maintenance page                    code "maintenance"
    │   ├── RateLimited(.retry_after)  HTTP 429                        code "rate_limited"
    │   ├── CaptchaRequired      a captcha stands before the answer    code "captcha"
    │   │   └── CaptchaFailed    a person's answer to it was not taken code "captcha"
    │   ├── Blocked              403 / 「Forbidden」: automated access refused  code "blocked"
    │   ├── CarrierRejected      the site refused the IMEI as invalid  code "rejected"
    │   └── ParseError(.field)   a page we do not understand           code "unrecognised_page"
    ├── ConfigError(ValueError)          a setting that cannot be used
    ├── UsageError(ValueError) (.key, .fields)  an option or argument that cannot be used
    │   └── UnknownTopic         ``explain`` was asked about nothing it knows
    └── StorageError                     the database cannot be opened, read or written

``expected`` (after yt-dlp's ``ExtractorError``) separates the failures the world
causes (blocked, captcha, maintenance: one line in the log) from those that mean
our adapter no longer matches the site (``ParseError``: logged with the page kept
as evidence, so a person can look).

Interfaces meet these errors at one edge each (the CLI's is ``akarom.cli._edge``): every
``AkaromError`` becomes one line in the person's language and an exit code (or HTTP
status) from one table; anything else is a bug, reported once with where its
traceback was written. Messages given here are English, for logs and developers;
what a person reads comes from the catalogue (``UsageError.key``, ``InvalidImei.code``,
``CarrierError.code``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:
    from akarom.carriers._base import Page
    from akarom.domain import Carrier

__all__ = [
    "AkaromError",
    "Blocked",
    "CaptchaFailed",
    "CaptchaRequired",
    "CarrierError",
    "CarrierRejected",
    "CarrierUnavailable",
    "ConfigError",
    "EmptyInput",
    "InvalidCharacters",
    "InvalidChecksum",
    "InvalidImei",
    "InvalidLength",
    "Maintenance",
    "ParseError",
    "RateLimited",
    "StorageError",
    "UnknownTopic",
    "UsageError",
    "expected_error",
]


class AkaromError(Exception):
    """Base of every error akarom raises on purpose."""


class InvalidImei(AkaromError, ValueError):
    """The value is not a valid IMEI, IMEISV or MEID."""

    code: ClassVar[str] = "invalid"
    message: ClassVar[str] = "not a valid IMEI"

    def __init__(self, message: str | None = None, *, value: str | None = None) -> None:
        super().__init__(message or self.message)
        #: What the person typed, when known, so the message can name it.
        self.value = value

    def about(self, value: str) -> Self:
        """This error, naming ``value`` as the input at fault (``raise err.about(raw)``)."""
        self.value = value
        return self


class EmptyInput(InvalidImei):
    code = "empty"
    message = "nothing was entered"


class InvalidCharacters(InvalidImei):
    code = "characters"
    message = "contains characters that cannot be part of an IMEI"


class InvalidLength(InvalidImei):
    code = "length"
    message = "has the wrong number of digits"


class InvalidChecksum(InvalidImei):
    code = "checksum"
    message = "the check digit does not match (a digit is probably mistyped)"


class ConfigError(AkaromError, ValueError):
    """A setting (environment variable, option) that cannot be used."""


class UsageError(AkaromError, ValueError):
    """An option or argument that cannot be used as given: a bad date, an unknown name.

    ``key`` names the sentence that says so in the catalogue (``akarom.texts``) and
    ``fields`` fill its ``{placeholders}``, so every interface says it in the person's
    language; a field that is an ``InvalidImei`` is said as the reason it is invalid.
    ``hint`` is the key of a sentence that helps further (what would be accepted).
    """

    def __init__(
        self, message: str, *, key: str, hint: str | None = None, **fields: object
    ) -> None:
        super().__init__(message)
        self.key = key
        self.hint = hint
        self.fields = fields


class UnknownTopic(UsageError):
    """``explain`` was asked about something that is no topic, nor a valid IMEI."""

    def __init__(self, topic: str, invalid: InvalidImei) -> None:
        super().__init__(
            f"{topic!r} is not something akarom explains, nor a valid IMEI ({invalid})",
            key="explain.unknown_topic",
            hint="explain.topics",
            topic=topic,
            reason=invalid.about(topic),
        )
        self.invalid = invalid


class StorageError(AkaromError):
    """The database cannot be opened, migrated, read or written; the message says why.

    Driver exceptions are mapped to this at the storage boundary, so a user sees one
    line (a bad URL, a server that does not answer) and never a driver traceback.
    """


class CarrierError(AkaromError):
    """One check at one carrier failed; the result for that carrier is ``unknown``."""

    code: ClassVar[str] = "error"
    expected: ClassVar[bool] = True
    #: Worth asking again soon (time-outs, 5xx, 429); a block or a changed page is not.
    transient: ClassVar[bool] = False

    def __init__(
        self, message: str, *, carrier: Carrier | None = None, page: Page | None = None
    ) -> None:
        super().__init__(message)
        self.carrier = carrier
        #: Every page fetched during the failed check, oldest first: the evidence.
        self.pages: tuple[Page, ...] = (page,) if page is not None else ()

    @property
    def page(self) -> Page | None:
        """The last page fetched before the failure, if any."""
        return self.pages[-1] if self.pages else None


class CarrierUnavailable(CarrierError):
    """The site did not answer: time-out, connection refused, HTTP 5xx."""

    code = "unavailable"
    transient = True

    def __init__(
        self,
        message: str,
        *,
        carrier: Carrier | None = None,
        page: Page | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, carrier=carrier, page=page)
        if code is not None:
            self.code = code  # type: ignore[misc]  # "timeout" refines "unavailable"


class Maintenance(CarrierUnavailable):
    """The site answered with a maintenance page (メンテナンス中)."""

    code = "maintenance"
    transient = False


class RateLimited(CarrierError):
    """HTTP 429: the carrier asks us to slow down, perhaps saying for how long."""

    code = "rate_limited"
    transient = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        carrier: Carrier | None = None,
        page: Page | None = None,
    ) -> None:
        super().__init__(message, carrier=carrier, page=page)
        self.retry_after = retry_after


class CaptchaRequired(CarrierError):
    """A captcha stands before the answer; akarom never solves one by machine."""

    code = "captcha"


class CaptchaFailed(CaptchaRequired):
    """The carrier did not take a person's answer to its captcha (``CaptchaChallenge``).

    Wrong, expired, or the challenge was already answered or replaced by a newer one:
    the captcha still stands, so the code stays ``captcha``. Show a new challenge.
    """


class Blocked(CarrierError):
    """The carrier refused automated access (HTTP 403, a 「Forbidden」 page)."""

    code = "blocked"


class CarrierRejected(CarrierError):
    """The site refused the IMEI as invalid, though akarom had validated it."""

    code = "rejected"
    # Unexpected: akarom validated the IMEI first, so the page is kept as evidence.
    expected = False


class ParseError(CarrierError):
    """The page is not one we recognise: its layout changed, or it is not a result.

    ``field`` says how it differed, one word per class of drift that ``akarom doctor``
    counts: for an answer page, a ``carriers._template.Reason`` (``page structure``,
    ``unaccounted text``, ``hidden markup``, ``imei echo``, ``symbol``, ``wording``…);
    elsewhere what was missing (``form``, ``http status``, ``captcha form``).
    """

    code = "unrecognised_page"
    expected = False

    def __init__(
        self,
        message: str,
        *,
        field: str,
        carrier: Carrier | None = None,
        page: Page | None = None,
    ) -> None:
        super().__init__(message, carrier=carrier, page=page)
        self.field = field


def expected_error(error: BaseException) -> AkaromError | None:
    """The ``AkaromError`` behind ``error``, for an interface's edge; None for a bug.

    Concurrent work (``asyncio.TaskGroup``) raises its failures as an exception
    group: when every exception in it is an ``AkaromError``, the first is the one to
    tell the person about (say, a database that refused a write during a check).

    >>> expected_error(ExceptionGroup("checks", [StorageError("disk full")]))
    StorageError('disk full')
    >>> expected_error(ExceptionGroup("checks", [StorageError("x"), KeyError("bug")])) is None
    True
    """
    if isinstance(error, AkaromError):
        return error
    if isinstance(error, BaseExceptionGroup):
        found = [expected_error(member) for member in error.exceptions]
        if found and all(member is not None for member in found):
            return found[0]
    return None
