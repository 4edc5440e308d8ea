"""The Temporal Web UI as a person sees it: orders listed, filterable by status, with readable summaries."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from pathlib import Path

import pytest

from starters.orders import place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.browser import browser_page  # noqa: F401 - a fixture
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(".cadenza") / "screenshots"


async def test_web_ui_lists_orders_filters_by_status_and_shows_summaries(harness: Harness, browser_page):
    page = browser_page
    happy, declined = make_order(), make_order(token="tok_chargeDeclined")
    for order in (happy, declined):
        await wait_for_result((await place_order(harness.client, order, task_queue=harness.task_queue)).handle)
    ui = f"http://127.0.0.1:{harness.config.ui_port}/namespaces/default/workflows"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The list, filtered by the custom search attribute: only the compensated order.
    query = urllib.parse.quote(f'OrderStatus="compensated" AND CustomerId="c-17"')
    await page.goto(f"{ui}?query={query}")
    await page.get_by_text(declined.workflow_id).first.wait_for(timeout=30_000)
    assert await page.get_by_text(happy.workflow_id).count() == 0
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-filtered.png"), full_page=True)

    # One order: the activity summaries in its timeline read like the business process...
    await page.goto(f"{ui}/{declined.workflow_id}")
    money = declined.describe().split(", ")[1]  # e.g. "42.00 EUR"
    await _shows(page, f"charge {money}")
    await _shows(page, "refund charges")
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-order.png"), full_page=True)
    # ...and its static summary ("4 items, 42.00 EUR, customer c-17") sits under User Metadata.
    await page.get_by_text("User Metadata").first.click()
    await _shows(page, declined.describe())
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-summary.png"), full_page=True)


async def _shows(page, text: str, timeout_s: float = 30) -> None:  # noqa: ANN001
    """Wait until `text` is rendered on the page or in one of its frames (the UI renders client-side, in stages,
    and shows user-supplied summaries as markdown in a sandboxed iframe)."""
    for _ in range(int(timeout_s / 0.25)):
        for frame in page.frames:
            with contextlib.suppress(Exception):  # a frame may navigate away while we read it
                if text in await frame.evaluate("document.body ? document.body.innerText : ''"):
                    return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{text!r} never appeared on {page.url}")
