"""Page tokens (api/page_tokens.py): signed for the listing that gave them out, refused at once otherwise, and a
secret the API will not start without outside the embedded stack."""

from __future__ import annotations

import re

import pytest

from api.page_tokens import (
    PAGE_TOKEN_PATTERN,
    SECRET_ENV,
    SECRET_FILE_ENV,
    PageTokens,
    PageTokenSecretMissing,
)
from cadenza.problems import Problem
from cadenza.settings import EMBEDDED_ENV

LISTING = 'WorkflowType="OrderWorkflow" AND CustomerId="c-17"'


@pytest.fixture
def tokens() -> PageTokens:
    return PageTokens("a" * 40)


def test_a_token_continues_the_listing_it_was_given_for(tokens: PageTokens):
    signed = tokens.sign(b"temporal's own token", LISTING)
    assert re.fullmatch(PAGE_TOKEN_PATTERN, signed)
    assert tokens.verify(signed, LISTING) == b"temporal's own token"
    assert tokens.verify(None, LISTING) is None


def _tampered(signed: str) -> str:
    middle = len(signed) // 2
    return signed[:middle] + ("A" if signed[middle] != "A" else "B") + signed[middle + 1 :]


FORGERIES = {
    "tampered": _tampered,
    "signed with another secret": lambda _: PageTokens("b" * 40).sign(b"temporal's own token", LISTING),
    "the right shape, no tag": lambda _: "A" * 30,
    "not even base64": lambda _: "A" * 25,
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_token_this_api_did_not_sign_is_a_404_before_temporal_is_asked(tokens: PageTokens, forgery: str):
    forged = FORGERIES[forgery](tokens.sign(b"temporal's own token", LISTING))
    with pytest.raises(Problem) as refused:
        tokens.verify(forged, LISTING)
    assert refused.value.status == 404 and refused.value.errors[0].field == "page_token"


def test_a_token_of_another_listing_is_refused(tokens: PageTokens):
    signed = tokens.sign(b"temporal's own token", LISTING)
    with pytest.raises(Problem):
        tokens.verify(signed, LISTING.replace("c-17", "c-18"))


def test_outside_the_embedded_stack_the_secret_is_required(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    monkeypatch.delenv(EMBEDDED_ENV, raising=False)
    with pytest.raises(PageTokenSecretMissing, match=SECRET_ENV):
        PageTokens.from_environment()
    monkeypatch.setenv(SECRET_ENV, "short")
    with pytest.raises(PageTokenSecretMissing, match="at least 32") as short:
        PageTokens.from_environment()
    assert "short" not in str(short.value).replace("at least", "")  # the secret itself is never shown


def test_the_secret_can_come_from_a_mounted_file(monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(EMBEDDED_ENV, raising=False)
    secret = tmp_path / "page-token-secret"
    secret.write_text("f" * 40 + "\n")
    monkeypatch.setenv(SECRET_FILE_ENV, str(secret))
    signed = PageTokens.from_environment().sign(b"t", LISTING)
    assert PageTokens("f" * 40).verify(signed, LISTING) == b"t"
    monkeypatch.setenv(SECRET_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(PageTokenSecretMissing, match="cannot read it"):
        PageTokens.from_environment()


def test_the_embedded_stack_has_a_development_default_and_a_set_secret_wins(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.delenv(SECRET_FILE_ENV, raising=False)
    monkeypatch.setenv(EMBEDDED_ENV, "1")
    development = PageTokens.from_environment()
    monkeypatch.setenv(SECRET_ENV, "s" * 32)
    configured = PageTokens.from_environment()
    signed = development.sign(b"t", LISTING)
    assert development.verify(signed, LISTING) == b"t"
    with pytest.raises(Problem):
        configured.verify(signed, LISTING)
