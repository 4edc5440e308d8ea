"""Which Worker Deployment version a worker announces: the build id and the settings around it."""

from __future__ import annotations

import subprocess

import pytest

from cadenza import build_id as build_ids
from cadenza.settings import InvalidSetting, deploy_auto_promote, deployment_name


@pytest.fixture(autouse=True)
def _fresh_cache():
    build_ids.build_id.cache_clear()
    yield
    build_ids.build_id.cache_clear()


def test_an_explicit_build_id_wins(monkeypatch):
    monkeypatch.setenv("CADENZA_BUILD_ID", "2026-11-26.3")
    assert build_ids.build_id() == "2026-11-26.3"


def test_the_default_is_the_package_version_and_this_checkout_s_commit(monkeypatch):
    monkeypatch.delenv("CADENZA_BUILD_ID", raising=False)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True)
    assert build_ids.build_id() == f"{build_ids.package_version()}-{head.stdout.strip()}"


def test_without_git_the_version_alone(tmp_path):
    assert build_ids.git_revision(tmp_path) is None  # not a checkout
    assert build_ids.derive_build_id("0.1.0", None) == "0.1.0"
    assert build_ids.derive_build_id("0.1.0", "3f2a9c1d07b4") == "0.1.0-3f2a9c1d07b4"


def test_git_is_asked_once_per_process(monkeypatch):
    monkeypatch.delenv("CADENZA_BUILD_ID", raising=False)
    calls = []
    monkeypatch.setattr(build_ids, "git_revision", lambda: calls.append(1) or "abc")
    assert build_ids.build_id() == build_ids.build_id()
    assert len(calls) == 1


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("", True), ("0", False), ("off", False), ("yes", True)])
def test_auto_promote_is_on_unless_turned_off(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("CADENZA_DEPLOY_AUTO_PROMOTE", raising=False)
    else:
        monkeypatch.setenv("CADENZA_DEPLOY_AUTO_PROMOTE", raw)
    assert deploy_auto_promote() is expected


def test_a_misspelt_auto_promote_is_refused_with_the_values_it_takes(monkeypatch):
    monkeypatch.setenv("CADENZA_DEPLOY_AUTO_PROMOTE", "maybe")
    with pytest.raises(InvalidSetting, match="set it to 1 or 0"):
        deploy_auto_promote()


def test_a_deployment_name_with_a_dot_is_refused(monkeypatch):
    monkeypatch.setenv("CADENZA_DEPLOYMENT_NAME", "cadenza.prod")
    with pytest.raises(InvalidSetting, match=r"CADENZA_DEPLOYMENT_NAME='cadenza\.prod' is not a name without a dot"):
        deployment_name()
    monkeypatch.delenv("CADENZA_DEPLOYMENT_NAME")
    assert deployment_name() == "cadenza"
