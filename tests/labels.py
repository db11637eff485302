"""Photos of IMEI barcodes, generated: box labels and ``*#06#`` screens.

A test helper for the barcode reader (``akarom.services.barcode``) and for the browser
tests of the photo upload. Every image is drawn from scratch with Pillow and zxing-cpp
(``zxingcpp.create_barcode`` → ``Barcode.to_image``), so no real device's number and no
binary fixture lives in the repository. Everything is deterministic: the same arguments
give the same bytes (noise comes from a seeded generator, the font is Pillow's bundled
one).

>>> from PIL import Image
>>> import io
>>> Image.open(io.BytesIO(box_label(["352099001761481"]))).format
'PNG'
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Sequence

import zxingcpp
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

__all__ = [
    "box_label",
    "encode",
    "imei_screen",
    "no_barcode_photo",
    "png_header_only",
    "qr_label",
]

#: The grey of a desk or a shop counter behind the label, like a photo.
_BACKGROUND = (128, 126, 122)
_INK = (20, 20, 20)
#: Pixels per barcode module on a label at scale 1: a phone photo of a box label held
#: at a reading distance gives about this many.
_MODULE_PX = 3
_SEED = 20260106


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow >= 10.1 bundles a FreeType font: the same glyphs on every machine.
    return ImageFont.load_default(size=size)


def _barcode(content: str, symbology: zxingcpp.BarcodeFormat, module_px: int) -> Image.Image:
    code = zxingcpp.create_barcode(content, symbology)
    bitmap = code.to_image(scale=module_px, add_quiet_zones=True)
    height, width = bitmap.shape[0], bitmap.shape[1]
    return Image.frombytes("L", (width, height), bytes(memoryview(bitmap).cast("B")))


def _slot_label(index: int) -> str:
    """What box labels print above each barcode: IMEI, then IMEI2 (eSIM/dual SIM)."""
    return "IMEI" if index == 0 else f"IMEI{index + 1}"


def _spaced(imei: str) -> str:
    return f"{imei[:2]} {imei[2:8]} {imei[8:14]} {imei[14:]}" if len(imei) == 15 else imei


def _label_card(rows: Sequence[tuple[str, Image.Image]], *, header: str) -> Image.Image:
    """A white label: a header line, then per row its caption and its code."""
    caption_font, header_font = _font(22), _font(26)
    margin, gap = 28, 14
    width = max((code.width for _, code in rows), default=0) + 2 * margin
    width = max(width, 420)
    height = margin + 40 + sum(30 + code.height + gap for _, code in rows) + margin
    card = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(card)
    draw.text((margin, margin), header, fill=_INK, font=header_font)
    y = margin + 40
    for caption, code in rows:
        draw.text((margin, y), caption, fill=_INK, font=caption_font)
        y += 30
        card.paste(code.convert("RGB"), (margin, y))
        y += code.height + gap
    draw.rectangle((0, 0, width - 1, height - 1), outline=(200, 200, 200), width=2)
    return card


def _photo(
    card: Image.Image,
    *,
    rotate_deg: float,
    blur: float,
    scale: float,
    noise: bool,
    seed: int,
) -> Image.Image:
    """Put ``card`` on a grey background, as a hand-held photo shows it."""
    rng = random.Random(seed)
    pad = max(card.width, card.height) // 4 + 40
    photo = Image.new("RGB", (card.width + 2 * pad, card.height + 2 * pad), _BACKGROUND)
    # A slight, deterministic shadow and off-centre placement make it less synthetic.
    dx, dy = rng.randint(-pad // 3, pad // 3), rng.randint(-pad // 3, pad // 3)
    shadow = Image.new("RGB", card.size, (95, 94, 90))
    photo.paste(shadow, (pad + dx + 6, pad + dy + 6))
    photo.paste(card, (pad + dx, pad + dy))
    if rotate_deg:
        photo = photo.rotate(
            rotate_deg, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=_BACKGROUND
        )
    if noise:
        # Image.effect_noise draws from C's rand(), which cannot be seeded: the grain
        # comes from our own generator, for determinism.
        grain = Image.frombytes("L", photo.size, rng.randbytes(photo.width * photo.height))
        photo = Image.blend(photo, Image.merge("RGB", (grain, grain, grain)), 0.12)
    if blur:
        photo = photo.filter(ImageFilter.GaussianBlur(blur))
    if scale != 1.0:
        size = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
        photo = photo.resize(size, Image.Resampling.LANCZOS)
    return photo


def encode(
    image: Image.Image, *, jpeg_quality: int | None = None, exif_orientation: int | None = None
) -> bytes:
    """PNG bytes, or JPEG at ``jpeg_quality``; with an EXIF Orientation tag if given.

    ``exif_orientation`` stores the pixels turned the way a phone's sensor saw them and
    the tag that tells viewers how to turn them upright (6: turn 90° clockwise, 8: 90°
    anticlockwise, 3: 180°), as phone cameras do.
    """
    exif = Image.Exif()
    if exif_orientation is not None:
        undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}
        undo[8] = Image.Transpose.ROTATE_270
        image = image.transpose(undo[exif_orientation])
        exif[0x0112] = exif_orientation
    out = io.BytesIO()
    if jpeg_quality is None:
        image.save(out, format="PNG", exif=exif)
    else:
        image.convert("RGB").save(out, format="JPEG", quality=jpeg_quality, exif=exif)
    return out.getvalue()


def box_label(
    imeis: Sequence[str],
    *,
    rotate_deg: float = 0,
    blur: float = 0.0,
    scale: float = 1.0,
    noise: bool = False,
    jpeg_quality: int | None = None,
    exif_orientation: int | None = None,
    extra_codes: Sequence[tuple[str, str]] = (),
    seed: int = _SEED,
) -> bytes:
    """A photo of a phone box label: 'IMEI' / 'IMEI2' captions, one Code128 per IMEI.

    The values are drawn as given, so a wrong check digit makes a barcode with a bad
    checksum. ``extra_codes`` adds other rows, as (caption, content), such as the serial
    number or the JAN code a box also carries (content of 12-13 digits is drawn as
    EAN-13, anything else as Code128). The label is ~520 px wide at ``scale=1``
    (3 px per bar module); ``scale=0.6`` gives a label ~310 px wide (1.8 px per module).
    """
    rows = [
        (
            f"{_slot_label(i)}  {_spaced(imei)}",
            _barcode(imei, zxingcpp.BarcodeFormat.Code128, _MODULE_PX),
        )
        for i, imei in enumerate(imeis)
    ]
    for caption, content in extra_codes:
        symbology = (
            zxingcpp.BarcodeFormat.EAN13
            if content.isdecimal() and len(content) in (12, 13)
            else zxingcpp.BarcodeFormat.Code128
        )
        rows.append((caption, _barcode(content, symbology, _MODULE_PX)))
    card = _label_card(rows, header="Model: AKR-01  128GB")
    photo = _photo(card, rotate_deg=rotate_deg, blur=blur, scale=scale, noise=noise, seed=seed)
    return encode(photo, jpeg_quality=jpeg_quality, exif_orientation=exif_orientation)


def qr_label(
    content: str,
    *,
    rotate_deg: float = 0,
    scale: float = 1.0,
    jpeg_quality: int | None = None,
) -> bytes:
    """A photo of a label with one QR code holding ``content`` (e.g. ``"IMEI:35…"``)."""
    code = _barcode(content, zxingcpp.BarcodeFormat.QRCode, 6)
    card = _label_card([("Scan me", code)], header="Device info")
    photo = _photo(card, rotate_deg=rotate_deg, blur=0.0, scale=scale, noise=False, seed=_SEED)
    return encode(photo, jpeg_quality=jpeg_quality)


def imei_screen(
    imeis: Sequence[str],
    *,
    serial: str | None = "R58N12ABCDE",
    inverted: bool = False,
    jpeg_quality: int | None = None,
) -> bytes:
    """A screenshot like the ``*#06#`` dialog: dark screen, 'IMEI1'/'IMEI2', barcodes.

    Android phones show each IMEI as text with a Code128 under it, and the serial number
    last (``serial``; None leaves it out). The barcodes are black on a white strip, as
    phones draw them; ``inverted=True`` draws light bars on the dark screen instead.
    """
    width, height = 720, 1280
    screen = Image.new("RGB", (width, height), (18, 18, 22))
    draw = ImageDraw.Draw(screen)
    title_font, text_font = _font(40), _font(30)
    draw.text((60, 120), "*#06#", fill=(235, 235, 235), font=title_font)
    draw.text((60, 200), "Device info", fill=(160, 160, 170), font=text_font)
    rows = [(f"IMEI{i + 1}", imei) for i, imei in enumerate(imeis)]
    if serial is not None:
        rows.append(("S/N", serial))
    y = 280
    for caption, content in rows:
        draw.text((60, y), caption, fill=(160, 160, 170), font=text_font)
        draw.text((60, y + 40), content, fill=(235, 235, 235), font=text_font)
        code = _barcode(content, zxingcpp.BarcodeFormat.Code128, 3)
        if inverted:
            # Light bars straight on the dark screen (18 → background, 235 → bars).
            code = ImageOps.invert(code).point(lambda v: 18 + v * 217 // 255)
        screen.paste(code.convert("RGB"), (60, y + 90))
        y += 90 + code.height + 50
    return encode(screen, jpeg_quality=jpeg_quality)


def no_barcode_photo(*, jpeg_quality: int | None = 85) -> bytes:
    """A photo of a label with text but no barcode: what a blurry or wrong photo gives."""
    card = Image.new("RGB", (460, 220), "white")
    draw = ImageDraw.Draw(card)
    draw.text((28, 28), "Model: AKR-01", fill=_INK, font=_font(26))
    draw.text((28, 90), "IMEI  35 209900 176148 1", fill=_INK, font=_font(22))
    photo = _photo(card, rotate_deg=0, blur=0.0, scale=1.0, noise=True, seed=_SEED)
    return encode(photo, jpeg_quality=jpeg_quality)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels, with (almost) no pixels.

    A decompression bomb's first bytes: a reader must refuse it from the header alone,
    before it allocates or decodes anything.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
