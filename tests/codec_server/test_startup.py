"""Where the codec server may listen, and how the embedded stack wires it to the Web UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cadenza.processes import free_port, port_in_use
from cadenza.stack import EmbeddedStack, StackConfig
from codec_server.access import InvalidAccessSettings, StaticTokens
from codec_server.settings import CodecServerSettings, InsecureBinding, check_exposure
from tests.codec_server.conftest import STATIC_TOKENS, UI_ORIGINS

REPO = Path(__file__).resolve().parents[2]
CADENZA = [sys.executable, "-c", "from starters.cli import main; main()"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "codec.example.com"])
def test_the_cli_refuses_to_listen_beyond_loopback_without_auth(host):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENZA_CODEC_")}
    refused = subprocess.run(
        [*CADENZA, "codec-server", "--host", host, "--port", str(port)],
        env={**env, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert refused.returncode == 2, refused.stderr
    assert "Refusing to serve the codec server" in refused.stderr and "CADENZA_CODEC_TOKENS" in refused.stderr
    assert not port_in_use(port)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_auth(host):
    check_exposure(host, CodecServerSettings(origins=UI_ORIGINS))


def test_beyond_loopback_with_auth_and_its_names_is_allowed():
    tokens = StaticTokens.parse(STATIC_TOKENS)
    check_exposure(
        "0.0.0.0", CodecServerSettings(origins=UI_ORIGINS, tokens=tokens, allowed_hosts=("codec.example.com",))
    )
    with pytest.raises(InsecureBinding, match="without authentication"):
        check_exposure("0.0.0.0", CodecServerSettings(origins=UI_ORIGINS, allowed_hosts=("codec.example.com",)))
    # Every name but localhost is refused (DNS rebinding), so without its names the Web UI could not reach it.
    with pytest.raises(InsecureBinding, match="CADENZA_CODEC_ALLOWED_HOSTS"):
        check_exposure("0.0.0.0", CodecServerSettings(origins=UI_ORIGINS, tokens=tokens))


@pytest.mark.parametrize("names", ["*", "*.example.com", "https://codec.example.com", "codec.example.com:443", "a b"])
def test_allowed_hosts_are_plain_names(names):
    with pytest.raises(InvalidAccessSettings, match="CADENZA_CODEC_ALLOWED_HOSTS"):
        CodecServerSettings.from_environment({"CADENZA_CODEC_ALLOWED_HOSTS": f"codec.example.com,{names}"})


def test_allowed_hosts_come_from_the_environment():
    settings = CodecServerSettings.from_environment(
        {"CADENZA_CODEC_ALLOWED_HOSTS": " Codec.Example.com, cadenza-codec-server "}
    )
    assert settings.allowed_hosts == ("codec.example.com", "cadenza-codec-server")


def _config(tmp_path: Path, **changes: object) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path,
        temporal_port=7233,
        ui_port=8233,
        service_ports={"erp": 1, "payment": 2, "inventory": 3},
    ).with_(**changes)


def test_the_dev_server_is_told_where_the_codec_server_is(tmp_path):
    argv = EmbeddedStack(_config(tmp_path, codec_port=8234)).temporal_argv()
    assert argv[argv.index("--ui-codec-endpoint") + 1] == "http://localhost:8234"
    assert "--ui-codec-endpoint" not in EmbeddedStack(_config(tmp_path)).temporal_argv()


def test_cadenza_up_serves_the_codec_server_on_8234_unless_moved(monkeypatch, tmp_path):
    monkeypatch.delenv("CADENZA_CODEC_PORT", raising=False)
    assert StackConfig.from_settings().codec_port == 8234
    monkeypatch.setenv("CADENZA_CODEC_PORT", "9001")
    assert StackConfig.from_settings().codec_port == 9001
    monkeypatch.setenv("CADENZA_CODEC_PORT", "0")
    assert StackConfig.from_settings().codec_port is None
