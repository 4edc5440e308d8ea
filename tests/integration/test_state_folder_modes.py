"""The embedded stack's state folder holds customer data (the services' SQLite files and their WAL, Temporal's
history), logs and the development key: the folder is 0700 and everything the stack writes in it 0600, from the first
byte, and files an older version left readable are tightened on the next start. A user's own files there are left
alone."""

from __future__ import annotations

import uuid

import pytest

from cadenza.private_files import loose_entries
from cadenza.processes import free_port
from cadenza.settings import SERVICE_NAMES
from cadenza.stack import EmbeddedStack, StackConfig

pytestmark = pytest.mark.integration


async def test_state_folder_and_its_files_are_private(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "erp.db-wal").write_bytes(b"")  # as an older version left it: world-readable
    (state / "erp.db-wal").chmod(0o644)
    mine = state / "notes.txt"
    mine.write_text("not Cadenza's")
    mine.chmod(0o644)
    config = StackConfig(
        state_dir=state,
        temporal_port=free_port(),
        ui_port=None,
        service_ports={name: free_port() for name in SERVICE_NAMES},
        token=f"test-{uuid.uuid4().hex}",
        with_worker=False,
    )
    stack = EmbeddedStack(config)
    try:
        await stack.start_services()
        written = {path.name for path in state.rglob("*")}
        assert {"erp.db", "erp.db-wal", "erp.db-shm", "logs", "erp.log"} <= written, written
        assert loose_entries(state) == [f"0644 {mine}"], "only the user's own file may stay readable by others"
    finally:
        stack.stop()
