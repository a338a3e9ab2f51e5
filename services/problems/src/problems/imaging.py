"""Photo checks and re-encoding with Pillow: by content (not name), EXIF (GPS!) stripped, orientation applied."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 50_000_000


class BadImage(Exception):
    """Not a JPEG/PNG/WebP picture we can read; ``str()`` is a Russian message for the person."""


@dataclass(frozen=True)
class Processed:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    """Always JPEG."""


def process(raw: bytes, *, max_side: int, thumbnail_side: int) -> Processed:
    """Check ``raw`` is a readable JPEG/PNG/WebP, re-encode it without metadata, and make a thumbnail."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=list(FORMATS)) as probe:
                probe.verify()
            image = Image.open(io.BytesIO(raw), formats=list(FORMATS))
            if image.width * image.height > MAX_PIXELS:
                raise BadImage("Слишком большое изображение.")
            image.load()
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise BadImage("Файл не похож на фотографию: принимаются JPEG, PNG и WebP.") from error
        except (OSError, SyntaxError, ValueError) as error:
            raise BadImage("Файл изображения повреждён.") from error
    source_format = image.format or "JPEG"
    content_type, extension = FORMATS[source_format]
    upright = ImageOps.exif_transpose(image)  # applies Orientation, then we drop all metadata
    upright.thumbnail((max_side, max_side))
    if source_format == "JPEG":
        upright = upright.convert("RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA"):
        upright = upright.convert("RGBA")
    clean = _strip(upright)
    out = io.BytesIO()
    if source_format == "JPEG":
        clean.save(out, "JPEG", quality=85, optimize=True)
    elif source_format == "PNG":
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "WEBP", quality=85)
    thumb = clean.copy()
    thumb.thumbnail((thumbnail_side, thumbnail_side))
    thumb_out = io.BytesIO()
    _flatten(thumb).save(thumb_out, "JPEG", quality=80, optimize=True)
    return Processed(out.getvalue(), content_type, extension, clean.width, clean.height, thumb_out.getvalue())


def _strip(image: Image.Image) -> Image.Image:
    """A copy with the pixels only: no EXIF, XMP, ICC text chunks or comments."""
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    return clean


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        return background
    return image.convert("RGB")
