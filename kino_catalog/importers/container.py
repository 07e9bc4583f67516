"""Reading the metadata entries embedded in an image file, never decoding its pixels.

PNG is read by its chunks (text chunks may sit before or after IDAT, and a
reader that stops at IDAT misses them; Pillow's ``getexif`` on a PNG decodes
the pixels), so a small chunk walker does it.  JPEG and WebP go through
Pillow, whose ``Image.open`` parses only the headers, and its EXIF reader.
The result is a flat ``{name: text}`` map: ``parameters``, ``prompt``,
``Comment``, ``EXIF.UserComment``, ... as the saving tool named them.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import Any

from kino_catalog.sidecar.limits import MAX_IMPORTED_TEXT_BYTES

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_BYTES",
    "MAX_TEXT_BYTES",
    "Container",
    "decode_user_comment",
    "read_container",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
#: The whole file is read once (it is hashed anyway); beyond this it is refused.
MAX_IMAGE_BYTES = 512 * 1024 * 1024
#: A metadata text longer than this is refused before it is decompressed or decoded.
MAX_TEXT_BYTES = MAX_IMPORTED_TEXT_BYTES

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
# EXIF tags whose text may carry generation data (ImageDescription, Make, Model,
# Software, UserComment, XPComment) and the Exif sub-IFD pointer.
_EXIF_TEXT_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software"}
_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769


@dataclass
class Container:
    """What an image file holds besides its pixels."""

    kind: str  # "PNG", "JPEG", "WEBP"
    width: int | None = None
    height: int | None = None
    has_alpha: bool = False
    entries: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # damage met while reading


def read_container(data: bytes) -> Container:
    """Read the metadata entries of an image given as bytes.

    Never raises for damaged input: what could be read is returned and the
    damage described in ``problems``.

    Raises:
        ValueError: the bytes are not a PNG, JPEG or WebP image.
    """
    if data.startswith(_PNG_SIGNATURE):
        return _read_png(data)
    if data.startswith(b"\xff\xd8") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return _read_with_pillow(data)
    raise ValueError("not a PNG, JPEG or WebP file")


# ---------------------------------------------------------------- PNG


def _read_png(data: bytes) -> Container:
    box = Container("PNG")
    pos, end = len(_PNG_SIGNATURE), len(data)
    while pos < end:
        if pos + 8 > end:
            box.problems.append("truncated PNG (cut inside a chunk header)")
            break
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = pos + 8
        if body + length + 4 > end:
            box.problems.append(f"truncated PNG (cut inside a {_name(kind)} chunk)")
            break
        if kind == b"IHDR" and length >= 13:
            box.width, box.height, _, color = struct.unpack_from(">IIBB", data, body)
            box.has_alpha = color in (4, 6)
        elif kind == b"tRNS":
            box.has_alpha = True
        elif kind in _TEXT_CHUNKS:
            _text_chunk(box, kind, data[body : body + length])
        elif kind == b"eXIf":
            _exif_entries(box, data[body : body + length])
        elif kind == b"IEND":
            break
        pos = body + length + 4  # past the data and the CRC
    return box


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


def _text_chunk(box: Container, kind: bytes, chunk: bytes) -> None:
    keyword, sep, rest = chunk.partition(b"\0")
    if not sep:
        box.problems.append(f"damaged {_name(kind)} chunk (no keyword)")
        return
    key = keyword.decode("latin-1")
    if len(rest) > MAX_TEXT_BYTES:
        box.problems.append(_too_big(kind, key, len(rest)))
        return
    try:
        if kind == b"tEXt":
            box.entries[key] = _decode_text(rest)
        elif kind == b"zTXt":
            box.entries[key] = _decode_text(_inflate(rest[1:], kind, key))
        else:  # iTXt: flag, method, language\0, translated keyword\0, UTF-8 text
            if len(rest) < 2:
                raise ValueError("damaged iTXt chunk")
            is_compressed = rest[0] == 1
            _, _, rest = rest[2:].partition(b"\0")
            _, _, text = rest.partition(b"\0")
            if is_compressed:
                text = _inflate(text, kind, key)
            box.entries[key] = text.decode("utf-8", errors="replace")
    except ValueError as exc:
        box.problems.append(f"{_name(kind)} {key!r}: {exc}")


def _too_big(kind: bytes, key: str, size: int) -> str:
    return (
        f"{_name(kind)} chunk {key!r} is {size / 1e6:.1f} MB, over the "
        f"{MAX_TEXT_BYTES // 1024} KiB limit of an imported metadata text"
    )


def _inflate(payload: bytes, kind: bytes, key: str) -> bytes:
    """Decompress at most MAX_TEXT_BYTES + 1 bytes: a zip bomb stops there."""
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(payload, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"damaged compressed text ({exc})") from exc
    if len(text) > MAX_TEXT_BYTES:
        raise ValueError(_too_big(kind, key, len(text)).split(": ", 1)[-1])
    return text


def _decode_text(raw: bytes) -> str:
    """tEXt is Latin-1 by the PNG standard, but A1111-alikes write UTF-8 bytes there."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


# ---------------------------------------------------------------- JPEG / WebP


def _read_with_pillow(data: bytes) -> Container:
    from PIL import Image  # Pillow loads only for JPEG/WebP, and lazily: no pixels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncated or odd headers: reported below
        try:
            image = Image.open(io.BytesIO(data))
        except (
            OSError,
            SyntaxError,
            ValueError,
            struct.error,
            Image.DecompressionBombError,
        ) as exc:
            box = Container("JPEG" if data.startswith(b"\xff\xd8") else "WEBP")
            box.problems.append(f"cannot read the image header: {exc}")
            return box
        with image:
            box = Container(str(image.format), image.width, image.height)
            box.has_alpha = image.mode in ("RGBA", "LA", "PA")
            info: dict[Any, Any] = dict(image.info)
    comment = info.get("comment")
    if isinstance(comment, bytes) and comment.strip():
        box.entries["JPEG.Comment"] = _decode_text(comment)
    exif = info.get("exif")
    if isinstance(exif, bytes) and exif:
        _exif_entries(box, exif)
    return box


def _exif_entries(box: Container, exif: bytes) -> None:
    from PIL import Image

    reader = Image.Exif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            reader.load(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
            ifd0 = dict(reader.items())
            sub = dict(reader.get_ifd(_EXIF_IFD)) if _EXIF_IFD in ifd0 else {}
        except Exception as exc:  # Pillow's TIFF reader raises anything on garbage
            box.problems.append(f"broken EXIF: {type(exc).__name__}: {exc}".rstrip(": "))
            return
    # Pillow skips what it cannot reach (an IFD offset past the end) silently.
    if not ifd0:
        box.problems.append("broken EXIF: no readable IFD")
        return
    if _EXIF_IFD in ifd0 and not sub:
        box.problems.append("broken EXIF: the Exif IFD cannot be read")
    for tag, name in _EXIF_TEXT_TAGS.items():
        text = _exif_text(ifd0.get(tag))
        if text:
            box.entries[f"EXIF.{name}"] = text
    for where, tags in (("EXIF.UserComment", sub), ("EXIF.UserComment(IFD0)", ifd0)):
        text = decode_user_comment(tags.get(_USER_COMMENT))
        if text:
            box.entries[where] = text


def _exif_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = _decode_text(value.rstrip(b"\0"))
    if isinstance(value, str):
        value = value.rstrip("\0")
        return value if value.strip() else None
    return None


def decode_user_comment(value: Any) -> str | None:
    """An EXIF UserComment as text: its 8-byte charset header, then the payload.

    ``UNICODE`` payloads are UTF-16 of either byte order whatever the TIFF
    order says (A1111 via piexif writes big-endian into little-endian files),
    so the order is read from a BOM or from where the zero bytes of ASCII
    characters fall.  Tools that write a plain string (SaveImagePlus) come
    through Pillow as ``str`` already.
    """
    if isinstance(value, str):
        return value.rstrip("\0") or None
    if not isinstance(value, bytes) or not value:
        return None
    header, payload = value[:8], value[8:]
    if header == b"UNICODE\0":
        text = _utf16(payload)
    elif header in (b"ASCII\0\0\0", b"\0" * 8):
        text = _decode_text(payload)
    elif header.startswith(b"JIS"):
        text = payload.decode("shift_jis", errors="replace")
    else:  # no header at all
        text = _decode_text(value)
    text = text.rstrip("\0")
    return text if text.strip() else None


def _utf16(payload: bytes) -> str:
    if payload[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return payload.decode("utf-16", errors="replace")
    sample = payload[:2000]
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    codec = "utf-16-be" if zeros_even >= zeros_odd else "utf-16-le"
    return payload[: len(payload) // 2 * 2].decode(codec, errors="replace")
