"""Page tokens of `GET /orders`: Temporal's own, signed by this API for the listing they continue.

A token is base64url (no padding) of an HMAC-SHA256 tag (16 bytes) and Temporal's token. The tag covers the
listing's query too, so a token continues only the listing that gave it out: a forged token, or one given for
another customer or filter, is refused here at once — never sent to Temporal, which answers a token it cannot read
with an internal error its client retries for seconds.

The key is `CADENZA_API_PAGE_TOKEN_SECRET`, or the file `CADENZA_API_PAGE_TOKEN_SECRET_FILE` names (a mounted
secret): at least 32 characters, the same on every replica behind one load balancer, or a token from one is refused
by the next. The embedded stack (`cadenza up`) has a development default; anywhere else the API refuses to start
without it. Changing it invalidates the tokens given out so far: a client then starts its listing again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path

from cadenza.errors import CadenzaError
from cadenza.problems import InvalidField, Problem
from cadenza.settings import settings

SECRET_ENV = "CADENZA_API_PAGE_TOKEN_SECRET"
SECRET_FILE_ENV = "CADENZA_API_PAGE_TOKEN_SECRET_FILE"
MIN_SECRET_LENGTH = 32
# Known to everyone, so only ever used by the embedded stack, whose API listens on loopback for one developer.
_DEVELOPMENT_SECRET = "cadenza-embedded-stack-page-tokens-not-a-secret"
_TAG_BYTES = 16

PAGE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{23,4096}$"
"""What a token looks like (the OpenAPI document states it): base64url of at least a tag and one byte."""


class PageTokenSecretMissing(CadenzaError, RuntimeError):
    """The API cannot sign page tokens; the message names the variable to set."""


class PageTokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise PageTokenSecretMissing(
                f"The page-token secret ({SECRET_ENV} or {SECRET_FILE_ENV}) is {len(secret)} characters long; use at "
                f"least {MIN_SECRET_LENGTH} random ones, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        self._key = secret.encode()

    @classmethod
    def from_environment(cls) -> PageTokens:
        secret = _configured_secret()
        if not secret:
            if not settings().temporal_embedded:
                raise PageTokenSecretMissing(
                    f"Neither {SECRET_ENV} nor {SECRET_FILE_ENV} is set: the Order API signs its page tokens with that "
                    f"secret. Set one to at least {MIN_SECRET_LENGTH} random characters, the same on every replica "
                    "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
                )
            secret = _DEVELOPMENT_SECRET
        return cls(secret)

    def sign(self, token: bytes, listing: str) -> str:
        return base64.urlsafe_b64encode(self._tag(token, listing) + token).rstrip(b"=").decode()

    def verify(self, text: str | None, listing: str) -> bytes | None:
        """Temporal's token inside `text`, if this API signed it for `listing`; the 404 problem otherwise."""
        if not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise no_such_page() from None
        tag, token = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if not token or not hmac.compare_digest(tag, self._tag(token, listing)):
            raise no_such_page()
        return token

    def _tag(self, token: bytes, listing: str) -> bytes:
        return hmac.new(self._key, listing.encode() + b"\0" + token, hashlib.sha256).digest()[:_TAG_BYTES]


def _configured_secret() -> str:
    current = settings()
    if secret := current.get(SECRET_ENV):
        return str(secret)
    if (file := current.get(SECRET_FILE_ENV)) is None:
        return ""
    try:
        return Path(file).read_text().strip()
    except (OSError, UnicodeDecodeError) as err:
        # The error names the file and why, never its content.
        raise PageTokenSecretMissing(
            f"{SECRET_FILE_ENV}={file}: cannot read it ({type(err).__name__}); check the mount"
        ) from None


def no_such_page() -> Problem:
    # A 404, not a 422: the token is well formed (its format is all a schema can state) but names no page this API
    # gave out — like an order id that names no order.
    message = "not a token this API gave out for this listing"
    return Problem(
        404,
        "Page not found",
        f"page_token: {message}; start the listing again without it.",
        errors=[InvalidField(field="page_token", message=message)],
    )
