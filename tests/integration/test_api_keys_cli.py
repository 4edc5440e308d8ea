"""`cadenza api-key` as an operator runs it: a real process, its stdout and stderr, its exit codes, and the key
store it leaves behind (no Temporal or services needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clients.api_keys import KEYS_FILE_NAME, SCOPES, KeyStoreSettings, load_key_store, looks_like_key

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def api_key(args: list[str], state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CADENZA_API_KEYS", "CADENZA_API_KEYS_FILE")}
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", "api-key", *args],
        env={**environ, "COLUMNS": "200", "CADENZA_STATE_DIR": str(state), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_create_prints_only_the_key_which_the_store_then_knows(tmp_path):
    created = api_key(
        ["create", "--scope", "orders:write", "--scope", "orders:read", "--customer", "c-17", "--name", "checkout"],
        tmp_path,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.removesuffix("\n")
    assert "\n" not in key and looks_like_key(key), f"stdout must be the key alone: {created.stdout!r}"

    entry = load_key_store(KeyStoreSettings(state_dir=tmp_path)).authenticate(key)
    assert entry is not None and not entry.revoked
    assert (entry.name, entry.scopes, entry.customer_id) == (
        "checkout",
        frozenset({"orders:write", "orders:read"}),
        "c-17",
    )
    assert entry.key_id in created.stderr and "only time the key is shown" in created.stderr
    assert key not in (tmp_path / KEYS_FILE_NAME).read_text()

    listed = api_key(["list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if entry.key_id in line)
    assert "checkout" in row and "orders:read orders:write" in row and "c-17" in row
    assert key not in listed.stdout and entry.sha256 not in listed.stdout

    revoked = api_key(["revoke", entry.key_id], tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert load_key_store(KeyStoreSettings(state_dir=tmp_path)).authenticate(key).revoked


def test_refusals_name_what_to_do_and_change_nothing(tmp_path):
    unknown_scope = api_key(["create", "--scope", "orders:read", "--scope", "orders:delete"], tmp_path)
    assert unknown_scope.returncode == 2 and unknown_scope.stdout == ""
    assert "orders:delete" in unknown_scope.stderr and all(scope in unknown_scope.stderr for scope in SCOPES)

    unknown_id = api_key(["revoke", "abcd1234"], tmp_path)
    assert unknown_id.returncode == 1 and "no API key with id 'abcd1234'" in unknown_id.stderr
    assert "cadenza api-key list" in unknown_id.stderr

    secret = tmp_path / "secret.json"
    secret.write_text('{"keys": []}')
    read_only = api_key(["create", "--scope", "orders:read"], tmp_path / "state", CADENZA_API_KEYS_FILE=str(secret))
    assert read_only.returncode == 1 and read_only.stdout == "" and "scratch folder" in read_only.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / KEYS_FILE_NAME).exists()
