"""The Web UI through the codec server, as a person sees it: an order's input reads in clear while the codec server
runs, and not once it is stopped. Screenshots of both in .cadenza/screenshots/."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.integration.browser import browser_page  # noqa: F401 - a fixture
from tests.integration.codec_stack import EncryptedOrder, encrypted_order  # noqa: F401 - a fixture
from tests.integration.test_web_ui import _shows

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(".cadenza") / "screenshots"


async def test_web_ui_shows_the_input_in_clear_only_through_the_codec_server(
    encrypted_order: EncryptedOrder, browser_page
):
    page, order = browser_page, encrypted_order
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{order.stack.config.ui_port}/namespaces/default/workflows/{order.workflow_id}"

    await page.goto(url)
    await _shows(page, order.marker)
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-codec-decoded.png"), full_page=True)

    order.stack.child("codec-server").stop()
    await page.goto(url)
    # The UI tried the codec endpoint and says so; by then it has rendered the input as it is stored.
    await _shows(page, "Codec Server could not connect")
    await _shows(page, "Input")
    await page.screenshot(path=str(SCREENSHOTS / "web-ui-codec-stopped.png"), full_page=True)
    assert not await _visible(page, order.marker), "the input was readable without the codec server"


async def _visible(page, text: str) -> bool:
    for frame in page.frames:
        with contextlib.suppress(Exception):  # a frame may navigate away while we read it
            if text in await frame.evaluate("document.body ? document.body.innerText : ''"):
                return True
    return False
