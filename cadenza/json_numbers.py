"""Integers as JSON Schema counts them, for the models the kernel and the services share (cadenza/faults.py,
services/common/fields.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def whole_float_as_int(value: Any) -> Any:
    # Only floats with no fraction change; strings, booleans and 100.5 still meet the strict integer check.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(whole_float_as_int)]
"""A strict integer that also takes a JSON number with a zero fraction (``2.0``), as JSON Schema's ``integer`` does."""
