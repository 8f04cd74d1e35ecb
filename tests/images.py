"""Real image bytes for upload tests, made with Pillow."""
from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image


def make_image(fmt: str, size=(64, 48), color=(200, 30, 30), **save_args) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt, **save_args)
    return out.getvalue()


def jpeg(size=(64, 48), **kw) -> bytes:
    return make_image("JPEG", size, **kw)


def png(size=(64, 48), **kw) -> bytes:
    return make_image("PNG", size, **kw)


def webp(size=(64, 48), **kw) -> bytes:
    return make_image("WEBP", size, **kw)


def noisy_jpeg(size=(640, 480)) -> bytes:
    """A JPEG with real entropy-coded data (a flat colour compresses to almost nothing)."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def png_of_size(total: int, size=(600, 600)) -> bytes:
    """A valid PNG of exactly `total` bytes: random pixels (stored uncompressed) padded with a
    private ancillary chunk, which decoders skip."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    padding = total - len(data) - 12  # a chunk adds length, type and CRC: 12 bytes
    assert padding >= 0, "pick a smaller size"
    chunk_type = b"paDd"  # ancillary, private, safe to copy
    body = b"\0" * padding
    chunk = struct.pack(">I", padding) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))
    ihdr_end = 8 + 25  # signature, then the IHDR chunk
    result = data[:ihdr_end] + chunk + data[ihdr_end:]
    assert len(result) == total
    return result
