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


# Every sticky colour each provider offers as far as the sources show: Miro's 16 sticky names
# (the spec's StickyNoteStyle.fillColor enum, miro-api.md 3.3) are read as they are; Mural
# documents no palette, so these are the sticky backgrounds seen in real murals and clients
# (mural-api.md 7, the Mural purple #CB8CF9 of issue 12, the #0000CD blue of
# spackows/MURAL-API-Samples murals/sample-06_group.json), each with the family a person names.
MURAL_STICKY_COLOURS = {
    "#FCFE7DFF": "yellow",  # the default sticky
    "#FFE08AFF": "light_yellow",  # "light orange", a pale yellow on screen
    "#FF9D48FF": "orange",
    "#FFC2E8FF": "light_pink",
    "#FCB6D4FF": "light_pink",
    "#C7FE80FF": "light_green",
    "#8FD14FFF": "dark_green",
    "#9BEDFDFF": "cyan",
    "#80D2FCFF": "light_blue",
    "#B5D0F6FF": "light_blue",
    "#F36DFFFF": "violet",
    "#CB8CF9FF": "violet",  # purple: a persona, not data
    "#0000CDFF": "dark_blue",  # pure blue: data, not a persona
    "#BF0C0CFF": "red",
}


@pytest.mark.parametrize("name", sorted(PALETTE))
def test_every_miro_sticky_colour_name_is_read_as_it_is(name: str) -> None:
    assert color_name(name) == name
    assert color_name(name.upper()) == name


@pytest.mark.parametrize(("hex_value", "expected"), sorted(MURAL_STICKY_COLOURS.items()))
def test_every_mural_sticky_colour_maps_to_the_family_people_name(
    hex_value: str, expected: str
) -> None:
    assert nearest_color(hex_value) == expected


@pytest.mark.parametrize(
    ("hex_value", "family"),
    [("#CB8CF9", {"violet"}), ("#9510AC", {"violet"}), ("#0000CD", {"dark_blue", "blue"})],
)
def test_purple_is_never_blue_and_blue_never_purple(hex_value: str, family: set[str]) -> None:
    assert nearest_color(hex_value) in family
