"""Read IMEIs from a photo: a box label, the ``*#06#`` screen, a shop's QR code.

``read_imeis(image_bytes)`` decodes every barcode in the picture with zxing-cpp and
keeps what akarom's own parser (``akarom.identity``) accepts: IMEIs, IMEISVs (offered as
the IMEI they name) and MEIDs. A 15-digit barcode whose Luhn check digit is wrong is never
offered: it is returned as *rejected*, with the parser's error code, so a page can say
why. Everything else the picture holds (the JAN code, the serial number, a URL) is
*ignored*, and only counted.

Pure: no I/O beyond the bytes given, no network, no global state changed. Accepted
files: JPEG (MPO too, as some phone cameras save), PNG, WebP and AVIF (Pillow's wheels
bring their codecs; AVIF from Pillow 11.2). HEIC is refused as ``unreadable``: Pillow
needs the separate ``pillow-heif`` plugin for it (iPhones convert to JPEG when a browser
uploads a photo).

How the picture is read, cheapest first:

1. the upright image (EXIF orientation applied; pictures above ~12 megapixels reduced),
   zxing searching all four directions (``try_rotate``) and smaller sizes
   (``try_downscale``);
2. a sharpened copy (blur);
3. then, only while fewer than two were found and time remains (``time_budget``): a copy
   enlarged twice and sharpened (small labels), an inverted copy (light bars on a dark
   screen), a halved one (noise, JPEG blocks), and one turned by 45° (zxing reads bars
   skewed up to ~20° from the upright or sideways position).

Reading stops at two identities (IMEI and IMEI2 is all a phone has). With one, the
later passes look for a second only within a quarter of the time budget: the other one
may be the IMEI the carrier keyed its record on.

No text recognition (OCR) runs: a ``label`` ('IMEI', 'IMEI2') is known only when the
barcode's own content says it (``IMEI2: 35…`` in a QR code). Candidates come in the
order a person reads the label: top to bottom in the label's own frame (a label
photographed upside down still gives IMEI before IMEI2), then left to right; on box
labels and ``*#06#`` screens that puts IMEI before IMEI2.

>>> read_imeis(b"not a picture").reason
'unreadable'
"""

from __future__ import annotations

import io
import math
import re
import struct
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import zxingcpp
from PIL import Image, ImageFilter, ImageOps

from akarom.errors import InvalidImei
from akarom.identity import Identity, Kind, compact, parse
from akarom.texts import Lang, text

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Candidate",
    "Label",
    "PhotoReading",
    "Reason",
    "Rejected",
    "read_imeis",
]

Reason = Literal["unreadable", "too_large", "no_barcode", "no_imei"]
Label = Literal["IMEI", "IMEI2"]

#: A 50-megapixel phone sensor's full-resolution photo fits (8160 × 6120); a bigger
#: picture is refused from its header, before a single pixel is decoded.
DEFAULT_MAX_PIXELS = 50_000_000
#: Pictures larger than this are read at a reduced size (JPEG decodes straight to it):
#: a barcode that fills a tenth of a 12-megapixel photo still has ~3 px per bar.
_WORK_PIXELS = 12_600_000
#: Upscaling small pictures stops at this size: beyond it zxing gets slow, not better.
_UPSCALE_PIXELS = 6_000_000
# Pillow opens a phone's multi-picture JPEG (format "MPO") through its JPEG opener.
_FILE_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF")

# Box labels and phones use Code128; Code39/93 and ITF appear on older labels, QR codes,
# DataMatrix and PDF417 on shop labels. EAN/UPC cannot hold 15 digits but a box's JAN
# code is one: reading it lets the reason say "no IMEI" rather than "no barcode".
_SYMBOLOGIES = zxingcpp.BarcodeFormats(
    [
        zxingcpp.BarcodeFormat.Code128,
        zxingcpp.BarcodeFormat.Code39,
        zxingcpp.BarcodeFormat.Code93,
        zxingcpp.BarcodeFormat.ITF,
        zxingcpp.BarcodeFormat.EANUPC,
        zxingcpp.BarcodeFormat.QRCode,
        zxingcpp.BarcodeFormat.MicroQRCode,
        zxingcpp.BarcodeFormat.DataMatrix,
        zxingcpp.BarcodeFormat.PDF417,
        zxingcpp.BarcodeFormat.Aztec,
    ]
)

# A QR code may hold several fields: "IMEI1:35…\nIMEI2:35…" or "IMEI 35… IMEI2 35…".
_FIELD_BREAK = re.compile(r"[\r\n;,|\t]+|(?<=\s)(?=IMEI|MEID|製造番号)")
# A field that names itself (after NFKC and upper-casing): its failure is worth telling.
_NAMED = re.compile(r"\A\s*(?:IMEI|MEID|製造番号)")
# Which slot a field names; the digit belongs to the label only when a separator follows
# (as in akarom.identity), and IMEISV names no slot.
_SLOT = re.compile(r"\A\s*IMEI(?!SV)(?:\s*([12])(?=[\s:=]))?")

# What Pillow raises for a file it cannot read; the list of its own fuzz tests
# (python-pillow/Pillow Tests/test_fuzzers.py). struct.error escapes a few plugins.
_UNREADABLE = (OSError, SyntaxError, ValueError, NotImplementedError, EOFError, struct.error)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One identity read from a barcode, as ``akarom.identity.parse`` understood it."""

    #: The canonical 15-digit IMEI (an IMEISV reduced to its IMEI) or 14-hex-digit MEID.
    imei: str
    kind: Kind
    #: zxing's name for the symbology: 'Code128', 'QRCode', 'DataMatrix', …
    format: str
    #: 'IMEI' or 'IMEI2' when the barcode's content says so; None otherwise.
    label: Label | None
    #: The decoded text (or the field of it) the identity came from.
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"imei": self.imei, "kind": self.kind, "format": self.format, "label": self.label}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A barcode that holds an IMEI-like number akarom refuses, and why."""

    text: str
    format: str
    #: The ``akarom.errors.InvalidImei`` code: 'checksum', 'length', 'characters', 'empty'.
    error: str

    def message(self, lang: Lang) -> str:
        return text(f"imei.{self.error}", lang)

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "format": self.format, "error": self.error}


@dataclass(frozen=True, slots=True)
class PhotoReading:
    """What a photo gave: the identities to offer, the refused ones, and a reason if none."""

    candidates: tuple[Candidate, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    #: Decoded texts that are not IMEIs (JAN codes, serial numbers, URLs).
    ignored: int = 0
    #: Why nothing is offered; None when ``candidates`` is not empty.
    reason: Reason | None = None

    @property
    def imeis(self) -> tuple[str, ...]:
        return tuple(candidate.imei for candidate in self.candidates)

    def message(self, lang: Lang) -> str | None:
        """What to tell the person when nothing was read (catalogue key ``photo.<reason>``)."""
        return None if self.reason is None else text(f"photo.{self.reason}", lang)

    def as_json(self) -> dict[str, Any]:
        return {
            "candidates": [candidate.as_json() for candidate in self.candidates],
            "rejected": [rejected.as_json() for rejected in self.rejected],
            "ignored": self.ignored,
            "reason": self.reason,
        }


def read_imeis(
    image: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    time_budget: float = 2.5,
) -> PhotoReading:
    """Read the IMEIs (and IMEISVs, MEIDs) in a photo's barcodes; never raises for bad bytes.

    ``max_pixels`` bounds the picture's size, checked from its header before decoding
    (decompression bombs); ``time_budget`` (seconds) bounds the extra passes after the
    first, which always runs.
    """
    started = time.monotonic()
    picture = _load(image, max_pixels)
    if isinstance(picture, str):
        return PhotoReading(reason=picture)
    found = _Found()
    for index, attempt in enumerate(_passes(picture)):
        if index and time.monotonic() - started > time_budget:
            break
        view, to_base = attempt()
        for code in _decode(view):
            found.add(code, to_base)
        # Two identities is all a phone has (IMEI and IMEI2, or IMEI and MEID). With one,
        # the second may be the one the carrier knows: keep looking, but only within a
        # quarter of the budget (every pass on a small picture; one more on a large one).
        count = found.candidate_count()
        if count >= 2 or (count and time.monotonic() - started > time_budget / 4):
            break
    return found.reading()


def _load(data: bytes, max_pixels: int) -> Image.Image | Reason:
    """The upright greyscale picture, or why there is none."""
    try:
        with Image.open(io.BytesIO(data), formats=_openers()) as opened:
            # Only the header has been read so far: refuse a bomb before decoding it.
            width, height = opened.size
            if width * height > max_pixels:
                return "too_large"
            if width * height > _WORK_PIXELS and opened.format in ("JPEG", "MPO"):
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale for a fraction of the work.
                scale = math.sqrt(width * height / _WORK_PIXELS)
                opened.draft("L", (int(width / scale), int(height / scale)))
            opened.load()
            upright = ImageOps.exif_transpose(opened)
            grey = _grey(upright)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS) fires inside open(), from the header.
        # The warning arrives here as an exception only where warnings are errors.
        return "too_large"
    except _UNREADABLE:
        return "unreadable"
    if grey.width * grey.height > _WORK_PIXELS:
        scale = math.sqrt(grey.width * grey.height / _WORK_PIXELS)
        size = (int(grey.width / scale), int(grey.height / scale))
        grey = grey.resize(size, Image.Resampling.BOX)
    return grey


@cache
def _openers() -> tuple[str, ...]:
    """The accepted formats this Pillow can open (AVIF only since Pillow 11.2).

    ``Image.open`` fails with KeyError, not "unreadable", on a format it does not know.
    """
    Image.init()
    return tuple(name for name in _FILE_FORMATS if name in Image.OPEN)


def _grey(picture: Image.Image) -> Image.Image:
    """Luminance, with transparent areas as white paper (a transparent PNG is black)."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, "white")
        return Image.alpha_composite(paper, rgba).convert("L")
    return picture.convert("L")


# Measured on generated labels: brings back bars under a Gaussian blur of up to ~2 px.
_SHARPEN = ImageFilter.UnsharpMask(radius=1, percent=250, threshold=0)

#: Maps a point of a view back to the upright picture's pixels.
_ToBase = Callable[[float, float], tuple[float, float]]
_Attempt = Callable[[], tuple[Image.Image, _ToBase]]


def _same(x: float, y: float) -> tuple[float, float]:
    return x, y


def _scaled(factor: float) -> _ToBase:
    return lambda x, y: (x * factor, y * factor)


def _passes(base: Image.Image) -> Iterator[_Attempt]:
    """The views to decode, cheapest first, each with its way back to ``base`` pixels.

    Each view is built only when its turn comes (the caller may stop before).
    """
    yield lambda: (base, _same)
    # Blur: edges sharpened back.
    yield lambda: (base.filter(_SHARPEN), _same)
    if base.width * base.height * 4 <= _UPSCALE_PIXELS:
        # A small or distant label (~1.5 px per bar): more pixels per bar, then sharpened.
        def enlarged() -> tuple[Image.Image, _ToBase]:
            big = base.resize((base.width * 2, base.height * 2), Image.Resampling.LANCZOS)
            big = big.filter(ImageFilter.UnsharpMask(radius=4, percent=250, threshold=0))
            return big, _scaled(0.5)

        yield enlarged
    # zxing's own try_invert misses light bars on a dark screen (seen with 3.1.1).
    yield lambda: (ImageOps.invert(base), _same)
    if min(base.size) >= 400:
        # Noise and JPEG blocks average out at half size.
        yield lambda: (base.reduce(2), _scaled(2.0))
    # zxing reads bars skewed up to ~20° from any multiple of 90° (measured with 3.1.1);
    # a copy turned by 45° covers the angles in between. Large pictures turn at half size.
    yield lambda: _turned(base, 45.0)


def _turned(base: Image.Image, degrees: float) -> tuple[Image.Image, _ToBase]:
    factor = 2.0 if base.width * base.height > _UPSCALE_PIXELS else 1.0
    source = base.reduce(2) if factor == 2.0 else base
    paper = int(
        sum(i * n for i, n in enumerate(source.histogram())) / max(1, source.width * source.height)
    )
    # Turning blurs a little: sharpen first (a photo blurred by ~1.5 px is read only so).
    source = source.filter(_SHARPEN)
    view = source.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    # Pillow turns anticlockwise about the centre; undo it about the same centres.
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    view_cx, view_cy = view.width / 2, view.height / 2
    source_cx, source_cy = source.width / 2, source.height / 2

    def to_base(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - view_cx, y - view_cy
        return (
            (source_cx + dx * cos - dy * sin) * factor,
            (source_cy + dx * sin + dy * cos) * factor,
        )

    return view, to_base


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str
    format: str
    centre: tuple[float, float]
    #: Unit vector along the barcode's reading direction, in base pixels.
    along: tuple[float, float]
    height: float


def _decode(view: Image.Image) -> list[tuple[str, str, zxingcpp.Position]]:
    # return_errors=True would say whether a barcode was seen but not decoded, but it
    # also changes what is decoded (zxing-cpp 3.1.1 then reports the failed read of a
    # row and drops a later good one): not used.
    codes = zxingcpp.read_barcodes(
        view, formats=_SYMBOLOGIES, try_rotate=True, try_downscale=True, try_invert=True
    )
    return [(code.text, code.format.name, code.position) for code in codes if code.valid]


@dataclass
class _Found:
    """Everything decoded so far, merged over passes (the same text counts once)."""

    codes: dict[str, _Decoded] = field(default_factory=dict)

    def add(self, code: tuple[str, str, zxingcpp.Position], to_base: _ToBase) -> None:
        content, symbology, position = code
        if content in self.codes:
            return
        corners = [
            to_base(point.x, point.y)
            for point in (
                position.top_left,
                position.top_right,
                position.bottom_right,
                position.bottom_left,
            )
        ]
        (x0, y0), (x1, y1), _, (x3, y3) = corners
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        self.codes[content] = _Decoded(
            text=content,
            format=symbology,
            centre=(sum(x for x, _ in corners) / 4, sum(y for _, y in corners) / 4),
            along=((x1 - x0) / length, (y1 - y0) / length),
            height=math.hypot(x3 - x0, y3 - y0),
        )

    def candidate_count(self) -> int:
        return len({c.imei for code in self.codes.values() for c in _interpret(code)[0]})

    def reading(self) -> PhotoReading:
        if not self.codes:
            return PhotoReading(reason="no_barcode")
        candidates: list[Candidate] = []
        rejected: list[Rejected] = []
        ignored = 0
        for code in _reading_order(list(self.codes.values())):
            offered, refused = _interpret(code)
            candidates.extend(offered)
            rejected.extend(refused)
            ignored += not offered and not refused
        unique = _unique(candidates)
        return PhotoReading(
            candidates=unique,
            rejected=tuple(rejected),
            ignored=ignored,
            reason=None if unique else "no_imei",
        )


def _interpret(code: _Decoded) -> tuple[list[Candidate], list[Rejected]]:
    """The identities a decoded text holds, and the IMEI-like fields akarom refuses."""
    offered: list[Candidate] = []
    refused: list[Rejected] = []
    content = unicodedata.normalize("NFKC", code.text).upper()
    for raw_field in _FIELD_BREAK.split(content):
        part = raw_field.strip()
        if not part:
            continue
        try:
            identity = parse(part)
        except InvalidImei as err:
            if _NAMED.match(part) or _looks_like_imei(part):
                refused.append(Rejected(part, code.format, err.code))
            continue
        offered.append(_candidate(identity, code.format, part))
    return offered, refused


def _looks_like_imei(part: str) -> bool:
    """15 digits: an IMEI with a wrong check digit, not some other number."""
    digits = compact(part)
    return len(digits) == 15 and digits.isdecimal()


def _candidate(identity: Identity, symbology: str, part: str) -> Candidate:
    slot = _SLOT.match(part)
    label: Label | None = None
    if slot:
        label = "IMEI2" if slot.group(1) == "2" else "IMEI"
    return Candidate(identity.value, identity.kind, symbology, label, part)


def _reading_order(codes: list[_Decoded]) -> list[_Decoded]:
    """Top to bottom, then left to right, in the frame of the label itself.

    The label's "right" is the mean reading direction of its barcodes, and its "down"
    that direction turned 90° clockwise: a label photographed sideways or upside down
    reads in the same order as an upright one.
    """
    sum_x = sum(code.along[0] for code in codes)
    sum_y = sum(code.along[1] for code in codes)
    norm = math.hypot(sum_x, sum_y)
    right = (sum_x / norm, sum_y / norm) if norm > 1e-6 else (1.0, 0.0)
    down = (-right[1], right[0])

    def project(code: _Decoded, axis: tuple[float, float]) -> float:
        return code.centre[0] * axis[0] + code.centre[1] * axis[1]

    by_row = sorted(codes, key=lambda code: project(code, down))
    # Codes whose centres are within half a bar height of each other share a row.
    heights = sorted(code.height for code in codes)
    tolerance = max(heights[len(heights) // 2] / 2, 4.0)
    ordered: list[_Decoded] = []
    row: list[_Decoded] = []
    for code in by_row:
        if row and project(code, down) - project(row[0], down) > tolerance:
            ordered.extend(sorted(row, key=lambda c: project(c, right)))
            row = []
        row.append(code)
    ordered.extend(sorted(row, key=lambda c: project(c, right)))
    return ordered


def _unique(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """One candidate per identity, at its first place; a label found on any copy is kept."""
    first: dict[str, Candidate] = {}
    for candidate in candidates:
        seen = first.get(candidate.imei)
        if seen is None:
            first[candidate.imei] = candidate
        elif seen.label is None and candidate.label is not None:
            first[candidate.imei] = Candidate(
                seen.imei, seen.kind, seen.format, candidate.label, seen.text
            )
    return tuple(first.values())
