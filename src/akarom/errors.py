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
    └── StorageError                     the database cannot be opened, read or written

``expected`` (after yt-dlp's ``ExtractorError``) separates the failures the world
causes (blocked, captcha, maintenance: one line in the log) from those that mean
our adapter no longer matches the site (``ParseError``: logged with the page kept
as evidence, so a person can look).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

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
]


class AkaromError(Exception):
    """Base of every error akarom raises on purpose."""


class InvalidImei(AkaromError, ValueError):
    """The value is not a valid IMEI, IMEISV or MEID."""

    code: ClassVar[str] = "invalid"
    message: ClassVar[str] = "not a valid IMEI"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


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
