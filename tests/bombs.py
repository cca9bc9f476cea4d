"""Files that claim far more pixels than they hold, made here from real images."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import PIL.Image


def header_bomb_jpeg(source: Path, width: int = 65000, height: int = 65000) -> bytes:
    """A real JPEG whose frame header (SOF) claims ``width`` x ``height`` pixels."""
    with PIL.Image.open(source) as img:
        buf = io.BytesIO()
        img.convert("RGB").resize((64, 64)).save(buf, "JPEG", quality=80)
    data = bytearray(buf.getvalue())
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):  # SOF: length, precision, height, width
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def gigapixel_png(side: int = 32768) -> bytes:
    """A valid 1-bit PNG of ``side`` x ``side`` white pixels: a few hundred KB that decode
    to over a gigapixel."""
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1024) for _ in range(side // 1024)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
