"""Every command that reads keys, run as a user runs it, with every malformed key configuration
(tests/keys/malformed.py): it refuses to start (never runs without keys, never takes a bad line as "no keys"), says
what to fix, and nothing it prints — stdout, stderr, the logs it writes — holds any of the key material. Each process
ends at the keys: Temporal's address points at a closed port, the state folder holds no development key and
encryption is required."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from cadenza.codec import KEYS_ENV, KEYS_FILE_ENV
from cadenza.processes import free_port
from tests.keys.malformed import Shape, cases, configuration, leaks

REPO = Path(__file__).resolve().parents[2]
CADENZA = [sys.executable, "-c", "from starters.cli import main; main()"]
PYTHON = [sys.executable, "-m"]
# Two at a time: the machine has two cores, and each run is a Python start-up.
PARALLEL = 2

ENTRY_POINTS = {
    "worker (python -m workers)": [*PYTHON, "workers"],
    "cadenza worker": [*CADENZA, "worker"],
    "codec server (python -m codec_server)": [*PYTHON, "codec_server", "--port", "{port}"],
    "cadenza codec-server": [*CADENZA, "codec-server", "--port", "{port}"],
    "Order API (python -m api)": [*PYTHON, "api", "--port", "{port}"],
    "cadenza api": [*CADENZA, "api", "--port", "{port}"],
    "cadenza order status": [*CADENZA, "order", "status", "ord-1"],
    "cadenza replay": [*CADENZA, "replay", "tests/histories/encrypted/happy_path.json"],
    "cadenza doctor": [*CADENZA, "doctor"],
    "cadenza up": [*CADENZA, "up"],
}
# `cadenza up` makes a development key when none is configured (its purpose), so it only gets values that configure
# keys; an empty or blank variable means "none configured" to every command.
CONFIGURES_ONLY = {"cadenza up"}


def _environment(config: dict[str, str], state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEYS_ENV, KEYS_FILE_ENV, "CADENZA_DEBUG")}
    ports = {
        name: str(free_port())
        for name in ("TEMPORAL", "TEMPORAL_UI", "ERP", "PAYMENT", "INVENTORY", "API", "CODEC", "METRICS")
    }
    return {
        **env,
        **config,
        **{f"CADENZA_{name}_PORT": port for name, port in ports.items()},
        # What these runs check is the keys: a stack that gets as far as starting services needs none for travel.
        **{f"CADENZA_{name}_PORT": "0" for name in ("FLIGHT", "HOTEL", "CAR")},
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "CADENZA_ENCRYPTION": "required",
        "CADENZA_STATE_DIR": str(state),
        "COLUMNS": "300",
        "CADENZA_API_URL": "http://127.0.0.1:1",
        "CADENZA_CODEC_URL": "http://127.0.0.1:1",
    }


async def _run(argv: list[str], shape: Shape, way: str, folder: Path, slots: asyncio.Semaphore) -> list[str]:
    """What went wrong with one run (empty: nothing)."""
    folder.mkdir(parents=True)  # noqa: ASYNC240 - one local mkdir before the runs start
    config = configuration(shape, way, folder)
    argv = [arg.replace("{port}", str(free_port())) for arg in argv]
    async with slots:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=REPO,
            env=_environment(config, folder / "state"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout=90)
        except TimeoutError:
            process.kill()
            await process.wait()
            return [f"{shape.name} in {way}: still running after 90 s (it started without usable keys?)"]
    logs = b"".join(
        path.read_bytes() for path in (folder / "state").rglob("*") if path.is_file() and path.name != "encryption-keys"
    )
    problems = [
        f"{shape.name} in {way}: key material in its output ({where})" for where in leaks(out + err + logs, shape)
    ]
    said = (out + err).decode(errors="replace")
    if process.returncode == 0:
        problems.append(f"{shape.name} in {way}: exited 0, it ran with this key configuration")
    if shape.sets_keys and not any(name in said for name in (KEYS_ENV, KEYS_FILE_ENV, str(folder))):
        problems.append(f"{shape.name} in {way}: does not say which setting to fix: {said[-300:]!r}")
    return problems


@pytest.mark.timeout(900)
@pytest.mark.parametrize("argv", ENTRY_POINTS.values(), ids=ENTRY_POINTS.keys())
async def test_a_command_with_malformed_keys_never_prints_them(argv: list[str], request, tmp_path: Path):
    entry_point = request.node.callspec.id
    runs = [(shape, way) for shape, way in cases() if shape.sets_keys or entry_point not in CONFIGURES_ONLY]
    slots = asyncio.Semaphore(PARALLEL)
    results = await asyncio.gather(
        *(_run(argv, shape, way, tmp_path / f"run-{number}", slots) for number, (shape, way) in enumerate(runs))
    )
    problems = [problem for result in results for problem in result]
    assert problems == [], "\n".join(problems)
