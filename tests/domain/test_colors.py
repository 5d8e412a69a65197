"""Colour names: Miro sticky names pass through, hex colours map to the nearest palette name."""

from __future__ import annotations

import pytest

from service.domain.colors import PALETTE, color_name, nearest_color


def test_palette_has_miros_sixteen_sticky_colours() -> None:
    assert set(PALETTE) == {
        "gray",
        "light_yellow",
        "yellow",
        "orange",
        "light_green",
        "green",
        "dark_green",
        "cyan",
        "light_pink",
        "pink",
        "violet",
        "red",
        "light_blue",
        "blue",
        "dark_blue",
        "black",
    }


@pytest.mark.parametrize("name", sorted(PALETTE))
def test_every_palette_hex_maps_back_to_its_own_name(name: str) -> None:
    assert nearest_color(PALETTE[name]) == name
    assert nearest_color(PALETTE[name].upper() + "FF") == name


@pytest.mark.parametrize(
    ("hex_value", "expected"),
    [
        ("#FCFE7DFF", {"yellow", "light_yellow"}),  # Mural's default sticky
        ("#FF9D48FF", {"orange"}),
        ("#9BEDFDFF", {"light_blue", "cyan"}),
        ("#FFC2E8FF", {"pink", "light_pink"}),
        ("#FCB6D4FF", {"pink", "light_pink"}),
        ("#C7FE80FF", {"light_green"}),
        ("#FF4D4DFF", {"red"}),
        ("#BF0C0CFF", {"red"}),
        ("#B384BB", {"violet"}),
        ("#F36DFFFF", {"violet"}),
        ("#80D2FCFF", {"light_blue", "blue", "cyan"}),
        ("#2d9bf0", {"blue"}),
        ("#000", {"black"}),
        ("#fff", {"gray"}),
    ],
)
def test_provider_hex_colours_map_to_the_colour_a_person_would_name(
    hex_value: str, expected: set[str]
) -> None:
    assert nearest_color(hex_value) in expected


@pytest.mark.parametrize(
    "value", ["#FFFFFF00", "#12345600", "", "#12", "#GGGGGG", "yellow", "#1234567", "x" * 10_000]
)
def test_transparent_or_invalid_colours_have_no_name(value: str) -> None:
    assert nearest_color(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("light_yellow", "light_yellow"),
        ("Dark_Blue", "dark_blue"),
        ("#f5d128", "yellow"),
        ("transparent", None),
        ("magenta", None),
        (None, None),
    ],
)
def test_color_name_passes_names_through_and_maps_hex(
    value: str | None, expected: str | None
) -> None:
    assert color_name(value) == expected
