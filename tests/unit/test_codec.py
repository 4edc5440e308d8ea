"""The payload codec on its own: what it writes can only be read back with the key it names, untouched, in the
namespace it was written in."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from cadenza import codec
from cadenza.codec import (
    EncryptionCodec,
    KeyRing,
    KeyRingError,
    NamespaceMismatch,
    PayloadTampered,
    UnboundPayloadRefused,
    UnknownEncryptionKey,
)
from cadenza.settings import InvalidSetting
from tests.conftest import TEST_KEYS_FILE, make_order
from workflows.models import StoredOrder

MARKER = "Marker-7f3a-Customer"


def ring(*ids: str) -> KeyRing:
    return KeyRing.parse(",".join(KeyRing.generate_line(key_id) for key_id in ids), source="test")  # type: ignore[return-value]


def plaintext(text: str = MARKER) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def in_default(keys: KeyRing | None) -> EncryptionCodec:
    return EncryptionCodec(keys, namespace="default")


async def test_round_trip_hides_data_and_encoding_and_names_the_key():
    keys = ring("k1")
    [sealed] = await in_default(keys).encode([plaintext()])
    assert MARKER.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    assert dict(sealed.metadata) == {
        "encoding": b"binary/encrypted",
        "encryption-key-id": b"k1",
        "encryption-namespace": b"default",
    }
    assert await in_default(keys).decode([sealed]) == [plaintext()]


async def test_same_payload_encrypts_differently_each_time():
    keys = in_default(ring("k1"))
    first, second = await keys.encode([plaintext(), plaintext()])
    assert first.data != second.data  # a fresh nonce per payload: equal inputs are not recognisable in history


@pytest.mark.parametrize("tamper", ["data", "key-id", "namespace relabelled", "namespace removed"])
async def test_tampered_payload_is_an_error(tamper: str):
    keys = ring("k1", "k2")
    [sealed] = await EncryptionCodec(keys, namespace="default").encode([plaintext()])
    reader = EncryptionCodec(keys, namespace="default")
    if tamper == "data":
        sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    elif tamper == "key-id":  # relabelled as the other key of the ring: the key id is bound to the ciphertext
        sealed.metadata["encryption-key-id"] = b"k2"
    elif tamper == "namespace relabelled":  # as the reader's namespace: the namespace is bound too
        sealed.metadata["encryption-namespace"] = b"sandbox"
        reader = reader.for_namespace("sandbox")
    else:  # passed off as a payload from before namespaces were bound
        del sealed.metadata["encryption-namespace"]
    with pytest.raises(PayloadTampered, match="fails authentication"):
        await reader.decode([sealed])


async def test_a_payload_is_read_only_in_the_namespace_it_was_written_in():
    keys = ring("k1")
    [sealed] = await EncryptionCodec(keys, namespace="default").encode([plaintext()])
    # A worker of `sandbox` handed a `default` payload (copied into one of its workflows) refuses it, key untouched.
    with pytest.raises(NamespaceMismatch, match=r"written in namespace 'default'.*for namespace 'sandbox'") as refused:
        await EncryptionCodec(keys, namespace="sandbox").decode([sealed])
    assert (refused.value.bound, refused.value.asked) == ("default", "sandbox")
    assert await EncryptionCodec(keys, namespace="sandbox").for_namespace("default").decode([sealed]) == [plaintext()]


async def test_payloads_written_before_the_binding_read_until_retired():
    keys = ring("k1")
    [sealed] = await in_default(keys).encode([plaintext()])
    # What the codec wrote before namespaces were bound: the key id alone as associated data, no namespace.
    del sealed.metadata["encryption-namespace"]
    nonce = sealed.data[: codec.NONCE_BYTES]
    sealed.data = nonce + AESGCM(keys.keys["k1"]).encrypt(nonce, plaintext().SerializeToString(), b"k1")
    assert await EncryptionCodec(keys, namespace="sandbox").decode([sealed]) == [plaintext()]
    with pytest.raises(UnboundPayloadRefused, match="CADENZA_ENCRYPTION_UNBOUND=refuse"):
        await EncryptionCodec(keys, namespace="default", accept_unbound=False).decode([sealed])


@pytest.mark.parametrize(("value", "accepted"), [("", True), ("accept", True), ("REFUSE", False)])
def test_the_unbound_setting(value: str, accepted: bool):
    assert codec.unbound_accepted({"CADENZA_ENCRYPTION_UNBOUND": value}) is accepted
    with pytest.raises(InvalidSetting, match="CADENZA_ENCRYPTION_UNBOUND='sometimes' is not one of accept or refuse"):
        codec.unbound_accepted({"CADENZA_ENCRYPTION_UNBOUND": "sometimes"})


# Sealed once with the committed test-only key for namespace `default`. Every history written since the namespace
# binding holds payloads like it: if this stops decrypting, so do they (cadenza.codec.associated_data).
SEALED_FOR_DEFAULT = Payload(
    metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"test-only-1", "encryption-namespace": b"default"},
    data=base64.b64decode(
        "f8S0gv3eS+iL16TFOklQlZ8CgLlNLJMXgRoETICTZRRSyfVjEKz3mV0tCiPlc4cMmgrK1Cn0l9eJB/Qsy+oJcyIaezPY1DqxiU2TXCIDtWCPWLY+Hw=="
    ),
)


async def test_a_payload_sealed_under_the_binding_keeps_decrypting():
    [opened] = await in_default(KeyRing.from_file(TEST_KEYS_FILE)).decode([SEALED_FOR_DEFAULT])
    assert opened == Payload(metadata={"encoding": b"json/plain"}, data=b'"sealed once, readable forever"')


async def test_unknown_key_id_names_it_and_what_to_do():
    [sealed] = await in_default(ring("old-key")).encode([plaintext()])
    with pytest.raises(UnknownEncryptionKey, match=r"'old-key'.*holds only new-key.*CADENZA_ENCRYPTION_KEYS") as err:
        await in_default(ring("new-key")).decode([sealed])
    assert err.value.key_id == "old-key"
    with pytest.raises(UnknownEncryptionKey, match=r"'old-key'.*holds no keys at all"):
        await in_default(None).decode([sealed])


async def test_plaintext_payloads_pass_through_decode():
    # Histories written before encryption was switched on keep decoding.
    assert await in_default(ring("k1")).decode([plaintext()]) == [plaintext()]


async def test_without_keys_nothing_is_encrypted():
    assert await in_default(None).encode([plaintext()]) == [plaintext()]


async def test_rotation_encrypts_with_the_new_key_and_still_reads_the_old():
    old = ring("k1")
    [under_old] = await in_default(old).encode([plaintext()])
    rotated = KeyRing(active_id="k2", keys={"k2": ring("k2").keys["k2"], **old.keys})
    [under_new] = await in_default(rotated).encode([plaintext()])
    assert under_new.metadata["encryption-key-id"] == b"k2"
    assert await in_default(rotated).decode([under_old, under_new]) == [plaintext(), plaintext()]


async def test_the_data_converter_encrypts_values_and_failure_messages():
    converter = codec.data_converter(ring("k1"), namespace="default")
    order = StoredOrder.model_validate(make_order(token="tok_" + MARKER.replace("-", "_")).model_dump())
    [payload] = await converter.encode([order])
    assert b"tok_Marker" not in payload.SerializeToString()
    assert await converter.decode([payload], [StoredOrder]) == [order]

    failure = Failure()
    await converter.encode_failure(ApplicationError(f"address {MARKER} refused"), failure)
    assert MARKER.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == f"address {MARKER} refused"


def test_key_lines_parse_first_active_with_comments_and_new_lines():
    k1, k2 = KeyRing.generate_line("k1"), KeyRing.generate_line("k2")
    parsed = KeyRing.parse(f"# rotated today\n{k2}\n{k1}  # old\n", source="file")
    assert parsed is not None and parsed.active_id == "k2" and parsed.ids == ["k2", "k1"]
    assert KeyRing.parse(f"{k2},{k1}", source="env") == KeyRing.parse(f"{k2}\n{k1}", source="env")
    assert KeyRing.parse(" # nothing\n", source="env") is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("k1", "key line 1 has no '='"),
        (base64.b64encode(bytes(32)).decode(), "key line 1 is a key without its id"),
        ("k1=not base64!", "key line 1: the key after '=' is not standard base64"),
        (f"k1={base64.b64encode(b'short').decode()}", "key line 1: the key is 5 bytes, AES-256 needs 32"),
        ("k 1=" + base64.b64encode(bytes(32)).decode(), "key line 1: the key id before '=' must be 1-64 of"),
        (
            f"k1={base64.b64encode(bytes(32)).decode()},k1={base64.b64encode(bytes(32)).decode()}",
            "key line 2 repeats the key id of key line 1",
        ),
    ],
)
def test_bad_key_lines_are_refused_with_a_reason(text: str, error: str):
    # By position only: tests/keys/ checks that no shape of mistake brings key material into the message.
    with pytest.raises(KeyRingError, match=f"^CADENZA_ENCRYPTION_KEYS, {error}"):
        KeyRing.parse(text, source="CADENZA_ENCRYPTION_KEYS")


def test_environment_takes_keys_then_key_file(tmp_path):
    line = KeyRing.generate_line("from-file")
    (tmp_path / "keys").write_text(line + "\n")
    assert KeyRing.configured({"CADENZA_ENCRYPTION_KEYS_FILE": str(tmp_path / "keys")}).active_id == "from-file"
    both = {
        "CADENZA_ENCRYPTION_KEYS": KeyRing.generate_line("from-env"),
        "CADENZA_ENCRYPTION_KEYS_FILE": "/nonexistent",
    }
    assert KeyRing.configured(both).active_id == "from-env"
    assert KeyRing.configured({}) is None


def test_the_dev_key_file_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "state" / "encryption-keys"
    first = codec.ensure_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert codec.ensure_key_file(path) == first


async def test_a_missing_key_failure_stays_readable_to_whoever_lacks_the_key():
    # The workflow task failure an operator sees when a worker misses a key: it names the key id, in clear.
    failure = Failure()
    await codec.data_converter(ring("k1"), namespace="default").encode_failure(
        UnknownEncryptionKey("k0", ["k1"]), failure
    )
    assert "'k0'" in failure.message and not failure.HasField("encoded_attributes")


@pytest.fixture
def fresh_process_keys():
    """`cadenza.connection` reads the key ring once per process: forget it around a test that changes the env."""
    from cadenza import connection

    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()
    yield connection
    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()


def test_the_policy_without_keys(fresh_process_keys, monkeypatch, tmp_path):
    connection = fresh_process_keys
    monkeypatch.delenv(codec.KEYS_FILE_ENV, raising=False)
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path))  # no embedded stack's key to fall back on either
    assert connection.key_ring() is None
    assert "payloads are NOT encrypted" in connection.encryption_summary()
    assert connection.data_converter().failure_converter_class is not codec.EncodedFailureConverter

    monkeypatch.setenv(codec.ENCRYPTION_ENV, "required")
    connection.data_converter.cache_clear()
    with pytest.raises(connection.EncryptionMissing, match="cadenza keys generate"):
        connection.data_converter()

    monkeypatch.setenv(codec.ENCRYPTION_ENV, "sometimes")
    connection.key_ring.cache_clear()
    with pytest.raises(InvalidSetting, match="CADENZA_ENCRYPTION='sometimes' is not one of required, optional or off"):
        connection.key_ring()


def test_the_embedded_stacks_key_is_found_from_another_terminal(fresh_process_keys, monkeypatch, tmp_path):
    # `cadenza up` in one terminal, `cadenza order status` in another: same state folder, no key configured.
    monkeypatch.delenv(codec.KEYS_FILE_ENV, raising=False)
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path))
    made = codec.ensure_key_file(tmp_path / codec.STATE_KEYS_FILE)
    assert fresh_process_keys.key_ring() == made
    assert "payloads encrypted with key 'dev-" in fresh_process_keys.encryption_summary()
