"""Only the sandbox's own page drives the sandbox: it signs requests as Slack and Jira for whoever
drives it, so another web page (a cross-origin form, a DNS-rebinding page), a request without the
page's token, or a bind off loopback without saying so is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sandbox_harness import RunningSandbox, running_sandbox
from tests.test_cli import run_cli
from tests.test_sandbox_page import intake_form


@pytest.fixture
async def sbx(database_url: str) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(database_url, run_deliveries=False) as running:
        yield running


async def test_the_page_carries_its_token_and_the_api_needs_it(sbx: RunningSandbox) -> None:
    page = await sbx.http.get(sbx.url + "/")
    assert f'<meta name="sandbox-token" content="{sbx.sandbox.page_token}">' in await page.text()
    for path in ("/sandbox/api/state", "/sandbox/api/events", "/sandbox/api/files/F1"):
        assert (await sbx.http.get(sbx.url + path)).status == 403, path
        wrong = await sbx.http.get(sbx.url + path, headers={"X-Sandbox-Token": "guessed"})
        assert wrong.status == 403, path
    ok = await sbx.http.get(f"{sbx.url}/sandbox/api/state?token={sbx.sandbox.page_token}")
    assert ok.status == 200


async def test_a_cross_origin_form_post_signs_nothing(sbx: RunningSandbox) -> None:
    # What a hostile page can send without a preflight: text/plain, its own Origin, no token.
    refused = await sbx.http.post(
        sbx.url + "/sandbox/api/intake",
        data='{"subject": "x"}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
    )
    assert refused.status == 403
    # Even holding the token (it cannot read it), another origin or a non-JSON body is refused.
    token = {"X-Sandbox-Token": sbx.sandbox.page_token}
    other_origin = await sbx.http.post(
        sbx.url + "/sandbox/api/intake",
        json=intake_form(),
        headers={**token, "Origin": "https://evil.example"},
    )
    assert other_origin.status == 403
    plain = await sbx.http.post(
        sbx.url + "/sandbox/api/intake", data="{}", headers={**token, "Content-Type": "text/plain"}
    )
    assert plain.status == 415
    assert sbx.sandbox.slack.calls == [] or all(m != "chat.postMessage" for m, _ in sbx.sandbox.slack.calls)
    assert await sbx.api("/sandbox/api/intake", intake_form()) is not None  # the page itself still can


async def test_a_foreign_host_name_is_refused(sbx: RunningSandbox) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away.
    response = await sbx.http.get(sbx.url + "/", headers={"Host": f"rebind.evil.example:{sbx.server.port}"})
    assert response.status == 403
    assert (await sbx.http.get(sbx.url.replace("127.0.0.1", "localhost") + "/")).status == 200


async def test_the_bot_routes_are_not_the_pages_to_guard(sbx: RunningSandbox) -> None:
    assert (await sbx.http.get(sbx.url + "/healthz")).status == 200


async def test_serving_the_sandbox_off_loopback_needs_the_unsafe_flag() -> None:
    code, out = await run_cli("serve", "--host", "0.0.0.0", "--port", "1", env={"LOG_FORMAT": "text"})
    assert code == 2, out
    assert "refusing to serve the sandbox on 0.0.0.0" in out and "--unsafe-public-sandbox" in out
