"""Posts are paced per channel and a 429 holds back only what it concerns."""

from __future__ import annotations

import asyncio

import pytest

from integrations.slack_pacing import SlackPacer, Throttled
from sandbox.fakes.slack_api import FakeSlack
from tests.harness import add_channels, make_issue_payload, running_app


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_channel_gets_its_burst_then_one_post_a_second_and_other_channels_are_not_held() -> None:
    clock = Clock()
    pacer = SlackPacer(rate=1.0, burst=2, max_wait=0.0, clock=clock)
    for _ in range(2):
        await pacer.acquire("chat.postMessage", "C1")
    with pytest.raises(Throttled) as third:
        await pacer.acquire("chat.postMessage", "C1")
    assert third.value.retry_after == pytest.approx(1.0)
    await pacer.acquire("chat.postMessage", "C2")  # another channel has its own bucket
    clock.now += 1.0
    await pacer.acquire("chat.postMessage", "C1")  # a second later, one more


async def test_a_short_wait_is_waited_in_the_call() -> None:
    pacer = SlackPacer(rate=20.0, burst=1, max_wait=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await pacer.acquire("chat.postMessage", "C1")
    await pacer.acquire("chat.postMessage", "C1")
    assert loop.time() - started >= 0.04  # 1/20 s for the second


async def test_a_429_blocks_its_channel_for_a_post_and_its_method_otherwise() -> None:
    clock = Clock()
    pacer = SlackPacer(clock=clock)
    pacer.rate_limited("chat.postMessage", "C1", 30.0)
    with pytest.raises(Throttled) as blocked:
        await pacer.acquire("chat.postMessage", "C1")
    assert blocked.value.retry_after == pytest.approx(30.0)
    await pacer.acquire("chat.postMessage", "C2")
    await pacer.acquire("chat.update", "C1")

    pacer.rate_limited("chat.update", "C1", None)  # a tiered method: the whole method, 1 s by default
    with pytest.raises(Throttled):
        await pacer.acquire("chat.update", "C2")
    clock.now += 1.01
    await pacer.acquire("chat.update", "C2")
    clock.now += 29.0
    await pacer.acquire("chat.postMessage", "C1")


async def test_a_long_retry_after_on_one_channel_does_not_hold_cards_for_the_others(
    database_url: str, slack: FakeSlack
) -> None:
    channels = add_channels(slack)
    async with running_app(database_url, slack, channels) as stack:
        slack.fail("chat.postMessage", status=429, retry_after=75)
        await stack.webhook(make_issue_payload(external_id="stalled", customer={"id": "a"}))
        await slack.wait_for(lambda: bool(slack.calls_to("chat.postMessage")), timeout=5, message="the 429")

        started = asyncio.get_running_loop().time()
        for n in range(3):
            await stack.webhook(
                make_issue_payload(
                    external_id=f"billing-{n}", customer={"id": f"b{n}"}, product_area="billing"
                )
            )
        await stack.wait_for_cards(channels["billing"], 3, timeout=10)
        assert asyncio.get_running_loop().time() - started < 5
        # A second card for the rate-limited channel is held back without asking Slack again.
        await stack.webhook(make_issue_payload(external_id="stalled-2", customer={"id": "c"}))
        await asyncio.sleep(0.5)
        to_default = [c for c in slack.calls_to("chat.postMessage") if c["channel"] == channels["default"]]
        assert len(to_default) == 1
        assert slack.messages(channels["default"]) == []
    slack.assert_no_violations()
