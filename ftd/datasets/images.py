"""What an inline image must be for OpenAI's vision fine-tuning: JPEG, PNG or WEBP, under 10 MiB.

A ``data:`` URL is the only image the validator can see offline, so it is
checked fully: its base64 must decode, and its bytes must be the image type the
URL claims (checked by their signature), because a file upload rejected for one
bad image costs the whole run. Images behind http(s) URLs are fetched by the
provider, and only their spelling is checked.
"""

from __future__ import annotations

import binascii
import re

MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Media type -> the format's name, for the types OpenAI's vision guide lists.
ACCEPTED = {"jpeg": "JPEG", "jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
_HEADER_RE = re.compile(r"data:image/([A-Za-z0-9.+-]+)((?:;[^;,]*)*)")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def image_format(data: bytes) -> str | None:
    """The image format ``data`` starts with, by its signature, or None when unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def data_url_problem(url: str) -> str | None:
    """Why OpenAI would refuse the image of a ``data:`` URL, or None when it would take it."""
    header, comma, payload = url.partition(",")
    match = _HEADER_RE.fullmatch(header)
    if not comma or match is None:
        return "must be a data URL of the form data:image/png;base64,..."
    kind = match.group(1).lower()
    if "base64" not in match.group(2).lower().split(";"):
        return f"must be base64-encoded (data:image/{kind};base64,...)"
    claimed = ACCEPTED.get(kind)
    if claimed is None:
        return f"image/{kind} is not accepted: OpenAI takes JPEG, PNG and WEBP images"
    # Four characters of base64 hold three bytes: refuse a huge image before decoding it.
    if len(payload) // 4 * 3 > MAX_IMAGE_BYTES + 3:
        return f"about {len(payload) // 4 * 3:,} bytes; OpenAI takes images up to 10 MiB"
    if _BASE64_RE.fullmatch(payload) is None:
        bad = next((i for i, ch in enumerate(payload) if ch not in _BASE64_ALPHABET), None)
        if bad is None:
            return "its base64 does not decode (padding before the end)"
        return f"its base64 does not decode (character {payload[bad]!a} at offset {bad})"
    try:
        data = binascii.a2b_base64(payload)
    except binascii.Error:
        return "its base64 does not decode (its length or padding is wrong)"
    if len(data) > MAX_IMAGE_BYTES:
        return f"{len(data):,} bytes; OpenAI takes images up to 10 MiB"
    found = image_format(data)
    if found == claimed:
        return None
    if found is None:
        start = data[:8].hex(" ")
        return f"claims image/{kind} but its bytes are not a {claimed} image (they start {start})"
    return f"claims image/{kind} but its bytes are a {found} image"


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
