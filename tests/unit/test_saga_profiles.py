"""Idempotency profiles in saga definitions: a step's own `idempotency: {replay: ...}`, or its API's `profile:` (a
`cadenza verify --json` report), makes the compiled step replay-unsafe; lint asks such a step for an undo that can
find what an ambiguous call did; definitions without profiles compile exactly as before."""

from __future__ import annotations

import json
from pathlib import Path

from clients.sagas import compile_file
from tests.unit.saga_fixtures import CLEAN, write_saga

UNSAFE_STEP = "    call: shop.createOrder\n    idempotency: {replay: unsafe}\n"


def _compile(folder: Path, text: str):  # type: ignore[no-untyped-def]
    return compile_file(write_saga(folder, text))


def _report(folder: Path, replay: str) -> None:
    (folder / "verify.json").write_text(
        json.dumps(
            {"ok": replay == "safe", "profiles": {"shop": {"createOrder": {"replay": replay, "fence": "holds"}}}}
        )
    )


def test_without_a_profile_nothing_changes(tmp_path: Path) -> None:
    definition = _compile(tmp_path, CLEAN).definition
    assert definition is not None and not definition.step("create").replay_unsafe
    # Left out of the recorded form: definitions compiled before profiles existed keep their content hash.
    assert "replay_unsafe" not in json.dumps(definition.model_dump(mode="json"))


def test_a_step_declared_replay_unsafe(tmp_path: Path) -> None:
    compilation = _compile(tmp_path, CLEAN.replace("    call: shop.createOrder\n", UNSAFE_STEP))
    assert compilation.problems == []
    definition = compilation.definition
    assert definition is not None and definition.step("create").replay_unsafe
    assert json.loads(definition.model_dump_json())["steps"][0]["replay_unsafe"] is True


def test_a_profile_from_cadenza_verify_applies_to_its_operations(tmp_path: Path) -> None:
    _report(tmp_path, "unsafe")
    with_profile = CLEAN.replace("fence: fence}", "fence: fence, profile: verify.json}")
    definition = _compile(tmp_path, with_profile).definition
    assert definition is not None
    assert definition.step("create").replay_unsafe and not definition.step("confirm").replay_unsafe
    _report(tmp_path, "safe")
    safe = _compile(tmp_path, with_profile).definition
    assert safe is not None and not safe.step("create").replay_unsafe
    # The step's own declaration wins over the report.
    _report(tmp_path, "unsafe")
    overridden = _compile(
        tmp_path, with_profile.replace("    call: shop.createOrder\n", UNSAFE_STEP.replace("unsafe", "safe"))
    ).definition
    assert overridden is not None and not overridden.step("create").replay_unsafe


def test_lint_asks_an_unsafe_step_for_an_undo_that_can_find_its_effect(tmp_path: Path) -> None:
    text = CLEAN.replace("    call: shop.createOrder\n", UNSAFE_STEP).replace(
        "when_unknown: fence", "when_unknown: none"
    )
    [problem] = _compile(tmp_path, text).lines()
    assert "its API does not replay shop.createOrder safely" in problem
    assert "`when_unknown: lookup`" in problem


def test_an_unreadable_profile_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "verify.json").write_text("not json")
    lines = _compile(tmp_path, CLEAN.replace("fence: fence}", "fence: fence, profile: verify.json}")).lines()
    assert any("profile verify.json is not a `cadenza verify --json` report" in line for line in lines), lines


def test_lint_refuses_an_undo_by_fence_where_the_fence_was_found_broken(tmp_path: Path) -> None:
    (tmp_path / "verify.json").write_text(
        json.dumps({"profiles": {"shop": {"createOrder": {"replay": "unsafe", "fence": "broken"}}}})
    )
    [problem] = _compile(tmp_path, CLEAN.replace("fence: fence}", "fence: fence, profile: verify.json}")).lines()
    assert "its API's fence does not hold for shop.createOrder" in problem
