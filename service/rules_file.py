"""Rules files (YAML or JSON) and API rule bodies -> a validated ``Ruleset``.

Every section is optional and is merged onto the defaults:

* mappings (``colors``, ``tags``, ``markers``, ``legend.words``) extend the defaults entry by
  entry; an entry whose role is ``null`` removes that default;
* lists (``standalone_markers``, ``legend.titles``, ``streams.current``, ``streams.target``,
  ``streams.skip``, ``streams.row_headings``)
  replace the default list as a whole;
* numbers replace the default;
* ``precedence`` (``legend``, the default, or ``rules``) says who wins when the board's own
  legend maps a colour to another role than ``colors`` does.

Keys are matched case-insensitively everywhere, so they are stored lower-cased. Unknown keys are
errors, and every error names the field path (``colors.violet``, ``time.hours_per_day``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
)

from service.domain.colors import PALETTE
from service.domain.ruleset import Precedence, Role, Ruleset
from service.domain.text import has_unstorable

MAX_FILE_BYTES = 1_000_000
MAX_ENTRIES = 1_000  # per mapping or list: far more than any workshop needs
MAX_ERRORS_SHOWN = 10

_ROLE_NAMES = ", ".join(role.value for role in Role)


def _storable(value: str) -> str:
    if has_unstorable(value):
        raise ValueError("contains NUL or a lone surrogate, which cannot be stored")
    return value


Word = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_storable),
]


def _lower(value: object) -> object:
    return value.strip().casefold() if isinstance(value, str) else value


# "Problem" and "problem" both name the role; null removes a default entry.
RoleOrNull = Annotated[Role | None, BeforeValidator(_lower)]
RoleMap = Annotated[dict[Word, RoleOrNull], Field(max_length=MAX_ENTRIES)]
# Strict: a YAML "yes" or "8" is a mistake, not a number.
Number = Annotated[float, Strict()]
WordList = Annotated[list[Word], Field(max_length=MAX_ENTRIES)]


class RulesError(Exception):
    """A rules file or body that cannot be used; ``message`` names the file and the bad field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegendSection(_Section):
    """How the board's own legend is found and read."""

    titles: WordList | None = None
    words: RoleMap | None = None


class StreamsSection(_Section):
    """Container titles that mark the current and the target state, frames that hold no flow,
    and the row headings that are no lanes."""

    current: WordList | None = None
    target: WordList | None = None
    skip: WordList | None = None
    row_headings: WordList | None = None


class TimeSection(_Section):
    """How long a working day and a working week are."""

    hours_per_day: Number | None = Field(default=None, gt=0, le=24, allow_inf_nan=False)
    days_per_week: Number | None = Field(default=None, gt=0, le=7, allow_inf_nan=False)


class RulesetFile(_Section):
    """The rules file format, version 1. Every section is optional (see the module docstring)."""

    version: Literal[1] = 1
    colors: RoleMap | None = None
    tags: RoleMap | None = None
    markers: RoleMap | None = None
    standalone_markers: WordList | None = None
    legend: LegendSection | None = None
    streams: StreamsSection | None = None
    time: TimeSection | None = None
    attach_distance: Number | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    dot_size_ratio: Number | None = Field(default=None, gt=0, lt=1, allow_inf_nan=False)
    match_similarity: Number | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    max_malformed_share: Number | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    precedence: Precedence | None = Field(
        default=None,
        description="Who wins when the board's legend and `colors` give one colour different "
        "roles: `legend` (default) or `rules`.",
    )

    def to_ruleset(self) -> Ruleset:
        """Merge onto the defaults; raises ``RulesError`` for unknown colours or markers."""
        defaults = Ruleset()
        errors: list[str] = []
        colors = _merge(defaults.colors, self.colors)
        errors += [
            f"colors.{name}: not a colour name ({', '.join(PALETTE)})"
            for name in sorted(colors)
            if name not in PALETTE
        ]
        markers = _merge(defaults.markers, self.markers)
        standalone = (
            tuple(word.casefold() for word in self.standalone_markers)
            if self.standalone_markers is not None
            else tuple(word for word in defaults.standalone_markers if word in markers)
        )
        errors += [
            f"standalone_markers: '{word}' is not one of the markers ({', '.join(sorted(markers))})"
            for word in standalone
            if word not in markers
        ]
        if errors:
            raise RulesError(_summary(errors))
        legend = self.legend or LegendSection()
        streams = self.streams or StreamsSection()
        time = self.time or TimeSection()
        return Ruleset(
            colors=colors,
            tag_roles=_merge(defaults.tag_roles, self.tags),
            markers=markers,
            standalone_markers=standalone,
            legend_words=_merge(defaults.legend_words, legend.words),
            legend_titles=_words(legend.titles, defaults.legend_titles),
            current_titles=_words(streams.current, defaults.current_titles),
            target_titles=_words(streams.target, defaults.target_titles),
            skip_titles=_words(streams.skip, defaults.skip_titles),
            row_headings=_words(streams.row_headings, defaults.row_headings),
            hours_per_day=_number(time.hours_per_day, defaults.hours_per_day),
            days_per_week=_number(time.days_per_week, defaults.days_per_week),
            attach_distance=_number(self.attach_distance, defaults.attach_distance),
            dot_size_ratio=_number(self.dot_size_ratio, defaults.dot_size_ratio),
            match_similarity=_number(self.match_similarity, defaults.match_similarity),
            max_malformed_share=_number(self.max_malformed_share, defaults.max_malformed_share),
            precedence=self.precedence or defaults.precedence,
        )


def _merge(
    defaults: Mapping[str, Role], changes: Mapping[str, Role | None] | None
) -> dict[str, Role]:
    merged = {key.casefold(): role for key, role in defaults.items()}
    for key, role in (changes or {}).items():
        if role is None:
            merged.pop(key.casefold(), None)
        else:
            merged[key.casefold()] = role
    return merged


def _words(given: list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if given is None:
        return default
    return tuple(dict.fromkeys(word.casefold() for word in given))


def _number(given: float | None, default: float) -> float:
    return default if given is None else float(given)


# Plain-language bounds for the numeric fields, used in error messages.
_BOUNDS = {
    "time.hours_per_day": "must be a number > 0 and <= 24",
    "time.days_per_week": "must be a number > 0 and <= 7",
    "attach_distance": "must be a number > 0 and <= 100 (sticky sizes)",
    "dot_size_ratio": "must be a number > 0 and < 1 (share of a typical sticky)",
    "match_similarity": "must be a number >= 0 and <= 1",
    "max_malformed_share": "must be a number >= 0 and <= 1 (share of the items read)",
}
_SECTIONS: dict[str, type[BaseModel]] = {
    "": RulesetFile,
    "legend": LegendSection,
    "streams": StreamsSection,
    "time": TimeSection,
}


def _shown(value: object) -> str:
    """``repr`` of a user's value, cut short: a message must stay one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _path_part(part: object) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(part)[:40])
    return text if len(str(part)) <= 40 else text + "..."


def _describe(error: Mapping[str, Any]) -> str:
    """One pydantic error as ``path: what is wrong`` in the facilitator's words."""
    loc = [_path_part(part) for part in error["loc"] if part != "[key]"]
    path = ".".join(loc) or "(top level)"
    kind = error["type"]
    value = error.get("input")
    if "[key]" in error["loc"]:
        problem = "is empty" if kind == "string_too_short" else error["msg"].lower()
        return f"{'.'.join(loc[:-1])}: the key {_shown(loc[-1])} {problem}"
    if kind == "extra_forbidden":
        section = ".".join(loc[:-1])
        allowed = ", ".join(_SECTIONS[section].model_fields) if section in _SECTIONS else ""
        return f"{path}: unknown key (allowed: {allowed})"
    if kind == "enum" and path == "precedence":
        return f"precedence: must be legend or rules (got {_shown(value)})"
    if kind == "enum":
        return f"{path}: {_shown(value)} is not a role ({_ROLE_NAMES})"
    if path in _BOUNDS:
        return f"{path}: {_BOUNDS[path]} (got {_shown(value)})"
    if kind == "literal_error" and path == "version":
        return f"version: must be 1 (got {_shown(value)})"
    if kind in ("dict_type", "model_type"):
        return f"{path}: must be a mapping (got {type(value).__name__})"
    if kind == "list_type":
        return f"{path}: must be a list (got {type(value).__name__})"
    if kind == "string_too_short":
        return f"{path}: must not be empty"
    return f"{path}: {error['msg'][:1].lower()}{error['msg'][1:]}"


def _summary(problems: list[str]) -> str:
    shown = problems[:MAX_ERRORS_SHOWN]
    more = len(problems) - len(shown)
    return "rules file: " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def parse_rules(data: object) -> Ruleset:
    """Validate already-parsed rules (a mapping from YAML, JSON or an API body) -> ``Ruleset``.

    Raises ``RulesError`` naming every bad field (the first ten).
    """
    if not isinstance(data, Mapping):
        raise RulesError(
            f"rules file: the top level must be a mapping of sections (got {type(data).__name__})"
        )
    try:
        model = RulesetFile.model_validate(dict(data))
    except ValidationError as error:
        raise RulesError(_summary([_describe(e) for e in error.errors()])) from None
    return model.to_ruleset()


def _reject_aliases(text: str) -> None:
    """YAML aliases let a small file expand into a huge structure; rules files need none."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            line = mark.line + 1 if mark is not None else "?"
            raise RulesError(f"rules file: line {line}: YAML aliases (*name) are not allowed")


def load_rules_file(path: Path) -> Ruleset:
    """Read a YAML or JSON rules file (``.json`` is JSON, anything else YAML) -> ``Ruleset``.

    Raises ``RulesError`` when the file cannot be read, is over 1 MB, does not parse, or has a
    bad field; the message names the file or the field.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise RulesError(f"rules file: cannot read {path}: {error.strerror}") from None
    return parse_rules(read_rules_text(raw, str(path), is_json=path.suffix.lower() == ".json"))


def read_rules_text(raw: bytes, source: str, *, is_json: bool) -> object:
    """The parsed content of a rules file's bytes (YAML, or JSON when ``is_json``; JSON is
    YAML too), not yet validated; ``source`` names it in messages (a path, "the body").

    Raises ``RulesError`` when it is over 1 MB, not UTF-8, does not parse, uses YAML aliases
    or is empty.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise RulesError(f"rules file: {source} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RulesError(f"rules file: {source} is not UTF-8 text") from None
    data: object
    if is_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise RulesError(
                f"rules file: {source}: invalid JSON at line {error.lineno}, column "
                f"{error.colno}: {error.msg}"
            ) from None
    else:
        try:
            _reject_aliases(text)
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or "not valid YAML"
            raise RulesError(f"rules file: {source}: invalid YAML{where}: {problem}") from None
        except RecursionError:
            raise RulesError(f"rules file: {source} is nested too deeply") from None
    if data is None:
        raise RulesError(f"rules file: {source} is empty (write at least `version: 1`)")
    return data


def _role_map(rules: Mapping[str, Role], defaults: Mapping[str, Role]) -> dict[str, str | None]:
    """Effective entries, plus ``null`` for each default entry the ruleset dropped."""
    entries: dict[str, str | None] = {key: role.value for key, role in sorted(rules.items())}
    entries.update({key: None for key in sorted(defaults) if key not in rules})
    return entries


def ruleset_to_dict(rules: Ruleset) -> dict[str, Any]:
    """The full effective ruleset in the rules file format; ``parse_rules`` reads it back equal."""
    defaults = Ruleset()
    return {
        "version": 1,
        "colors": _role_map(rules.colors, defaults.colors),
        "tags": _role_map(rules.tag_roles, defaults.tag_roles),
        "markers": _role_map(rules.markers, defaults.markers),
        "standalone_markers": list(rules.standalone_markers),
        "legend": {
            "titles": list(rules.legend_titles),
            "words": _role_map(rules.legend_words, defaults.legend_words),
        },
        "streams": {
            "current": list(rules.current_titles),
            "target": list(rules.target_titles),
            "skip": list(rules.skip_titles),
            "row_headings": list(rules.row_headings),
        },
        "time": {"hours_per_day": rules.hours_per_day, "days_per_week": rules.days_per_week},
        "attach_distance": rules.attach_distance,
        "dot_size_ratio": rules.dot_size_ratio,
        "match_similarity": rules.match_similarity,
        "max_malformed_share": rules.max_malformed_share,
        # only when changed: a revision's rules_hash is taken over this dict, and boards stored
        # before the setting existed must still read as unchanged on their next import
        **({"precedence": rules.precedence.value} if rules.precedence is Precedence.RULES else {}),
    }
