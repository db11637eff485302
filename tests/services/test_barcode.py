"""Reading IMEIs from generated photos (tests/labels.py): what decodes, what is refused."""

from __future__ import annotations

import io
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from stdnum import luhn

from akarom.services.barcode import PhotoReading, read_imeis
from akarom.texts import LANGS, text
from tests.labels import (
    box_label,
    encode,
    imei_screen,
    no_barcode_photo,
    png_header_only,
    qr_label,
)

IMEI = "352099001761481"
IMEI2 = "356938035643809"
BAD_CHECKSUM = "352099001761482"


def _offered(reading: PhotoReading) -> list[tuple[str, str, str | None]]:
    return [(c.imei, c.kind, c.label) for c in reading.candidates]


@pytest.mark.parametrize(
    "photo",
    [
        pytest.param({}, id="straight"),
        pytest.param({"rotate_deg": 7}, id="rotated-7"),
        pytest.param({"rotate_deg": 90}, id="rotated-90"),
        pytest.param({"rotate_deg": 180}, id="upside-down"),
        pytest.param({"rotate_deg": -33}, id="rotated-33"),
        pytest.param({"blur": 2.0}, id="blurred"),
        pytest.param({"rotate_deg": 60, "blur": 1.5, "jpeg_quality": 80}, id="rotated-60-blurred"),
        pytest.param({"scale": 0.6}, id="small-label-310px-wide"),
        pytest.param({"noise": True, "jpeg_quality": 60}, id="noisy-jpeg"),
        pytest.param({"exif_orientation": 6, "jpeg_quality": 85}, id="exif-rotated-phone-photo"),
        pytest.param({"exif_orientation": 3}, id="exif-upside-down"),
    ],
)
def test_a_box_label_gives_imei_then_imei2(photo: dict[str, object]) -> None:
    reading = read_imeis(box_label([IMEI, IMEI2], **photo))  # type: ignore[arg-type]
    assert reading.imeis == (IMEI, IMEI2)
    assert reading.reason is None
    assert {c.format for c in reading.candidates} == {"Code128"}


def test_a_06_screen_gives_both_imeis_and_counts_the_serial_number() -> None:
    reading = read_imeis(imei_screen([IMEI, IMEI2]))
    assert reading.imeis == (IMEI, IMEI2)
    assert reading.ignored == 1  # the S/N barcode


def test_light_bars_on_a_dark_screen_are_read() -> None:
    reading = read_imeis(imei_screen([IMEI, IMEI2], inverted=True, serial=None))
    assert reading.imeis == (IMEI, IMEI2)


def test_a_qr_code_gives_labelled_imeis() -> None:
    reading = read_imeis(qr_label(f"IMEI1: {IMEI}\nIMEI2: {IMEI2}"))
    assert _offered(reading) == [(IMEI, "imei", "IMEI"), (IMEI2, "imei", "IMEI2")]
    assert {c.format for c in reading.candidates} == {"QRCode"}


def test_a_qr_code_with_a_bare_imei() -> None:
    assert _offered(read_imeis(qr_label(IMEI))) == [(IMEI, "imei", None)]


def test_a_bad_check_digit_is_not_offered_but_said() -> None:
    reading = read_imeis(box_label([BAD_CHECKSUM]))
    assert reading.candidates == ()
    assert reading.reason == "no_imei"
    assert [(r.text, r.error) for r in reading.rejected] == [(BAD_CHECKSUM, "checksum")]
    assert reading.rejected[0].message("en") == text("imei.checksum", "en")


def test_a_bad_check_digit_next_to_a_good_imei() -> None:
    reading = read_imeis(box_label([IMEI, BAD_CHECKSUM]))
    assert reading.imeis == (IMEI,)
    assert [r.error for r in reading.rejected] == ["checksum"]


def test_an_imeisv_is_offered_as_the_imei_it_names() -> None:
    reading = read_imeis(box_label(["3568680000414120"]))
    assert _offered(reading) == [("356868000041418", "imeisv", None)]


def test_a_meid_is_offered_as_a_meid() -> None:
    assert _offered(read_imeis(box_label(["A0000012345678"]))) == [("A0000012345678", "meid", None)]


def test_the_same_imei_twice_is_offered_once() -> None:
    reading = read_imeis(box_label([IMEI], extra_codes=[("QR", f"IMEI2 {IMEI}")]))
    assert reading.imeis == (IMEI,)


def test_other_barcodes_are_counted_not_offered() -> None:
    reading = read_imeis(
        box_label([IMEI], extra_codes=[("JAN", "4901234567894"), ("S/N", "F2LXK0ABCDEF")])
    )
    assert reading.imeis == (IMEI,)
    assert reading.ignored == 2
    assert reading.rejected == ()


def test_barcodes_without_an_imei() -> None:
    reading = read_imeis(box_label([], extra_codes=[("JAN", "4901234567894")]))
    assert (reading.reason, reading.ignored, reading.candidates) == ("no_imei", 1, ())


def test_a_photo_without_barcodes() -> None:
    reading = read_imeis(no_barcode_photo())
    assert reading == PhotoReading(reason="no_barcode")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"%PDF-1.7 not a picture", id="pdf"),
        pytest.param(box_label([IMEI], jpeg_quality=85)[:2000], id="truncated-jpeg"),
        pytest.param(b"\x00\x00\x00\x18ftypheic" + bytes(64), id="heic"),
        pytest.param(b"GIF89a" + bytes(32), id="gif-is-not-accepted"),
    ],
)
def test_what_is_not_a_readable_picture(data: bytes) -> None:
    assert read_imeis(data) == PhotoReading(reason="unreadable")


def test_a_huge_header_is_refused_before_decoding() -> None:
    started = time.perf_counter()
    # Beyond Pillow's own bomb limit (MAX_IMAGE_PIXELS): refused inside Image.open.
    assert read_imeis(png_header_only(100_000, 100_000)).reason == "too_large"
    # Within Pillow's limit but above ours: refused from the header. The file holds 64
    # bytes of pixels; had it been decoded, it would be "unreadable" (truncated).
    assert read_imeis(png_header_only(10_000, 6_000)).reason == "too_large"
    assert read_imeis(png_header_only(2_000, 2_000), max_pixels=1_000_000).reason == "too_large"
    assert read_imeis(png_header_only(900, 900), max_pixels=1_000_000).reason == "unreadable"
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("file_format", ["WEBP", "AVIF"])
def test_other_accepted_formats(file_format: str) -> None:
    with Image.open(io.BytesIO(box_label([IMEI]))) as photo:
        out = io.BytesIO()
        photo.save(out, format=file_format, quality=90)
    assert read_imeis(out.getvalue()).imeis == (IMEI,)


def test_a_transparent_png_is_read_as_on_white_paper() -> None:
    with Image.open(io.BytesIO(qr_label(IMEI))) as photo:
        grey = photo.convert("L")
    # Ink opaque, paper transparent (and black underneath): read as black on white.
    transparent = Image.merge(
        "LA", (Image.new("L", grey.size, 0), grey.point(lambda v: 255 if v < 128 else 0))
    )
    assert read_imeis(encode(transparent)).imeis == (IMEI,)


def test_every_reason_has_a_message() -> None:
    for reason in ("unreadable", "too_large", "no_barcode", "no_imei"):
        for lang in LANGS:
            assert PhotoReading(reason=reason).message(lang)  # type: ignore[arg-type]
    assert PhotoReading().message("ja") is None


def test_as_json() -> None:
    assert read_imeis(box_label([IMEI])).as_json() == {
        "candidates": [{"imei": IMEI, "kind": "imei", "format": "Code128", "label": None}],
        "rejected": [],
        "ignored": 0,
        "reason": None,
    }


@st.composite
def imeis(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=14, max_size=14))
    return body + luhn.calc_check_digit(body)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(imei=imeis())
def test_a_straight_label_decodes_to_exactly_its_imei(imei: str) -> None:
    reading = read_imeis(box_label([imei]))
    assert _offered(reading) == [(imei, "imei", None)]


def test_the_generated_photos_are_deterministic() -> None:
    assert box_label([IMEI], noise=True, rotate_deg=7, jpeg_quality=80) == box_label(
        [IMEI], noise=True, rotate_deg=7, jpeg_quality=80
    )
    assert imei_screen([IMEI, IMEI2]) == imei_screen([IMEI, IMEI2])
