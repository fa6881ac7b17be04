"""The sandbox page in a real browser: headless Chromium (Debian's `chromium`), driven by Playwright.

Someone submits a customer issue on the page, sees its card, tags it, escalates it, sees the Jira key,
moves the Jira issue to Done and sees the customers to tell: every step through the page's own controls,
so the JavaScript, the signed requests and the bot are tested together. Screenshots go to the test's
temporary folder (and to $SANDBOX_SCREENSHOTS, when set, to refresh docs/screenshots/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sandbox_harness import RunningSandbox, running_sandbox

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found (install Debian's `chromium` package; .ci/run does when root)",
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STEP_MS = 15_000  # the longest any one step may take to show (a failure, not a timing assertion)


@pytest.fixture
async def sbx(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    # One backend is enough here: the page's behaviour does not depend on the database.
    async with running_sandbox(f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}") as running:
        yield running


async def test_submit_tag_escalate_and_close_the_loop_from_the_page(
    sbx: RunningSandbox, tmp_path: Path
) -> None:
    async_api = pytest.importorskip("playwright.async_api", reason="Playwright is in the `test` extra")
    expect = async_api.expect
    expect.set_options(timeout=STEP_MS)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    published = os.environ.get("SANDBOX_SCREENSHOTS")

    async def snap(page: object, name: str) -> None:
        path = shots / f"{name}.png"
        await page.screenshot(path=str(path))  # type: ignore[attr-defined]
        if published:
            shutil.copyfile(path, Path(published) / f"{name}.png")

    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1440, "height": 960},
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            page.set_default_timeout(STEP_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(sbx.url + "/")
            await expect(page.get_by_test_id("mode")).to_contain_text("SANDBOX MODE")

            form = page.get_by_test_id("intake-form")
            await form.get_by_label("Subject", exact=True).fill("Invoices export times out")
            await form.get_by_label("What the customer said").fill(
                "Exporting more than 1000 invoices never finishes. <!channel> *urgent*"
            )
            await form.get_by_label("Customer", exact=True).fill("Dana Smith")
            await form.get_by_label("E-mail", exact=True).fill("dana@acme.test")
            await form.get_by_label("Company", exact=True).fill("Acme")
            await form.get_by_label("Product area", exact=True).fill("reporting")
            await form.get_by_label("bug", exact=True).check()
            await page.get_by_test_id("intake-submit").click()
            await expect(page.get_by_role("status").filter(has_text="Received as #1")).to_be_visible()

            card = page.locator("article.message").filter(has_text="#1 · Invoices export times out")
            await expect(card).to_be_visible()
            # Customer text stays text: the escaped mention shows as typed and pings no one.
            await expect(card).to_contain_text("<!channel>")
            await expect(card.locator(".mention")).to_have_count(0)
            await snap(page, "sandbox-card")

            tags = card.locator('details[data-action-id="issue.tags"]')
            await tags.locator("summary").click()
            await tags.get_by_label("performance", exact=True).check()
            await tags.get_by_role("button", name="Apply").click()
            await expect(card.locator(".bk-fields")).to_contain_text("performance")

            await card.get_by_role("button", name="Escalate to Jira").click()
            await expect(card.locator(".bk-fields")).to_contain_text("SUP-1 · To Do")

            await page.get_by_test_id("tab-jira").click()
            jira = page.get_by_test_id("jira-issue-SUP-1")
            await expect(jira).to_contain_text("Invoices export times out")
            await snap(page, "sandbox-escalated")
            await jira.get_by_role("button", name="Move SUP-1 to Done").click()
            await expect(jira).to_contain_text("Done")

            await card.get_by_test_id("open-thread").click()
            thread = page.get_by_test_id("thread")
            await expect(thread).to_contain_text("Customers to tell")
            await expect(thread).to_contain_text("Dana Smith")
            await expect(thread.get_by_role("button", name="Mark notified").first).to_be_visible()
            await snap(page, "sandbox-customers-to-tell")
            assert errors == []
        finally:
            await browser.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "sandbox-card.png",
        "sandbox-customers-to-tell.png",
        "sandbox-escalated.png",
    ]


async def test_reply_by_email_and_answer_as_the_customer_from_the_page(
    sbx: RunningSandbox, tmp_path: Path
) -> None:
    """An e-mail report's **Reply to customer** reaches the Customers panel's inbox, with its threading
    headers; **Answer as the customer** there puts the answer in the card's thread."""
    async_api = pytest.importorskip("playwright.async_api", reason="Playwright is in the `test` extra")
    expect = async_api.expect
    expect.set_options(timeout=STEP_MS)
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1440, "height": 960},
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            page.set_default_timeout(STEP_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(sbx.url + "/")
            form = page.get_by_test_id("intake-form")
            await form.get_by_label("Subject", exact=True).fill("Invoices export times out")
            await form.get_by_label("What the customer said").fill("Exporting 1000 invoices never finishes.")
            await form.get_by_label("Customer", exact=True).fill("Dana Smith")
            await form.get_by_label("E-mail", exact=True).fill("dana@acme.test")
            await form.locator("select[name=source]").select_option("email")
            await page.get_by_test_id("intake-submit").click()
            card = page.locator("article.message").filter(has_text="#1 · Invoices export times out")
            await expect(card).to_be_visible()

            await card.get_by_role("button", name="Reply to customer").click()
            await page.locator(".modal textarea").fill("Fixed tonight, sorry for the wait.")
            await page.get_by_test_id("modal-submit").click()

            await page.get_by_test_id("tab-customers").click()
            mail = page.get_by_test_id("mail-1")
            await expect(mail).to_contain_text("Fixed tonight, sorry for the wait.")
            await expect(mail).to_contain_text("Dana Smith <dana@acme.test>")
            await expect(mail).to_contain_text("In-Reply-To")
            await mail.get_by_label("e-mail: the customer's answer").fill("Works now, thank you!")
            await mail.get_by_test_id("answer-email-1").click()
            await expect(mail).to_contain_text("answered: Works now, thank you!")
            await page.screenshot(path=str(tmp_path / "sandbox-customers-inbox.png"))

            await card.get_by_test_id("open-thread").click()
            await expect(page.get_by_test_id("thread")).to_contain_text("Works now, thank you!")
            await page.screenshot(path=str(tmp_path / "sandbox-customers-answer.png"))
            assert errors == []
        finally:
            await browser.close()
