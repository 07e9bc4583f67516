"""A1111 "stealth" metadata: infotext hidden in the least significant bits of the pixels.

The stealth-pnginfo extension writes, column by column (x outer, y inner),
a signature (``stealth_pnginfo``/``stealth_pngcomp`` in the alpha channel,
``stealth_rgbinfo``/``stealth_rgbcomp`` in R, G, B), a 32-bit bit count and
the text, gzip-compressed for the ``comp`` forms.  Reading it decodes the
pixels, so it is opt-in (``import --stealth``) and tried only when an image
has no metadata chunk at all.
"""

from __future__ import annotations

import io
import warnings
import zlib

from kino_catalog.importers.container import MAX_TEXT_BYTES

__all__ = ["read_stealth"]

_SIGNATURES = {
    b"stealth_pnginfo": ("A", False),
    b"stealth_pngcomp": ("A", True),
    b"stealth_rgbinfo": ("RGB", False),
    b"stealth_rgbcomp": ("RGB", True),
}
_SIGNATURE_BITS = 15 * 8
_LSB = bytes(0x30 | (value & 1) for value in range(256))  # byte -> b"0" / b"1"


def read_stealth(data: bytes) -> str | None:
    """The hidden infotext of an image, or None when it carries none.

    Raises:
        ValueError: a signature is there but what follows is damaged.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return None
    with image:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        # Column-major order: the transposed image's rows are the columns.
        columns = image.transpose(Image.Transpose.TRANSPOSE)
        found = []
        if image.mode == "RGBA":
            found.append(("A", columns.getchannel("A").tobytes().translate(_LSB)))
        found.append(("RGB", columns.convert("RGB").tobytes().translate(_LSB)))
    for channels, bits in found:
        signature = _to_bytes(bits[:_SIGNATURE_BITS])
        kind = _SIGNATURES.get(signature)
        if kind is None or kind[0] != channels:
            continue
        length_end = _SIGNATURE_BITS + 32
        count = int(bits[_SIGNATURE_BITS:length_end], 2)
        if count % 8 or count > len(bits) - length_end or count > MAX_TEXT_BYTES * 8:
            raise ValueError(f"stealth metadata: bad length {count} bits")
        payload = _to_bytes(bits[length_end : length_end + count])
        if kind[1]:
            try:  # bounded: a few KB of gzip must not become gigabytes
                payload = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                    payload, MAX_TEXT_BYTES + 1
                )
            except zlib.error as exc:
                raise ValueError(f"stealth metadata: damaged gzip data ({exc})") from exc
        return payload.decode("utf-8", errors="replace")
    return None


def _to_bytes(bits: bytes) -> bytes:
    if not bits:
        return b""
    return int(bits, 2).to_bytes(len(bits) // 8, "big")
