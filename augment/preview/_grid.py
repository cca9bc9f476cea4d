"""Tiles in rows, captioned: the picture the preview shows (and ``augment preview`` writes).

Knows nothing of specs or variants: :func:`draw_grid` takes rows of ``(image, caption,
error)``, so the grid of a render and the grid of a finished job are drawn alike, and
:func:`cell_size` is the one geometry the widget reads a click back through. A tile is
scaled down to fit, never up, and the whole grid is bounded (:data:`MAX_GRID_PIXELS`).
"""

from __future__ import annotations

import io
import os
from typing import Any

import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from augment.errors import UsageError

_CAPTION_LINES = 3
_LINE_HEIGHT = 14
PAD = 6
_BACKGROUND = (255, 255, 255)
_FAILED = (250, 232, 232)
HIGHLIGHT = (255, 136, 0)
"""The frame around the tile being stepped through."""
MAX_SIDE = 4096
"""The largest tile side a grid draws (a tile is never enlarged: larger only wastes memory)."""
MAX_GRID_PIXELS = 100_000_000
"""The largest grid drawn, in pixels (300 MB of RGB)."""


def _font(size: int = 11) -> PIL.ImageFont.ImageFont | PIL.ImageFont.FreeTypeFont:
    """DejaVu Sans from matplotlib where it is installed (it has ×, −, σ and °);
    Pillow's own font elsewhere."""
    import importlib.util

    found = importlib.util.find_spec("matplotlib")  # found, not imported: that takes a quarter of a second
    try:
        if found is None or not found.submodule_search_locations:
            raise OSError("no matplotlib")
        folder = found.submodule_search_locations[0]
        return PIL.ImageFont.truetype(os.path.join(folder, "mpl-data", "fonts", "ttf", "DejaVuSans.ttf"), size)
    except OSError:
        return PIL.ImageFont.load_default(size=size)


_FONTS: dict[int, Any] = {}


def _cached_font(size: int = 11) -> Any:
    if size not in _FONTS:
        _FONTS[size] = _font(size)
    return _FONTS[size]


def _wrap(text: str, font: Any, width: int, lines: int) -> list[str]:
    out: list[str] = []
    words = text.split(" ")
    line = ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width or not line:
            line = candidate
        else:
            out.append(line)
            line = word
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1].rstrip() + " \u2026"
    return out


def cell_size(max_side: int) -> tuple[int, int]:
    """(width, height) of one tile of a grid with its caption and margin; tile (row,
    col) starts at ``(PAD + col * width, PAD + row * height)``."""
    return max_side + PAD, max_side + PAD + _LINE_HEIGHT * _CAPTION_LINES


def draw_grid(rows: list[list[tuple[PIL.Image.Image | None, str, str | None]]], max_side: int = 256,
              highlight: tuple[int, int] | None = None) -> PIL.Image.Image:
    """Tiles in rows, each scaled to fit ``max_side`` (never enlarged) with its caption
    below; a tile without an image shows its error.

    Args:
        rows: per row, ``(image or None, caption, error or None)`` per tile.
        max_side: the largest side of a tile, in pixels (16 to :data:`MAX_SIDE`).
        highlight: ``(row, column)`` of a tile to frame, or ``None``.

    Raises:
        UsageError: ``max_side`` out of range, or a grid of more than
            :data:`MAX_GRID_PIXELS` pixels.
    """
    if not 16 <= max_side <= MAX_SIDE:
        raise UsageError(f"max_side={max_side}: must be between 16 and {MAX_SIDE} (pixels of a tile's largest "
                         "side)")
    font = _cached_font(11)
    line_h = _LINE_HEIGHT
    cols = max((len(r) for r in rows), default=1)
    cell_w, cell_h = cell_size(max_side)
    size = (max(cols, 1) * cell_w + PAD, max(len(rows), 1) * cell_h + PAD)
    if size[0] * size[1] > MAX_GRID_PIXELS:
        raise UsageError(f"the grid would be {size[0]}\u00d7{size[1]} pixels, more than {MAX_GRID_PIXELS}: "
                         "lower max_side=, n= or copies=, or name fewer paths=")
    grid = PIL.Image.new("RGB", size, _BACKGROUND)
    draw = PIL.ImageDraw.Draw(grid)
    if highlight is not None:  # in the padding around the tile: the picture stays whole
        x, y = PAD + highlight[1] * cell_w, PAD + highlight[0] * cell_h
        draw.rectangle((x - 4, y - 4, x + max_side + 3, y + cell_h - PAD + 1), outline=HIGHLIGHT, width=3)
    for r, row in enumerate(rows):
        for c, (image, caption, error) in enumerate(row):
            x, y = PAD + c * cell_w, PAD + r * cell_h
            if image is not None:
                tile = image if image.mode == "RGB" else image.convert("RGB")
                scale = min(1.0, max_side / max(tile.width, tile.height))
                if scale < 1.0:
                    size = (max(1, round(tile.width * scale)), max(1, round(tile.height * scale)))
                    tile = tile.resize(size, PIL.Image.Resampling.BILINEAR, reducing_gap=2.0)
                grid.paste(tile, (x + (max_side - tile.width) // 2, y + (max_side - tile.height) // 2))
            else:
                draw.rectangle((x, y, x + max_side - 1, y + max_side - 1), fill=_FAILED, outline=(200, 80, 80))
                for n, line in enumerate(_wrap(error or "no image", font, max_side - 12, 12)):
                    draw.text((x + 6, y + 6 + n * line_h), line, font=font, fill=(150, 20, 20))
            for n, line in enumerate(_wrap(caption, font, max_side, _CAPTION_LINES)):
                draw.text((x, y + max_side + 2 + n * line_h), line, font=font,
                          fill=(150, 20, 20) if error else (30, 30, 30))
    return grid



def png_bytes(image: PIL.Image.Image) -> bytes:
    """``image`` as PNG with fast compression: for the screen, where encoding time is
    waiting time (a third of the time Pillow's default level takes on a grid)."""
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()
