"""Rules files: YAML/JSON in, a ruleset merged onto the defaults, errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msgspec.structs import fields

from service.domain.ruleset import Role, Ruleset
from service.rules_file import (
    RulesError,
    RulesetFile,
    load_rules_file,
    parse_rules,
    ruleset_to_dict,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rules-example.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_yaml_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.yaml",
        """
version: 1
colors:
  blue: step
  violet: data
  gray: null          # gray stickies are nothing here
tags:
  Blocker: problem
time:
  hours_per_day: 7.5
""",
    )

    rules = load_rules_file(path)

    defaults = Ruleset()
    assert rules.colors["blue"] is Role.STEP
    assert rules.colors["violet"] is Role.DATA
    assert "gray" not in rules.colors
    assert rules.colors["yellow"] is Role.STEP  # default kept
    assert rules.tag_roles["blocker"] is Role.PROBLEM
    assert rules.tag_roles["problem"] is Role.PROBLEM
    assert rules.hours_per_day == 7.5
    assert rules.days_per_week == defaults.days_per_week
    assert rules.legend_titles == defaults.legend_titles


def test_a_json_file_is_read_as_json(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules.json",
        json.dumps({"version": 1, "legend": {"titles": ["Farbcode"]}, "dot_size_ratio": 0.3}),
    )

    rules = load_rules_file(path)

    assert rules.legend_titles == ("farbcode",)
    assert rules.dot_size_ratio == 0.3


def test_lists_replace_the_default_list(tmp_path: Path) -> None:
    rules = parse_rules({"streams": {"current": ["Heute", "Ist"]}, "standalone_markers": []})

    assert rules.current_titles == ("heute", "ist")
    assert rules.target_titles == Ruleset().target_titles
    assert rules.standalone_markers == ()


def test_role_names_and_keys_are_case_insensitive() -> None:
    rules = parse_rules({"markers": {"Blocker": "Problem"}, "colors": {"Cyan": "STEP"}})

    assert rules.markers["blocker"] is Role.PROBLEM
    assert rules.colors["cyan"] is Role.STEP


def test_an_empty_mapping_means_the_defaults() -> None:
    assert parse_rules({}) == Ruleset()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"colors": {"violet": "fancy"}},
            "rules file: colors.violet: 'fancy' is not a role "
            "(step, wait, problem, idea, data, persona, legend, note)",
        ),
        (
            {"colors": {"purple": "fancy"}},
            "colors.purple: 'fancy' is not a role",
        ),
        ({"colors": {"purple": "step"}}, "colors.purple: not a colour name (gray, light_yellow"),
        ({"legend": {"words": {"Wartezeit": "waiting"}}}, "legend.words.Wartezeit: 'waiting'"),
        ({"time": {"hours_per_day": 30}}, "time.hours_per_day: must be a number > 0 and <= 24"),
        ({"time": {"hours_per_day": 0}}, "time.hours_per_day: must be a number > 0 and <= 24"),
        ({"time": {"hours_per_day": "acht"}}, "time.hours_per_day: must be a number"),
        ({"time": {"hours_per_day": True}}, "time.hours_per_day: must be a number"),
        ({"time": {"days_per_week": 8}}, "time.days_per_week: must be a number > 0 and <= 7"),
        ({"dot_size_ratio": 1.5}, "dot_size_ratio: must be a number > 0 and < 1"),
        ({"dot_size_ratio": float("nan")}, "dot_size_ratio: must be a number"),
        ({"match_similarity": -0.1}, "match_similarity: must be a number >= 0 and <= 1"),
        ({"attach_distance": 0}, "attach_distance: must be a number > 0"),
        ({"colour": {"red": "problem"}}, "colour: unknown key (allowed: version, colors,"),
        ({"time": {"hours": 8}}, "time.hours: unknown key (allowed: hours_per_day, days_per_week)"),
        ({"legend": {"title": ["Key"]}}, "legend.title: unknown key (allowed: titles, words)"),
        ({"version": 2}, "version: must be 1 (got 2)"),
        ({"colors": ["red", "problem"]}, "colors: must be a mapping (got list)"),
        ({"legend": {"titles": "Key"}}, "legend.titles: must be a list (got str)"),
        ({"tags": {"": "problem"}}, "tags: the key '' is empty"),
        ({"standalone_markers": ["stop"]}, "standalone_markers: 'stop' is not one of the markers"),
    ],
)
def test_a_bad_field_gets_an_error_naming_it(data: object, message: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(data)

    assert message in raised.value.message
    assert raised.value.message.startswith("rules file: ")


def test_every_bad_field_is_named_not_just_the_first() -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules({"colors": {"red": "bad"}, "time": {"hours_per_day": -1}})

    assert "colors.red" in raised.value.message
    assert "time.hours_per_day" in raised.value.message


@pytest.mark.parametrize("data", [None, [], "colors: red", 3])
def test_a_top_level_that_is_not_a_mapping_is_rejected(data: object) -> None:
    with pytest.raises(RulesError, match="the top level must be a mapping"):
        parse_rules(data)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("rules.yaml", "colors: [unclosed", "invalid YAML at line"),
        ("rules.json", '{"colors": ', "invalid JSON at line 1"),
        ("rules.yaml", "", "is empty"),
        ("rules.yaml", "a: &x [1]\nb: *x\n", "line 2: YAML aliases"),
        ("rules.yml", "colors:\n  red: fancy\n", "colors.red: 'fancy' is not a role"),
    ],
)
def test_a_broken_file_gets_an_error_with_the_place(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(RulesError) as raised:
        load_rules_file(write(tmp_path, name, text))

    assert message in raised.value.message


def test_a_missing_file_gets_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"cannot read .*nope\.yaml"):
        load_rules_file(tmp_path / "nope.yaml")


def test_a_billion_laughs_file_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]

    with pytest.raises(RulesError, match="aliases"):
        load_rules_file(write(tmp_path, "bomb.yaml", "\n".join(lines)))


@pytest.mark.parametrize(
    "rules",
    [
        Ruleset(),
        parse_rules({"colors": {"gray": None, "blue": "step"}, "time": {"days_per_week": 4}}),
        parse_rules({"markers": {"nva": None}, "legend": {"titles": ["Farben"]}}),
    ],
)
def test_the_effective_ruleset_round_trips_through_the_file_format(rules: Ruleset) -> None:
    written = ruleset_to_dict(rules)

    assert parse_rules(json.loads(json.dumps(written))) == rules


def test_the_file_format_covers_every_ruleset_field() -> None:
    defaults = Ruleset()
    changed = ruleset_to_dict(defaults)
    changed["time"] = {"hours_per_day": 6.0, "days_per_week": 4.0}
    changed.update(
        attach_distance=3.0, dot_size_ratio=0.2, match_similarity=0.9, max_malformed_share=0.1
    )
    changed["standalone_markers"] = []
    changed["legend"] = {"titles": ["x"], "words": {"x": "step"}}
    changed["streams"] = {"current": ["a"], "target": ["b"], "skip": ["c"], "row_headings": ["d"]}
    changed["colors"] = {"gray": None}
    changed["tags"] = {"t": "idea"}
    changed["markers"] = {"m": "idea"}
    changed["precedence"] = "rules"

    rules = parse_rules(changed)

    unchanged = [
        f.name for f in fields(Ruleset) if getattr(rules, f.name) == getattr(defaults, f.name)
    ]
    assert unchanged == []


def test_the_model_class_gives_the_api_a_schema_naming_every_section() -> None:
    schema = RulesetFile.model_json_schema()

    assert set(schema["properties"]) == {
        "version", "colors", "tags", "markers", "standalone_markers", "legend", "streams",
        "time", "attach_distance", "dot_size_ratio", "match_similarity", "max_malformed_share",
        "precedence",
    }  # fmt: skip
    assert schema["additionalProperties"] is False


def test_the_example_rules_file_is_valid() -> None:
    rules = load_rules_file(EXAMPLE)

    assert rules.colors["blue"] is Role.STEP
    assert rules.colors["violet"] is Role.DATA
