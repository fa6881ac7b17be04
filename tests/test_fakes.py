"""Tests of the fake Slack and Jira servers themselves (sandbox/fakes/).

The fakes are only worth something if they behave like the real services and catch
contract violations, so these tests drive them with the real client libraries:
slack_sdk's AsyncWebClient and the `jira` package.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jira
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(*, action_id: str = "go", value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Go"},
        "action_id": action_id,
        "value": value,
    }


def actions(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": list(elements)}]


def modal(**extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "create_ticket",
        "title": {"type": "plain_text", "text": "New ticket"},
        "blocks": [section("Describe the problem")],
        **extra,
    }


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    # No retry handlers: each test decides what to retry.
    return AsyncWebClient(token=slack.token, base_url=slack.url, retry_handlers=[])


# --------------------------------------------------------------------------- Slack: happy paths


async def test_post_update_and_read_back(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")

    posted = await client.chat_postMessage(
        channel=channel, text="New ticket", blocks=[section("*New ticket*")], unfurl_links=False
    )
    assert posted["channel"] == channel
    assert posted["message"]["text"] == "New ticket"
    ts = posted["ts"]

    updated = await client.chat_update(
        channel=channel, ts=ts, text="Ticket PROJ-1", blocks=[section("PROJ-1")]
    )
    assert updated["ts"] == ts and updated["text"] == "Ticket PROJ-1"

    history = await client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["Ticket PROJ-1"]
    assert history["messages"][0]["blocks"] == [section("PROJ-1")]
    assert history["messages"][0]["edited"]["user"] == slack.bot_user_id

    stored = slack.messages(channel)
    assert len(stored) == 1
    assert stored[0]["user"] == slack.bot_user_id
    assert stored[0]["unfurl_links"] is False
    assert [name for name, _ in slack.calls] == ["chat.postMessage", "chat.update", "conversations.history"]
    slack.assert_no_violations()
    assert slack.response_violations == []


async def test_threads_permalinks_and_history_windows(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    alice = slack.add_user("alice")
    parent = slack.post_message_in(channel, "my app is down", user=alice)
    reply = (await client.chat_postMessage(channel=channel, text="on it", thread_ts=parent))["ts"]
    later = (await client.chat_postMessage(channel=channel, text="unrelated"))["ts"]
    assert parent < reply < later  # strictly increasing timestamps

    replies = await client.conversations_replies(channel=channel, ts=parent)
    assert [m["text"] for m in replies["messages"]] == ["my app is down", "on it"]
    assert replies["messages"][0]["reply_count"] == 1
    assert [m["text"] for m in slack.thread(channel, parent)] == ["my app is down", "on it"]

    # history holds top-level messages only, newest first, and honours the time window
    history = await client.conversations_history(channel=channel)
    assert [m["text"] for m in history["messages"]] == ["unrelated", "my app is down"]
    window = await client.conversations_history(channel=channel, latest=later, oldest=parent, inclusive=True)
    assert [m["ts"] for m in window["messages"]] == [later, parent]
    exclusive = await client.conversations_history(channel=channel, latest=later)
    assert [m["ts"] for m in exclusive["messages"]] == [parent]
    page = await client.conversations_history(channel=channel, limit=1)
    assert page["has_more"] is True and len(page["messages"]) == 1
    rest = await client.conversations_history(
        channel=channel, limit=1, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == [parent]

    link = await client.chat_getPermalink(channel=channel, message_ts=parent)
    assert link["permalink"] == f"https://fake.slack.com/archives/{channel}/p{parent.replace('.', '')}"
    slack.assert_no_violations()


async def test_users_channels_reactions_and_ephemerals(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    alice = slack.add_user("alice", email="alice@example.com", tz="Europe/Berlin")
    ts = slack.post_message_in(channel, "help please", user=alice)

    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == (
        slack.bot_user_id,
        slack.bot_id,
        slack.team_id,
    )
    user = (await client.users_info(user=alice))["user"]
    assert user["profile"]["email"] == "alice@example.com" and user["tz_offset"] == 3600
    info = await client.conversations_info(channel=channel)
    assert info["channel"]["name"] == "support" and info["channel"]["is_member"] is True

    await client.reactions_add(channel=channel, name="eyes", timestamp=ts)
    assert slack.message(channel, ts)["reactions"] == [
        {"name": "eyes", "users": [slack.bot_user_id], "count": 1}
    ]
    with pytest.raises(SlackApiError) as again:
        await client.reactions_add(channel=channel, name="eyes", timestamp=ts)
    assert again.value.response["error"] == "already_reacted"

    sent = await client.chat_postEphemeral(channel=channel, user=alice, text="only you can see this")
    assert sent["message_ts"]
    assert [e["text"] for e in slack.ephemerals(channel, user=alice)] == ["only you can see this"]
    assert slack.messages(channel)[-1]["text"] == "help please"  # ephemerals are not channel messages
    slack.assert_no_violations()


async def test_views_open_update_publish(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = slack.add_user("alice")
    trigger = slack.new_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=modal(private_metadata='{"channel": "C1"}'))
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and opened["view"]["private_metadata"] == '{"channel": "C1"}'

    updated = await client.views_update(
        view_id=view_id, hash=opened["view"]["hash"], view=modal(blocks=[section("2")])
    )
    assert updated["view"]["blocks"] == [section("2")] and updated["view"]["id"] == view_id
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as reused:
        await client.views_open(trigger_id=trigger, view=modal())
    assert reused.value.response["error"] == "exchanged_trigger_id"

    await client.views_publish(user_id=alice, view={"type": "home", "blocks": [section("Your tickets")]})
    assert slack.home_views[alice]["blocks"] == [section("Your tickets")]
    assert [v["type"] for v in slack.views] == ["modal", "home"]
    slack.assert_no_violations()


async def test_form_and_json_bodies_are_both_accepted(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    blocks = [section("from a form")]
    # form-encoded, with blocks as a JSON string (how Slack documents it)
    await client.api_call(
        "chat.postMessage", data={"channel": channel, "text": "form", "blocks": json.dumps(blocks)}
    )
    # a JSON body (what AsyncWebClient.chat_postMessage sends)
    await client.api_call("chat.postMessage", json={"channel": channel, "text": "json", "blocks": blocks})
    # query-string arguments: GET, and a POST with an empty body (how params= methods are sent)
    await client.api_call("conversations.history", http_verb="GET", params={"channel": channel})
    await client.api_call(
        "reactions.add",
        params={"channel": channel, "name": "eyes", "timestamp": slack.messages(channel)[0]["ts"]},
    )

    assert [m["text"] for m in slack.messages(channel)] == ["form", "json"]
    assert slack.messages(channel)[0]["blocks"] == blocks  # the JSON string was parsed
    assert slack.calls_to("chat.postMessage")[0]["blocks"] == blocks
    slack.assert_no_violations()


# --------------------------------------------------------------------------- Slack: errors


async def test_auth_errors(slack: FakeSlack) -> None:
    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.url, retry_handlers=[])
    with pytest.raises(SlackApiError) as wrong:
        await bad.auth_test()
    assert wrong.value.response.status_code == 200 and wrong.value.response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack.url, retry_handlers=[])
    with pytest.raises(SlackApiError) as missing:
        await anonymous.auth_test()
    assert missing.value.response["error"] == "not_authed"


async def test_channel_membership_errors(slack: FakeSlack, client: AsyncWebClient) -> None:
    outside = slack.add_channel("random", members_bot=False)
    with pytest.raises(SlackApiError) as not_in:
        await client.chat_postMessage(channel=outside, text="hi")
    assert not_in.value.response.status_code == 200
    assert not_in.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as unknown:
        await client.chat_postMessage(channel="C9999999999", text="hi")
    assert unknown.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel=outside, ts="1700000000.999999", text="x")
    assert missing.value.response["error"] == "message_not_found"

    await client.conversations_join(channel=outside)
    await client.chat_postMessage(channel=outside, text="hi")
    assert [m["text"] for m in slack.messages("random")] == ["hi"]
    slack.assert_no_violations()  # errors are not violations


async def test_rate_limit_surfaces_as_429_with_retry_after(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    slack.fail("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=channel, text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] in ("1", ["1"])
    assert limited.value.response["error"] == "ratelimited"
    assert slack.messages(channel) == []  # failures apply before any state change

    await client.chat_postMessage(channel=channel, text="hi")  # only one failure was injected
    assert len(slack.messages(channel)) == 1


async def test_rate_limit_retry_handler_waits_and_succeeds(slack: FakeSlack) -> None:
    channel = slack.add_channel("support")
    client = AsyncWebClient(
        token=slack.token,
        base_url=slack.url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.fail("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    response = await client.chat_postMessage(channel=channel, text="hi")
    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0  # it honoured Retry-After
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in slack.messages(channel)] == ["hi"]


async def test_injected_ok_false_errors_server_errors_and_recovery(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    channel = slack.add_channel("support")
    slack.fail("chat.postMessage", times=2, error="channel_not_found")
    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            await client.chat_postMessage(channel=channel, text="hi")
        assert failed.value.response.status_code == 200
        assert failed.value.response["error"] == "channel_not_found"
    await client.chat_postMessage(channel=channel, text="third time lucky")

    slack.fail("chat.update", status=500)
    with pytest.raises(SlackApiError) as server_error:
        await client.chat_update(channel=channel, ts=slack.messages(channel)[0]["ts"], text="x")
    assert server_error.value.response.status_code == 500

    slack.fail_all("*", error="fatal_error")
    for _ in range(3):
        with pytest.raises(SlackApiError):
            await client.auth_test()
    slack.recover("*")
    assert (await client.auth_test())["ok"] is True
    assert [m["text"] for m in slack.messages(channel)] == ["third time lucky"]


async def test_dropped_connection(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    slack.fail("chat.postMessage", drop_connection=True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.chat_postMessage(channel=channel, text="lost")
    assert slack.messages(channel) == []

    # slack_sdk's connection-error retry handler recovers from a single drop
    retrying = AsyncWebClient(
        token=slack.token,
        base_url=slack.url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.01))
        ],
    )
    slack.fail("chat.postMessage", drop_connection=True)
    await retrying.chat_postMessage(channel=channel, text="delivered")
    assert [m["text"] for m in slack.messages(channel)] == ["delivered"]


async def test_latency_and_slow_failures(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail("auth.test", slow=0.3)
    # slack_sdk annotates `timeout` as int, but hands it to aiohttp, which takes seconds as a float
    slow_client = AsyncWebClient(token=slack.token, base_url=slack.url, timeout=0.1, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises(asyncio.TimeoutError):
        await slow_client.auth_test()
    slack.latency = 0.05
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.05


# --------------------------------------------------------------------------- Slack: contract


async def test_missing_required_argument_is_a_violation(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as bad:
        await client.api_call("chat.postMessage", json={"text": "where to?"})
    assert bad.value.response["error"] == "invalid_arguments"
    assert "'channel' is a required property" in bad.value.response["response_metadata"]["messages"][0]
    assert len(slack.violations) == 1 and "channel" in slack.violations[0]
    with pytest.raises(AssertionError, match="channel"):
        slack.assert_no_violations()


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section("x" * 3001)], "3001 characters (max 3000)"),
        ([{"type": "divider"}] * 51, "51 blocks (max 50"),
        ([{"type": "section", "text": "not an object"}], "must be a text object"),
        ([{"type": "fancy_new_block"}], "unknown block type"),
        (actions(button(action_id="a" * 256)), "action_id is 256 characters"),
        (actions(button(value="v" * 2001)), "value of a button is 2001 characters"),
    ],
)
async def test_invalid_blocks_are_violations(
    slack: FakeSlack, client: AsyncWebClient, blocks: list[dict[str, Any]], expected: str
) -> None:
    channel = slack.add_channel("support")
    with pytest.raises(SlackApiError) as bad:
        await client.chat_postMessage(channel=channel, text="fallback", blocks=blocks)
    assert bad.value.response["error"] == "invalid_arguments"
    assert len(slack.violations) == 1 and expected in slack.violations[0]
    assert slack.messages(channel) == []


async def test_message_text_and_view_limits(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel=channel, text="x" * 40001)
    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id=slack.new_trigger_id(), view=modal(private_metadata="m" * 3001))
    with pytest.raises(SlackApiError):
        await client.views_publish(user_id=slack.bot_user_id, view=modal())  # a modal is not a Home tab
    assert len(slack.violations) == 3
    assert "40001 characters" in slack.violations[0]
    assert "private_metadata is 3001 characters" in slack.violations[1]
    assert "type 'home'" in slack.violations[2]
    # 100 blocks are fine in a modal (not in a message)
    await client.views_open(trigger_id=slack.new_trigger_id(), view=modal(blocks=[{"type": "divider"}] * 100))
    assert len(slack.violations) == 3


async def test_wait_for(slack: FakeSlack, client: AsyncWebClient) -> None:
    channel = slack.add_channel("support")

    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel=channel, text="done")

    task = asyncio.create_task(post_later())
    messages = await slack.wait_for(lambda: slack.messages(channel), timeout=2)
    assert messages[0]["text"] == "done"
    await task

    with pytest.raises(AssertionError, match=r"still false after 0.05s(.|\n)*chat.postMessage"):
        await slack.wait_for(lambda: len(slack.messages(channel)) > 1, timeout=0.05)


# --------------------------------------------------------------------------- Jira


@pytest.fixture
async def jira_fake() -> AsyncIterator[FakeJira]:
    async with FakeJira() as fake:
        yield fake


def _basic(fake: FakeJira, token: str | None = None) -> dict[str, str]:
    credentials = base64.b64encode(f"{fake.email}:{token or fake.api_token}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}


async def test_jira_package_end_to_end(jira_fake: FakeJira) -> None:
    def flow() -> dict[str, Any]:
        client = jira.JIRA(
            server=jira_fake.url, basic_auth=(jira_fake.email, jira_fake.api_token), max_retries=0
        )
        info = client.server_info()
        issue = client.create_issue(
            project="PROJ",
            summary="Checkout fails",
            issuetype={"name": "Bug"},
            priority={"name": "High"},
            labels=["supportbridge", "slack-C1"],
            description="Reported in Slack",
        )
        client.create_issue(project="PROJ", summary="Unrelated", issuetype={"name": "Task"})
        comment = client.add_comment(issue.key, "Customer says it happens on mobile too")
        link = client.add_simple_link(
            issue.key, {"url": "https://fake.slack.com/archives/C1/p1", "title": "Slack thread"}
        )
        names = [t["name"] for t in client.transitions(issue.key)]
        client.transition_issue(issue.key, "In Progress")  # by name: the id comes back as a string
        client.transition_issue(issue.key, "31")  # by id: sent as an integer (tolerated quirk)
        found = client.search_issues('labels = "supportbridge"')
        fetched = client.issue(issue.key)
        assert fetched.fields.resolution is not None
        return {
            "info": info,
            "key": issue.key,
            "created": (issue.fields.summary, issue.fields.priority.name, issue.fields.issuetype.name),
            "comment": comment.body,
            "link": link.id,
            "transitions": names,
            "found": [i.key for i in found],
            "status": fetched.fields.status.name,
            "resolution": fetched.fields.resolution.name,
        }

    result = await asyncio.to_thread(flow)
    assert result["info"]["deploymentType"] == "Cloud"
    assert result["key"] == "PROJ-1"
    assert result["created"] == ("Checkout fails", "High", "Bug")
    assert result["comment"] == "Customer says it happens on mobile too"
    assert result["transitions"] == ["In Progress", "Done"]
    assert result["found"] == ["PROJ-1"]
    assert (result["status"], result["resolution"]) == ("Done", "Done")

    stored = jira_fake.issue("PROJ-1")
    assert stored["fields"]["labels"] == ["supportbridge", "slack-C1"]
    assert stored["fields"]["description"] == "Reported in Slack"
    assert [c["body"] for c in jira_fake.comments("PROJ-1")] == ["Customer says it happens on mobile too"]
    assert jira_fake.remote_links("PROJ-1")[0]["object"]["title"] == "Slack thread"
    assert result["link"] == jira_fake.remote_links("PROJ-1")[0]["id"]
    assert jira_fake.calls_to("POST issue/PROJ-1/transitions")[-1].json == {
        "transition": {"id": 31},
        "fields": {},
    }
    assert len(jira_fake.calls_to("GET search/jql")) == 1  # Cloud: the enhanced search endpoint
    jira_fake.assert_no_violations()
    assert jira_fake.unhandled == [] and jira_fake.rejections == []


async def test_jira_bad_credentials_401(jira_fake: FakeJira) -> None:
    with pytest.raises(jira.JIRAError) as denied:
        await asyncio.to_thread(
            jira.JIRA, server=jira_fake.url, basic_auth=(jira_fake.email, "wrong-token"), max_retries=0
        )
    assert denied.value.status_code == 401
    assert jira_fake.issues == {}


async def test_jira_contract_violations_and_business_rules(jira_fake: FakeJira) -> None:
    api = f"{jira_fake.url}/rest/api"
    async with aiohttp.ClientSession(headers=_basic(jira_fake)) as http:
        # contract: a remote link object needs a url
        async with http.post(f"{api}/2/issue/PROJ-1/remotelink", json={"object": {"title": "x"}}) as r:
            assert r.status == 400
            assert "'url' is a required property" in (await r.json())["errorMessages"][0]
        assert len(jira_fake.violations) == 1
        jira_fake.violations.clear()

        # Jira rules beyond the schema: summary required; v3 wants an ADF description
        async with http.post(
            f"{api}/2/issue", json={"fields": {"project": {"key": "PROJ"}, "issuetype": {"name": "Bug"}}}
        ) as r:
            assert r.status == 400
            assert (await r.json())["errors"]["summary"] == "You must specify a summary of the issue."
        plain = {
            "project": {"key": "PROJ"},
            "issuetype": {"name": "Bug"},
            "summary": "s",
            "description": "text",
        }
        async with http.post(f"{api}/3/issue", json={"fields": plain}) as r:
            assert r.status == 400 and "Atlassian Document" in (await r.json())["errors"]["description"]
        async with http.post(f"{api}/2/issue", json={"fields": plain}) as r:
            assert r.status == 201 and (await r.json())["key"] == "PROJ-1"
        # the same description, rendered for each API version
        async with http.get(f"{api}/3/issue/PROJ-1") as r:
            description = (await r.json())["fields"]["description"]
            assert description["type"] == "doc" and description["content"][0]["content"][0]["text"] == "text"
        async with http.get(f"{api}/2/issue/PROJ-1?fields=description") as r:
            assert (await r.json())["fields"] == {"description": "text"}
    assert len(jira_fake.rejections) == 2
    jira_fake.assert_no_violations()


async def test_jira_jql_subset(jira_fake: FakeJira) -> None:
    jira_fake.add_project("OPS")
    jira_fake.create_issue("PROJ", "Printer on fire", labels=["hardware"], priority="Highest")
    jira_fake.create_issue("PROJ", "Login slow", labels=["web", "perf"], status="Done")
    jira_fake.create_issue("OPS", "Rotate keys", labels=["security"])

    async def keys(jql: str) -> list[str] | int:
        async with aiohttp.ClientSession(headers=_basic(jira_fake)) as http:
            body = {"jql": jql, "fields": ["summary"]}
            async with http.post(f"{jira_fake.url}/rest/api/3/search/jql", json=body) as r:
                if r.status != 200:
                    return r.status
                return [i["key"] for i in (await r.json())["issues"]]

    assert await keys('labels = "hardware"') == ["PROJ-1"]
    assert await keys("project = PROJ ORDER BY key ASC") == ["PROJ-1", "PROJ-2"]
    assert await keys("project = PROJ AND status != Done") == ["PROJ-1"]
    assert await keys("labels in (perf, security) ORDER BY created ASC") == ["PROJ-2", "OPS-1"]
    assert await keys('project = OPS OR summary ~ "login"') == ["OPS-1", "PROJ-2"]
    assert await keys("project = PROJ AND resolution IS EMPTY") == ["PROJ-1"]
    assert await keys("labels not in (hardware) AND statusCategory = Done") == ["PROJ-2"]
    assert await keys("order by created DESC") == 400  # unbounded: refused by search/jql
    assert await keys("nonsense_field = 1") == 400
    jira_fake.assert_no_violations()


async def test_jira_failure_injection(jira_fake: FakeJira) -> None:
    url = f"{jira_fake.url}/rest/api/2/serverInfo"
    async with aiohttp.ClientSession(headers=_basic(jira_fake)) as http:
        jira_fake.fail("GET serverInfo", status=429, retry_after=1)
        async with http.get(url) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "1"
            assert (await r.json())["errorMessages"] == ["Rate limit exceeded."]
        jira_fake.fail("GET serverInfo", status=500)
        async with http.get(url) as r:
            assert r.status == 500 and "errorMessages" in await r.json()
        # aiohttp's client silently retries an idempotent request (GET) once after a dropped
        # connection, so a drop it should notice takes two failures.
        attempts = len(jira_fake.calls)
        jira_fake.fail("GET serverInfo", times=2, drop_connection=True)
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(url)
        assert len(jira_fake.calls) == attempts + 2
        jira_fake.fail("GET serverInfo", slow=0.3)
        with pytest.raises(asyncio.TimeoutError):
            await http.get(url, timeout=aiohttp.ClientTimeout(total=0.1))
        async with http.get(url) as r:
            assert r.status == 200 and (await r.json())["deploymentType"] == "Cloud"

    # the jira package sees the injected 429 as a JIRAError once retries are off
    jira_fake.fail_all("GET serverInfo", status=429, retry_after=1)
    with pytest.raises(jira.JIRAError) as limited:
        await asyncio.to_thread(
            jira.JIRA, server=jira_fake.url, basic_auth=(jira_fake.email, jira_fake.api_token), max_retries=0
        )
    assert limited.value.status_code == 429
    jira_fake.recover()
