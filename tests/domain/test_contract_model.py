"""The typed contract: every field read once from the document, and any document readable."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dump import read_dump_file
from service.domain.contract_model import (
    ComparedStep,
    ComparisonPair,
    Contract,
    ContractMetrics,
    ContractStep,
    ContractStream,
    decode_contract,
    decode_stream,
)
from service.domain.digitize import digitize
from service.domain.export import contract_to_markdown, streams_to_csv
from service.domain.render.html import render_report_html

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def plain(value: Any) -> Any:
    """A decoded value back as JSON-shaped data (tuples as lists, dataclasses as dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [plain(entry) for entry in value]
    if isinstance(value, dict):
        return {key: plain(entry) for key, entry in value.items()}
    return value


def same(decoded: Any, doc: Any) -> bool:
    """``decoded`` (made ``plain``) holds exactly ``doc``; fields the document does not have
    (the comparison entry kinds share one class) are left empty."""
    if isinstance(doc, dict):
        extra = set(decoded) - set(doc)
        return all(same(decoded[key], doc[key]) for key in doc) and all(
            decoded[key] in (None, []) for key in extra
        )
    if isinstance(doc, list):
        return len(decoded) == len(doc) and all(map(same, decoded, doc))
    return type(decoded) is type(doc) and decoded == doc


@pytest.mark.parametrize("name", ["miro-abo-workshop.json", "mural-app-release.json"])
def test_a_digitized_board_decodes_to_exactly_its_document(name: str) -> None:
    doc = json.loads(json.dumps(digitize(read_dump_file(EXAMPLES / name))))

    assert same(plain(decode_contract(doc)), doc)


def test_fields_the_model_does_not_know_are_ignored() -> None:
    doc = json.loads(json.dumps(digitize(read_dump_file(EXAMPLES / "mural-app-release.json"))))
    extended = {
        **doc,
        "hints": [{"code": "layout", "item_ids": ["x"]}],  # (warnings is a field now)
        "account": {"provider": "mural", "user": "u"},
        "streams": [
            {**s, "colour": "red", "steps": [{**t, "x": 1} for t in s["steps"]]}
            for s in doc["streams"]
        ],
    }

    assert decode_contract(extended) == decode_contract(doc)


def test_values_of_the_wrong_type_fall_back_to_the_field_default() -> None:
    step = decode_stream(
        {
            "id": 7,
            "steps": [
                {
                    "id": "a",
                    "order": "drei",
                    "title": None,
                    "value_adding": 1,
                    "process_time_min": math.nan,
                    "lead_time_min": True,
                    "wait_time_min": "lots",
                    "problem_ids": ["p1", 2, None, "p2"],
                },
                "not a step",
                None,
            ],
            "metrics": [],
        }
    )

    assert step == ContractStream(
        steps=(ContractStep(id="a", problem_ids=("p1", "p2")),), metrics=ContractMetrics()
    )


def test_numbers_keep_their_type_so_counts_print_without_decimals() -> None:
    stream = decode_stream({"steps": [{"order": 2, "process_time_min": 30, "lead_time_min": 1.5}]})

    (step,) = stream.steps
    assert (repr(step.order), repr(step.process_time_min), repr(step.lead_time_min)) == (
        "2",
        "30",
        "1.5",
    )


def test_other_pairs_are_pairs_without_pairs_of_their_own() -> None:
    nested = {"current_stream_name": "Ist 3"}
    doc = decode_contract(
        {
            "comparison": {
                "kept": [{"current_title": "A", "target_title": "B", "similarity": 0.5}],
                "other_pairs": [
                    {
                        "current_stream_name": "Ist 2",
                        "added": [{"target_title": "C"}],
                        "other_pairs": [nested],
                    }
                ],
            }
        }
    )

    assert doc.comparison is not None
    assert doc.comparison.kept == (
        ComparedStep(current_title="A", target_title="B", similarity=0.5),
    )
    assert doc.comparison.other_pairs == (
        ComparisonPair(current_stream_name="Ist 2", added=(ComparedStep(target_title="C"),)),
    )


@pytest.mark.parametrize("value", [[], "doc", None, 3])
def test_a_document_or_stream_that_is_not_a_mapping_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="mapping"):
        decode_contract(value)
    with pytest.raises(TypeError, match="mapping"):
        decode_stream(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)
fields = [
    "id",
    "name",
    "state",
    "lanes",
    "steps",
    "problems",
    "metrics",
    "order",
    "title",
    "lane",
    "weight",
    "step_id",
    "kept",
    "comparison",
    "streams",
    "board",
    "other_pairs",
]
documents = st.recursive(
    st.dictionaries(st.sampled_from(fields), json_values, max_size=6),
    lambda inner: st.dictionaries(
        st.sampled_from(fields), inner | st.lists(inner, max_size=3), max_size=6
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(documents)
def test_any_json_document_decodes_and_renders(doc: dict[str, Any]) -> None:
    contract = decode_contract(doc)

    assert isinstance(contract, Contract)
    assert render_report_html(contract).endswith("</html>\n")
    contract_to_markdown(contract)
    streams_to_csv(contract.streams)


def test_the_warnings_are_decoded_and_absent_ones_read_as_none() -> None:
    doc = json.loads(json.dumps(digitize(read_dump_file(EXAMPLES / "mural-app-release.json"))))

    (warning,) = decode_contract(doc).warnings
    assert (warning.code, warning.item_ids) == (
        "skipped-frame",
        (doc["warnings"][0]["item_ids"][0],),
    )
    assert decode_contract({k: v for k, v in doc.items() if k != "warnings"}).warnings == ()
