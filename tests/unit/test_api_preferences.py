"""`Prefer` on `POST /orders` (api/preferences.py): the waits the API honours, the ones it refuses, and the OpenAPI
pattern that states the same rule — checked against the parser on generated headers, both ways."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.preferences import PAYMENT, PREFER_PATTERN, wait_preference
from cadenza.problems import Problem


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, None),
        ("", None),
        ("return=minimal", None),
        ("wait=30", 30.0),
        ("WAIT = 2.5", 2.5),
        ('wait="7"', 7.0),
        ("wait=600", 60.0),  # capped: the longest the API waits
        ("wait=0", None),
        ("wait=payment", PAYMENT),
        ("respond-async, Wait=Payment; foo=bar", PAYMENT),
        ("wait=5, wait=payment", 5.0),  # RFC 7240: the first of a repeated preference counts
        ("waiting=nan", None),  # another preference, ignored
        ("respond-async; wait=nan", None),  # a parameter of another preference, not a wait
    ],
)
def test_the_waits_the_api_honours(prefer, wait):
    assert wait_preference(prefer) == wait


@pytest.mark.parametrize(
    "prefer",
    ["wait=nan", "wait=inf", "wait=-1", "wait=1e3", "wait", "wait=", "wait=soon", "wait=5 s", "wait=5, wait=nan"],
)
def test_a_wait_the_api_cannot_honour_is_a_422_naming_the_header(prefer):
    with pytest.raises(Problem) as refused:
        wait_preference(prefer)
    assert refused.value.status == 422
    assert refused.value.errors[0].field == "Prefer"
    assert "wait=N" in refused.value.detail and "wait=payment" in refused.value.detail


def _accepted(prefer: str) -> bool:
    try:
        wait_preference(prefer)
    except Problem:
        return False
    return True


_PIECES = st.sampled_from(
    ["wait", "WaIt", "=", " ", "\t", ",", ";", '"', "payment", "5", "0.5", ".", "-", "nan", "x", "e"]
)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    st.lists(_PIECES, max_size=12).map("".join) | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126))
)
def test_the_documented_pattern_and_the_parser_agree(prefer):
    assert bool(re.search(PREFER_PATTERN, prefer)) == _accepted(prefer), prefer
