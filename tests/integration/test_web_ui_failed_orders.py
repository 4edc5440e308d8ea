"""Failed orders look failed in the Temporal Web UI, as a person sees it through the codec server: a declined card is
Failed in the list with its reason on its page, a happy order Completed; an order's summary and current details are
under User Metadata. The screenshots this takes are the ones docs/operations.md shows (docs/images/; refreshed with
CADENZA_DOCS_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus

from cadenza.stack import EmbeddedStack
from clients.orders import order_handle, place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.browser import browser_page  # noqa: F401 - a fixture
from tests.integration.codec_stack import codec_stack
from tests.integration.test_manual_review import _big_order
from tests.integration.test_web_ui import _shows
from workers.worker import order_worker
from workflows.models import Order, OrderState

pytestmark = pytest.mark.integration

# Where the screenshots go: docs/images/ (the ones docs/operations.md shows) when refreshing them with
# CADENZA_DOCS_SCREENSHOTS=1, else with the other tests' screenshots, so a test run leaves the checkout as it was.
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
IMAGES = DOCS_IMAGES if os.environ.get("CADENZA_DOCS_SCREENSHOTS") == "1" else Path(".cadenza") / "screenshots"

ORDERS = 'WorkflowType="OrderWorkflow"'
# The saved view docs/operations.md recommends: failed orders, newest first (the list's own order).
FAILED_ORDERS = 'WorkflowType="OrderWorkflow" AND ExecutionStatus="Failed"'


@dataclass
class Orders:
    stack: EmbeddedStack
    client: Client
    happy: Order
    declined: Order
    waiting: Order


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def orders(tmp_path_factory) -> AsyncIterator[Orders]:
    """A stack as `cadenza up` starts it (the UI told the codec server's endpoint), and three orders: one completed,
    one declined (compensated), one awaiting review (left open)."""
    async with codec_stack(tmp_path_factory.mktemp("failed-orders-stack"), "failed-orders") as (stack, client):
        queue, endpoints = stack.config.task_queue, stack.config.endpoints()
        happy, declined, waiting = make_order(), make_order(token="tok_chargeDeclined"), _big_order()
        async with order_worker(client, task_queue=queue, endpoints=endpoints):
            for order in (happy, declined):
                await wait_for_result((await place_order(client, order, task_queue=queue)).handle)
            await place_order(client, waiting, task_queue=queue)
            await _until_state(client, waiting, OrderState.AWAITING_REVIEW)
            yield Orders(stack, client, happy, declined, waiting)


async def _until_state(client: Client, order: Order, state: OrderState) -> None:
    handle = order_handle(client, order.order_id)
    async with asyncio.timeout(30):
        while (await handle.query("status")).get("state") != state.value:
            await asyncio.sleep(0.1)


async def _shows_badge(page, status: str, workflow_id: str) -> None:
    """The execution's status badge, right before its id at the top of its page (styled upper case)."""
    await _shows(page, f"{status.upper()}\n{workflow_id}")


async def _row(page, workflow_id: str) -> str:
    """The text of the list's row for `workflow_id`."""
    row = page.locator("tr", has_text=workflow_id).first
    await row.wait_for(timeout=30_000)
    return await row.inner_text()


async def test_a_declined_order_is_failed_in_the_list_with_its_reason_on_its_page(orders: Orders, browser_page):
    page, client = browser_page, orders.client
    IMAGES.mkdir(parents=True, exist_ok=True)
    statuses = {
        order.order_id: (await order_handle(client, order.order_id).describe()).status
        for order in (orders.happy, orders.declined)
    }
    assert statuses == {
        orders.happy.order_id: WorkflowExecutionStatus.COMPLETED,
        orders.declined.order_id: WorkflowExecutionStatus.FAILED,
    }
    ui = f"http://127.0.0.1:{orders.stack.config.ui_port}/namespaces/default/workflows"

    # The list: the declined order red and Failed, the happy one Completed.
    await page.goto(f"{ui}?query={urllib.parse.quote(ORDERS)}")
    declined_row, happy_row = await _row(page, orders.declined.workflow_id), await _row(page, orders.happy.workflow_id)
    # The status badge's text is styled upper case: compared without case.
    assert "failed" in declined_row.lower() and "completed" not in declined_row.lower(), declined_row
    assert "completed" in happy_row.lower() and "failed" not in happy_row.lower(), happy_row
    await page.screenshot(path=str(IMAGES / "web-ui-failed-order-in-list.png"))

    # The saved view for operators (docs/operations.md): failed orders only, with Cadenza's search attributes as
    # columns instead of the run id and the type.
    await page.goto(f"{ui}?query={urllib.parse.quote(FAILED_ORDERS)}")
    await _row(page, orders.declined.workflow_id)
    assert await page.locator("tr", has_text=orders.happy.workflow_id).count() == 0
    await page.get_by_label("Configure Columns").click()
    for column in ("Run ID", "Type"):
        await page.get_by_label(f"Remove {column} column").click()
    for column in ("OrderStatus", "OrderTotal", "CustomerId"):
        await page.get_by_label(f"Add {column} column").click()
    await page.get_by_label("Close").locator("visible=true").first.click()  # the drawer's ×
    await page.get_by_text("Save as New").first.click()
    await page.get_by_test_id("workflow-save-view-modal-input").fill("Failed orders")
    await page.get_by_role("button", name="Save", exact=True).locator("visible=true").first.click()
    row = await _row(page, orders.declined.workflow_id)
    assert "compensated" in row and "c-17" in row, row  # OrderStatus and CustomerId, in clear
    await _shows(page, "Failed orders")
    await page.screenshot(path=str(IMAGES / "web-ui-failed-orders-view.png"))

    # Its page: Failed, and why — the failure's message, read through the codec server.
    await page.goto(f"{ui}/{orders.declined.workflow_id}")
    await _shows_badge(page, "Failed", orders.declined.workflow_id)
    await _shows(page, "order compensated at charge_payment")
    await _shows(page, "CardDeclined")
    await page.screenshot(path=str(IMAGES / "web-ui-failed-order-page.png"), full_page=True)

    # The happy order's page says Completed, and no failure.
    await page.goto(f"{ui}/{orders.happy.workflow_id}")
    await _shows_badge(page, "Completed", orders.happy.workflow_id)
    with pytest.raises(AssertionError, match="never appeared"):
        await _shows(page, "order compensated", timeout_s=3)


async def test_the_summary_and_current_details_are_under_user_metadata(orders: Orders, browser_page):
    page = browser_page
    ui = f"http://127.0.0.1:{orders.stack.config.ui_port}/namespaces/default/workflows"
    await page.goto(f"{ui}/{orders.waiting.workflow_id}")
    await page.get_by_text("User Metadata").first.click()
    await _shows(page, orders.waiting.describe())  # the summary, as the order was placed
    await _shows(page, "awaiting review of 12000.00 EUR")  # the current details
    await page.screenshot(path=str(IMAGES / "web-ui-user-metadata.png"), full_page=True)
