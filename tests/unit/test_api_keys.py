"""The API key store (clients/api_keys.py): only hashes on disk, revocation, secret sources, reload on change."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clients.api_keys import (
    KEYS_FILE_NAME,
    KeyStore,
    KeyStoreError,
    KeyStoreSettings,
    ReadOnlyKeyStore,
    UnknownKeyId,
    load_key_store,
    looks_like_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dev_store(state: Path, **options: float) -> KeyStore:
    return load_key_store(KeyStoreSettings(state_dir=state), **options)


def test_only_the_hash_is_stored_in_a_file_only_its_owner_can_read(tmp_path):
    store = dev_store(tmp_path)
    key, entry = store.create(name="checkout", scopes=["orders:write", "orders:read"], customer_id="c-17")

    path = tmp_path / KEYS_FILE_NAME
    text = path.read_text()
    assert key.startswith("cdz_") and looks_like_key(key) and len(key) == 4 + 43
    assert key not in text and key.removeprefix("cdz_") not in text
    assert json.loads(text)["keys"][0]["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*.tmp")), "the temporary file of the atomic write was left behind"

    found = dev_store(tmp_path).authenticate(key)  # a fresh reader, as the API process is
    assert found == entry
    assert (found.name, found.scopes, found.customer_id, found.revoked) == (
        "checkout",
        frozenset({"orders:write", "orders:read"}),
        "c-17",
        False,
    )
    assert store.authenticate(key + "x") is None and store.authenticate("cdz_" + "A" * 43) is None


def test_keys_and_ids_are_distinct_and_every_create_is_kept(tmp_path):
    created = [dev_store(tmp_path).create(name=f"k{i}", scopes=["orders:read"]) for i in range(5)]
    assert len({key for key, _ in created}) == len({entry.key_id for _, entry in created}) == 5
    assert [entry.name for entry in dev_store(tmp_path).entries()] == [f"k{i}" for i in range(5)]


def test_revoke_keeps_the_entry_marked_and_the_first_time(tmp_path):
    store = dev_store(tmp_path)
    key, entry = store.create(name="checkout", scopes=["orders:read"])
    other_key, _ = store.create(name="other", scopes=["orders:read"])

    revoked = store.revoke(entry.key_id)
    assert revoked.revoked and revoked.key_id == entry.key_id
    assert store.authenticate(key).revoked_at == revoked.revoked_at
    assert not store.authenticate(other_key).revoked
    assert store.revoke(entry.key_id).revoked_at == revoked.revoked_at
    before = (tmp_path / KEYS_FILE_NAME).read_text()
    with pytest.raises(UnknownKeyId, match="cadenza api-key list"):
        store.revoke("nosuchid")
    assert (tmp_path / KEYS_FILE_NAME).read_text() == before


def test_a_running_reader_sees_a_revocation_without_a_restart(tmp_path):
    clock = FakeClock()
    api_side = KeyStore(tmp_path / KEYS_FILE_NAME, origin="test", writable=True, reload_interval=1.0, clock=clock)
    cli_side = dev_store(tmp_path)
    key, entry = cli_side.create(name="checkout", scopes=["orders:read"])
    clock.now += 1.0
    assert api_side.authenticate(key) is not None and not api_side.authenticate(key).revoked

    cli_side.revoke(entry.key_id)
    assert not api_side.authenticate(key).revoked, "re-read before reload_interval: a stat on every request"
    clock.now += 1.0
    assert api_side.authenticate(key).revoked


def test_a_broken_edit_keeps_the_keys_read_before_and_says_so(tmp_path, caplog):
    store = dev_store(tmp_path, reload_interval=0.0)
    key, _ = store.create(name="checkout", scopes=["orders:read"])
    reader = dev_store(tmp_path, reload_interval=0.0)
    assert reader.authenticate(key) is not None

    (tmp_path / KEYS_FILE_NAME).write_text('{"keys": [{"key_id": ')
    with caplog.at_level(logging.ERROR, logger="cadenza.api.keys"):
        assert reader.authenticate(key) is not None
        assert reader.authenticate(key) is not None
    assert len(caplog.records) == 1 and "still using the API keys read before" in caplog.text
    with pytest.raises(KeyStoreError, match="is not a valid API key list"):
        dev_store(tmp_path)  # a process starting on a broken file refuses to start


def test_a_secret_file_is_used_read_only_and_the_state_folder_is_not(tmp_path, monkeypatch):
    key, _ = dev_store(tmp_path / "scratch").create(name="partner", scopes=["orders:read"], customer_id="c-9")
    secret = tmp_path / "secret" / "api-keys.json"
    secret.parent.mkdir()
    (tmp_path / "scratch" / KEYS_FILE_NAME).rename(secret)
    state = tmp_path / "state"
    monkeypatch.setenv("CADENZA_STATE_DIR", str(state))
    monkeypatch.setenv("CADENZA_API_KEYS_FILE", str(secret))
    monkeypatch.delenv("CADENZA_API_KEYS", raising=False)

    store = KeyStore.from_environment()
    assert store.authenticate(key).customer_id == "c-9"
    with pytest.raises(ReadOnlyKeyStore, match="CADENZA_API_KEYS_FILE"):
        store.create(name="x", scopes=["orders:read"])
    with pytest.raises(ReadOnlyKeyStore):
        store.revoke(store.entries()[0].key_id)
    assert not state.exists(), "a secret source must leave the state folder alone"

    monkeypatch.setenv("CADENZA_API_KEYS_FILE", str(tmp_path / "missing.json"))
    with pytest.raises(KeyStoreError, match="no such file"):
        KeyStore.from_environment()


def test_keys_from_an_environment_variable(tmp_path, monkeypatch):
    key, _ = dev_store(tmp_path).create(name="ci", scopes=["orders:operate"])
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CADENZA_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("CADENZA_API_KEYS", (tmp_path / KEYS_FILE_NAME).read_text())

    store = KeyStore.from_environment()
    assert store.authenticate(key).scopes == frozenset({"orders:operate"})
    with pytest.raises(ReadOnlyKeyStore, match="CADENZA_API_KEYS"):
        store.create(name="x", scopes=["orders:read"])
    assert not (tmp_path / "state").exists()

    monkeypatch.setenv("CADENZA_API_KEYS", '{"keys": [{"key_id": "abcd1234", "scopes": ["orders:delete"]}]}')
    with pytest.raises(KeyStoreError, match=r"CADENZA_API_KEYS is not a valid API key list: keys.0"):
        KeyStore.from_environment()
    monkeypatch.setenv("CADENZA_API_KEYS_FILE", str(tmp_path / KEYS_FILE_NAME))
    with pytest.raises(KeyStoreError, match="keep one of them"):
        KeyStore.from_environment()


def test_keys_created_at_the_same_time_are_all_kept(tmp_path):
    # Several `cadenza api-key create` at once (a provisioning script): each reads, adds and writes the file; the
    # lock makes those read-modify-writes take turns instead of overwriting each other.
    def create_five(worker: int) -> None:
        for i in range(5):
            dev_store(tmp_path).create(name=f"w{worker}-{i}", scopes=["orders:read"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create_five, range(4)))
    assert len(dev_store(tmp_path).entries()) == 20
