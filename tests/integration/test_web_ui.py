"""The Temporal Web UI as a person sees it: orders listed and filterable by status (search attributes stay in clear),
their payloads and summaries encrypted."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from pathlib import Path

import pytest

from clients.orders import place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.browser import browser_page  # noqa: F401 - a fixture
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(".cadenza") / "screenshots"


async def test_web_ui_lists_and_filters_orders_but_cannot_read_them_without_a_codec(harness: Harness, browser_page):
    page = browser_page
    happy, declined = make_order(), make_order(token="tok_chargeDeclined")
    for order in (happy, declined):
        await wait_for_result((await place_order(harness.client, order, task_queue=harness.task_queue)).handle)
    ui = f"http://127.0.0.1:{harness.config.ui_port}/namespaces/default/workflows"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The list, filtered by the custom search attribute: only the compensated order.
    query = urllib.parse.quote('OrderStatus="compensated" AND CustomerId="c-17"')
    await page.goto(f"{ui}?query={query}")
    await page.get_by_text(declined.workflow_id).first.wait_for(timeout=30_000)
    assert await page.get_by_text(happy.workflow_id).count() == 0
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-filtered.png"), full_page=True)

    # One order, with no codec server configured: its timeline renders, but neither the activity summaries nor the
    # static summary are readable — user metadata is encrypted like every payload (docs/encryption.md). With
    # `cadenza codec-server` behind the UI's codec endpoint they read like the business process again.
    await page.goto(f"{ui}/{declined.workflow_id}")
    # The timeline has rendered its activities (type names stay in clear): the batch of first attempts, the undos.
    await _shows(page, "first_attempts")
    await _shows(page, "refund_payment")
    money = declined.describe().split(", ")[1]  # e.g. "42.00 EUR"
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-order-encrypted.png"), full_page=True)
    for text in (f"charge {money}", "refund charges", declined.describe()):
        with pytest.raises(AssertionError, match="never appeared"):
            await _shows(page, text, timeout_s=3)


async def _shows(page, text: str, timeout_s: float = 30) -> None:
    """Wait until `text` is rendered on the page or in one of its frames (the UI renders client-side, in stages,
    and shows user-supplied summaries as markdown in a sandboxed iframe)."""
    for _ in range(int(timeout_s / 0.25)):
        for frame in page.frames:
            with contextlib.suppress(Exception):  # a frame may navigate away while we read it
                if text in await frame.evaluate("document.body ? document.body.innerText : ''"):
                    return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared on {page.url}")
