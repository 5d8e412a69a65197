"""Named colour palette and nearest-colour mapping from provider hex values to palette names.

The names are Miro's 16 sticky-note colours (``StickyNoteStyle.fillColor`` in the Miro v2 spec).
Miro documents no hex value for them; the hexes below assign the spec's 16-entry shape/frame
palette (``ShapeStyleForCreate.fillColor``) one to one, which agrees with the six values
third-party mappings share (light_yellow, yellow, orange, light_green, light_pink, light_blue).
See /work/shared/reference/miro-api.md section 3.3 and docs/board-model.md.

Hex colours from shapes and from Mural are mapped to the perceptually nearest name (CIE76
distance in CIELAB, D65). A few extra reference colours observed on real Mural boards anchor
the names whose Miro hex alone would attract the wrong neighbours (a saturated magenta is a
Mural "violet", not a Miro "pink").

Nearest in CIELAB is not always the family people name: Mural's purple sticky ``#CB8CF9`` lies
closer to Miro's ``dark_blue`` (``#7b92ff``) than to its ``violet``, and pure blue ``#0000CD``
closer to ``violet``, which swapped a persona for data. So a clearly coloured hex is first put
in its hue family, blue (hue 195-255) or purple (255-330), and only matched against names of
the same or no family (``_family``).
"""

from __future__ import annotations

import colorsys
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

PALETTE: Mapping[str, str] = MappingProxyType(
    {
        "gray": "#f5f6f8",
        "light_yellow": "#fff9b1",
        "yellow": "#f5d128",
        "orange": "#ff9d48",
        "light_green": "#d5f692",
        "green": "#d0e17a",
        "dark_green": "#93d275",
        "cyan": "#67c6c0",
        "light_pink": "#ffcee0",
        "pink": "#ea94bb",
        "violet": "#b384bb",
        "red": "#f16c7f",
        "light_blue": "#a6ccf5",
        "blue": "#23bfe7",
        "dark_blue": "#7b92ff",
        "black": "#000000",
    }
)
"""Palette name -> representative hex (lower case, ``#rrggbb``)."""

# Extra anchors (hex, name): colours seen on Mural boards and in common use, so that they land
# on the name a facilitator would call them (mural-api.md section 7).
_EXTRA_REFERENCES: tuple[tuple[str, str], ...] = (
    ("#fcfe7d", "yellow"),  # Mural's default sticky colour
    ("#ffe08a", "light_yellow"),  # Mural "light orange", a pale yellow on screen
    ("#ff4d4d", "red"),
    ("#e6393f", "red"),
    ("#bf0c0c", "red"),
    ("#f36dff", "violet"),
    ("#9510ac", "violet"),
    ("#414bb2", "dark_blue"),
    ("#2d9bf0", "blue"),  # Miro's default card theme
    ("#c9df56", "green"),
    ("#1a1a1a", "black"),
    ("#ffffff", "gray"),
)

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")

Lab = tuple[float, float, float]


def parse_hex(value: str) -> tuple[int, int, int] | None:
    """``#RGB``, ``#RRGGBB`` or ``#RRGGBBAA`` (``#`` optional) -> (r, g, b).

    Returns None for anything else and for a fully transparent colour (alpha ``00``).
    """
    match = _HEX.fullmatch(value.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) == 8 and digits[6:8] == "00":
        return None
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _lab(rgb: tuple[int, int, int]) -> Lab:
    r, g, b = (_linear(c) for c in rgb)
    # sRGB -> XYZ (D65), normalised by the D65 white point.
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _family(rgb: tuple[int, int, int]) -> str | None:
    """``"blue"`` or ``"purple"`` for a clearly coloured hex of those hues, else None."""
    hue, saturation, value = colorsys.rgb_to_hsv(*(channel / 255 for channel in rgb))
    if saturation < 0.25 or value < 0.25:
        return None  # greys, near-whites and near-blacks have no hue people name
    degrees = hue * 360
    if 195 <= degrees < 255:
        return "blue"
    if 255 <= degrees < 330:
        return "purple"
    return None


_OTHER_FAMILY = {"blue": "purple", "purple": "blue"}


def _references() -> tuple[tuple[Lab, str, str | None], ...]:
    refs: list[tuple[Lab, str, str | None]] = []
    pairs = [(hex_value, name) for name, hex_value in PALETTE.items()]
    for hex_value, name in (*pairs, *_EXTRA_REFERENCES):
        rgb = parse_hex(hex_value)
        assert rgb is not None
        refs.append((_lab(rgb), name, _family(rgb)))
    return tuple(refs)


_REFERENCES = _references()


def _nearest(rgb: tuple[int, int, int]) -> str:
    lab = _lab(rgb)
    excluded = _OTHER_FAMILY.get(_family(rgb) or "")
    best_name = ""
    best = math.inf
    for ref, name, family in _REFERENCES:
        if excluded is not None and family == excluded:
            continue
        d = (lab[0] - ref[0]) ** 2 + (lab[1] - ref[1]) ** 2 + (lab[2] - ref[2]) ** 2
        if d < best:
            best, best_name = d, name
    return best_name


def nearest_color(value: str) -> str | None:
    """The palette name perceptually nearest to a hex colour; None if invalid or transparent."""
    return None if len(value) > 16 else _nearest_cached(value)


def color_name(value: str | None) -> str | None:
    """A palette name as-is (any case), a hex colour mapped to its nearest name, else None."""
    return None if value is None or len(value) > 32 else _name_cached(value)


# Boards use a handful of distinct colour strings: cache them (short strings only, see above).
@lru_cache(maxsize=1024)
def _nearest_cached(value: str) -> str | None:
    rgb = parse_hex(value)
    return None if rgb is None else _nearest(rgb)


@lru_cache(maxsize=1024)
def _name_cached(value: str) -> str | None:
    key = value.strip().lower()
    return key if key in PALETTE else nearest_color(key)
