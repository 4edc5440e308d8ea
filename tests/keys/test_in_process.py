"""Key material never appears in an error, a repr or a log, whatever is wrong with the configuration: every malformed
shape (tests/keys/malformed.py), in the variable and in a key file, through every function that reads keys — what the
worker, the CLI, the API, the codec server, `cadenza up` and `cadenza doctor` call. Before, a key pasted without its id
came back in the error ("key id '<the key>' must be …") and a KeyRing's repr showed the raw key bytes."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cadenza import codec, connection
from cadenza.codec import KEYS_ENV, KEYS_FILE_ENV, EncryptionCodec, KeyRing
from cadenza.stack import StackConfig
from codec_server.app import default_codec
from starters.doctor.keys import encryption
from starters.doctor.model import Context
from tests.keys.malformed import Shape, cases, configuration, leaks


def _stack_key_ring() -> object:
    config = StackConfig(state_dir=Path("/nonexistent/never-created"), temporal_port=1, ui_port=None, service_ports={})
    return config.key_ring()


def _process_converter() -> object:
    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()
    converter = connection.data_converter()
    logging.getLogger("test").info("%s", connection.encryption_summary())  # what a worker and the API log
    return converter


async def _doctor_row() -> object:
    async with httpx.AsyncClient() as http:
        outcome = await encryption(Context(http=http))
    return outcome


READERS: dict[str, Callable[[], Any]] = {
    "KeyRing.from_environment (worker, CLI, API)": KeyRing.from_environment,
    "cadenza.connection.data_converter": _process_converter,
    "codec server default_codec": default_codec,
    "StackConfig.key_ring (cadenza up)": _stack_key_ring,
    "cadenza doctor's encryption row": _doctor_row,
}

CASES = [pytest.param(shape, way, id=f"{shape.name} in {way}") for shape, way in cases()]


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[Shape, str], dict[str, str]]]:
    def configure(shape: Shape, way: str) -> dict[str, str]:
        config = configuration(shape, way, tmp_path)
        for name in (KEYS_ENV, KEYS_FILE_ENV):
            monkeypatch.delenv(name, raising=False)
        for name, value in config.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path / "state"))  # no development key to fall back on
        monkeypatch.setenv(codec.ENCRYPTION_ENV, "required")
        return config

    yield configure
    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()


def _everything_said(result: object, caplog: pytest.LogCaptureFixture) -> str:
    said = [repr(result), str(result), caplog.text]
    if isinstance(result, BaseException):
        said += traceback.format_exception(result)
        said += [
            repr(result.args),
            str(result.__cause__),
            str(result.__context__) if not result.__suppress_context__ else "",
        ]
    return "\n".join(said)


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@pytest.mark.parametrize("shape, way", CASES)
async def test_no_reader_repeats_key_material(shape: Shape, way: str, reader, keys_env, caplog):
    keys_env(shape, way)
    caplog.set_level(logging.DEBUG)
    try:
        result = reader()
        if hasattr(result, "__await__"):
            result = await result
    except Exception as err:  # noqa: BLE001 - the error is what is examined
        result = err
    assert leaks(_everything_said(result, caplog), shape) == []


@pytest.mark.parametrize("shape, way", [case for case in CASES if case.values[0].sets_keys])
def test_every_malformed_value_is_refused_saying_where(shape: Shape, way: str, keys_env):
    # Never silently taken as "no keys", and the message points at the variable or file to fix.
    config = keys_env(shape, way)
    with pytest.raises(codec.KeyRingError) as refused:
        KeyRing.from_environment()
    named = [KEYS_ENV, KEYS_FILE_ENV] + ([config[KEYS_FILE_ENV]] if way == "file" else [])
    assert any(name in str(refused.value) for name in named), str(refused.value)


def test_a_key_ring_and_the_codec_show_ids_never_keys():
    line = KeyRing.generate_line("k1")
    ring = KeyRing.parse(line, source="test")
    assert ring is not None
    key_shape = Shape("valid", line, (ring.keys["k1"],))
    codec_ = EncryptionCodec(ring, namespace="default")
    converter = codec.data_converter(ring, namespace="default")
    for shown in (repr(ring), str(ring), f"{ring}", repr(codec_), repr(converter), str([ring, codec_])):
        assert leaks(shown, key_shape) == [], shown
    assert "k1" in repr(ring)
