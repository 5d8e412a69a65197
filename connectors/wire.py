"""Lenient field types shared by the Miro and Mural wire models.

Board JSON is untrusted and loosely typed (the Miro spec types style numbers as strings), so a
wrong type in one field turns that field into None instead of rejecting the whole item.
Wire models are ``TypedDict``s validated by pydantic: validation runs entirely in pydantic-core,
which keeps 100,000 items well under a second (model instances cost several times more).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, GetPydanticSchema
from pydantic_core import core_schema


def _none_on_error(source: Any, handler: Any) -> core_schema.CoreSchema:
    return core_schema.with_default_schema(handler(source), default=None, on_error="default")


NONE_ON_ERROR = GetPydanticSchema(_none_on_error)
"""Annotation: a value that fails validation becomes None instead of failing its item."""

LooseFloat = Annotated[float | None, NONE_ON_ERROR]
"""Numbers and numeric strings ("2.0", "NaN", "1e400") as float; anything else None."""

LooseStr = Annotated[str | None, NONE_ON_ERROR]
"""Strings, and numbers as their text (ids sometimes arrive as numbers); anything else None."""

WIRE_CONFIG = ConfigDict(extra="allow", coerce_numbers_to_str=True)
"""Config of every wire ``TypedDict``: unknown keys are kept (and counted), never fatal."""
