"""One Settings holds every CADENZA_* variable, and a bad value of any of them stops a process with one message."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cadenza.errors import EXIT_BAD_INPUT
from cadenza.settings import InvalidSetting, Settings, load_settings, settings, variable

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ("cadenza", "workflows", "activities", "clients", "workers", "starters", "api", "codec_server", "services")
DEPLOYMENT = ("deploy", "docker-compose.yml", "Dockerfile")
NOT_SETTINGS = {"CADENZA_IMAGE": "docker compose's image tag, read by compose itself, never by a Cadenza process"}
_NAME = re.compile(r"CADENZA_[A-Z0-9_]+")

# A value each kind of setting cannot take.
BAD = {
    "port": "eighty",
    "count": "0",
    "flag": "maybe",
    "duration": "soon",
    "rate": "fast",
    "name": "cadenza.prod",
    "choice": "bogus",
}
MESSAGE = re.compile(
    r"^(?P<variable>CADENZA_[A-Z0-9_]+)='(?P<value>[^']*)' is not [^;\n]+; set it to [^\n]+, or unset it\.$"
)


def _names(text: str) -> set[str]:
    """Whole variable names in `text`: not templates such as `CADENZA_<SERVICE>_URL` or `CADENZA_CODEC_OIDC_*`."""
    return {m[0] for m in _NAME.finditer(text) if not m[0].endswith("_") and text[m.end() : m.end() + 1] not in "{<*"}


def _python_strings(path: Path) -> str:
    """The string literals of a module (f-strings' literal parts too): names of variables, not of constants."""
    tree = ast.parse(path.read_text(), str(path))
    return "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def _fields_by_kind() -> list[tuple[str, str]]:
    return [
        (field, (info.json_schema_extra or {}).get("kind", ""))
        for field, info in Settings.model_fields.items()
        if (info.json_schema_extra or {}).get("kind")
    ]


def test_every_variable_the_code_names_is_a_setting():
    known = {variable(field) for field in Settings.model_fields}
    unknown: dict[str, set[str]] = {}
    for folder in SOURCE:
        for path in (ROOT / folder).rglob("*.py"):
            for name in _names(_python_strings(path)) - known:
                unknown.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert not unknown, f"add these to cadenza.settings.Settings (then `make docs`): {unknown}"


def test_the_deployment_files_name_only_settings():
    known = {variable(field) for field in Settings.model_fields} | set(NOT_SETTINGS)
    unknown: dict[str, set[str]] = {}
    for entry in DEPLOYMENT:
        paths = [ROOT / entry] if (ROOT / entry).is_file() else [p for p in (ROOT / entry).rglob("*") if p.is_file()]
        for path in paths:
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            for name in _names(text) - known:
                unknown.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert not unknown, f"variables no Cadenza process reads (renamed?): {unknown}"


def test_every_setting_has_a_doc_and_a_unit_and_typed_ones_a_kind():
    for field, info in Settings.model_fields.items():
        extra = info.json_schema_extra or {}
        assert info.description, field
        assert extra.get("unit"), f"{variable(field)} needs a unit"
        typed = info.annotation not in (str, str | None, Path | None, Path) and "Secret" not in str(info.annotation)
        assert not typed or extra.get("kind"), f"{variable(field)} is typed but its bad values have no message"


@pytest.mark.parametrize(("field", "kind"), _fields_by_kind())
def test_a_bad_value_of_any_typed_setting_stops_with_one_message(field, kind):
    name = variable(field)
    with pytest.raises(InvalidSetting) as raised:
        load_settings({name: BAD[kind]})
    message = str(raised.value)
    match = MESSAGE.match(message)
    assert match, message
    assert (match["variable"], match["value"]) == (name, BAD[kind])


def test_secrets_are_named_never_shown(monkeypatch):
    monkeypatch.setattr(
        Settings.model_fields["api_port"],
        "json_schema_extra",
        {**Settings.model_fields["api_port"].json_schema_extra, "unit": "secret"},
    )
    with pytest.raises(InvalidSetting) as raised:
        load_settings({"CADENZA_API_PORT": "s3cret-value"})
    assert "s3cret" not in str(raised.value) and str(raised.value).startswith("CADENZA_API_PORT is not ")


def test_values_are_typed_and_blank_ones_count_as_unset():
    loaded = load_settings(
        {
            "CADENZA_API_PORT": " 9000 ",
            "CADENZA_DEPLOY_AUTO_PROMOTE": "Off",
            "CADENZA_REVIEW_DEADLINE": "30m",
            "CADENZA_ENCRYPTION": "REQUIRED",
            "CADENZA_WEB_UI": " ",
        }
    )
    assert loaded.api_port == 9000 and loaded.deploy_auto_promote is False
    assert loaded.review_deadline == timedelta(minutes=30) and loaded.encryption == "required"
    assert loaded.web_ui is None and loaded.task_queue == "cadenza-orders"


def test_a_mapping_is_read_instead_of_the_environment(monkeypatch):
    monkeypatch.setenv("CADENZA_API_PORT", "9001")
    assert load_settings({}).api_port == 8100


def test_settings_follow_the_environment_when_it_changes(monkeypatch):
    monkeypatch.setenv("CADENZA_TASK_QUEUE", "first")
    first = settings()
    assert first.task_queue == "first" and settings() is first  # read once while nothing changes
    monkeypatch.setenv("CADENZA_TASK_QUEUE", "second")
    assert settings().task_queue == "second"


ENTRIES = {
    "worker": ["-m", "workers"],
    "Order API": ["-m", "api"],
    "codec server": ["-m", "codec_server"],
    "a service": ["-m", "services", "erp"],
    "the CLI": ["-c", "from starters.cli import main; main()", "keys", "generate"],
}


@pytest.mark.parametrize("entry", ENTRIES.values(), ids=ENTRIES.keys())
def test_a_process_entry_stops_with_the_message(entry):
    env = {**os.environ, "CADENZA_API_RATE_LIMIT": "lots", "COLUMNS": "300"}  # the CLI wraps at its width
    done = subprocess.run([sys.executable, *entry], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == EXIT_BAD_INPUT and not done.stdout
    assert done.stderr.strip().splitlines() == [
        "error: CADENZA_API_RATE_LIMIT='lots' is not a rate; set it to requests per unit, e.g. 50/s or 3000/min, or "
        "off, or unset it."
    ], done.stderr
