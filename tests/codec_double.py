"""A small AES-256-GCM payload codec for the codec server's tests, standing in for cadenza.codec: same contract
(encrypted payloads marked `binary/encrypted` with their key id, anything else passed through), one fixed key."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"


class AesGcmTestCodec(PayloadCodec):
    def __init__(self, key: bytes | None = None, key_id: str = "test-key") -> None:
        self._aead = AESGCM(key or AESGCM.generate_key(bit_length=256))
        self.key_id = key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = nonce + self._aead.encrypt(nonce, payload.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self.key_id.encode()}, data=sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"").decode(errors="replace")
            if key_id != self.key_id:
                raise ValueError(f"no key {key_id!r} to decrypt this payload")
            nonce, sealed = payload.data[:12], payload.data[12:]
            out.append(Payload.FromString(self._aead.decrypt(nonce, sealed, None)))
        return out
