"""JiraGateway: the real `jira` package, driven through our interface, against FakeJira over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.domain.jira import JiraSnapshot, jira_time
from bot.views.jira_text import render_escalation_description
from integrations.jira_client import (
    JiraGateway,
    JiraIssue,
    JiraRejected,
    JiraUnavailable,
)
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())

LABEL = "supportbridge-problem-42"


@pytest.fixture
async def fake() -> AsyncIterator[FakeJira]:
    async with FakeJira() as server:
        yield server


@pytest.fixture
def gateway(fake: FakeJira) -> JiraGateway:
    return JiraGateway(fake.url, fake.email, fake.api_token, timeout=2)


async def create(gateway: JiraGateway, **overrides: object) -> JiraIssue:
    args: dict[str, object] = {
        "project": "PROJ",
        "issue_type": "Bug",
        "summary": "Checkout fails",
        "description": "Customers cannot pay",
        "priority": "High",
        "labels": ["supportbridge", LABEL],
    }
    args.update(overrides)
    return await gateway.create_issue(**args)  # type: ignore[arg-type]


def assert_clean(fake: FakeJira) -> None:
    fake.assert_no_violations()
    assert fake.unhandled == []


# --------------------------------------------------------------------------- create / find / get


async def test_create_with_all_fields(fake: FakeJira, gateway: JiraGateway) -> None:
    description = render_escalation_description(
        problem_id=42,
        customer_count=2,
        report_count=3,
        quotes=[("zendesk", "Acme Corp", "Card declined *every* time {code}")],
        sources=["zendesk"],
        slack_permalink="https://acme.slack.com/archives/C1/p1",
        tags=["billing"],
        severity="high",
    )
    issue = await create(
        gateway,
        issue_type="Bug",
        summary="Checkout fails\nfor EU customers " + "x" * 400,
        description=description,
        priority="Highest",
        labels=["supportbridge", LABEL, "billing area"],
    )

    assert issue.key == "PROJ-1"
    assert issue.url == f"{fake.url}/browse/PROJ-1"
    assert issue.snapshot == JiraSnapshot(
        status="To Do", status_category="new", updated_at=jira_time(fake.issue("PROJ-1")["fields"]["updated"])
    )
    assert issue.snapshot.updated_at is not None
    assert issue.labels == ("supportbridge", LABEL, "billing-area")  # Jira labels hold no spaces
    assert len(issue.summary) == 255 and "\n" not in issue.summary
    assert issue.summary.startswith("Checkout fails for EU customers xxx") and issue.summary.endswith("…")

    stored = fake.issue("PROJ-1")["fields"]
    assert (stored["issuetype"], stored["priority"]) == ("Bug", "Highest")
    assert stored["description"] == description
    assert stored["labels"] == ["supportbridge", LABEL, "billing-area"]
    assert len(fake.calls_to("POST issue")) == 1
    assert fake.rejections == []
    assert_clean(fake)


async def test_create_without_priority_takes_the_project_default(
    fake: FakeJira, gateway: JiraGateway
) -> None:
    issue = await create(gateway, priority=None, issue_type="Task")
    assert fake.issue(issue.key)["fields"]["priority"] == "Medium"
    assert "priority" not in fake.calls_to("POST issue")[0].json["fields"]
    assert_clean(fake)


async def test_find_by_label_finds_the_oldest(fake: FakeJira, gateway: JiraGateway) -> None:
    fake.add_project("OPS")
    assert await gateway.find_by_label(LABEL) is None
    fake.create_issue("PROJ", "Unrelated", labels=["other"])
    first = fake.create_issue("OPS", "Checkout fails", labels=[LABEL])
    fake.create_issue("PROJ", "Checkout fails again", labels=[LABEL, "billing"])

    found = await gateway.find_by_label(LABEL)
    assert found is not None and (found.key, found.summary) == (first, "Checkout fails")
    in_proj = await gateway.find_by_label(LABEL, project="PROJ")
    assert in_proj is not None and in_proj.key == "PROJ-2"
    assert await gateway.find_by_label("no-such-label") is None

    searches = fake.calls_to("GET search/jql")  # Jira Cloud's search endpoint
    assert len(searches) == 4 and fake.calls_to("* search") == []
    assert searches[2].query["jql"] == [f'project = "PROJ" AND labels = "{LABEL}" ORDER BY created ASC']
    assert_clean(fake)


async def test_find_by_label_quotes_the_label(fake: FakeJira, gateway: JiraGateway) -> None:
    weird = 'he said "hi"\\or) OR project = OPS'
    fake.create_issue("PROJ", "Decoy", labels=["x"])
    key = fake.create_issue("PROJ", "Weird", labels=["-".join(weird.split())])
    found = await gateway.find_by_label(weird)
    assert found is not None and found.key == key
    assert_clean(fake)


async def test_find_by_label_on_a_data_center_site_uses_the_legacy_search() -> None:
    async with FakeJira(deployment_type="Server") as fake:
        gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=2)
        key = fake.create_issue("PROJ", "Checkout fails", labels=[LABEL])
        found = await gateway.find_by_label(LABEL, project="PROJ")
        assert found is not None and found.key == key
        assert len(fake.calls_to("GET search")) == 1 and fake.calls_to("* search/jql") == []
        assert_clean(fake)


async def test_get_issue_reads_status_assignee_resolution_and_versions(
    fake: FakeJira, gateway: JiraGateway
) -> None:
    marcus = fake.add_user("Marcus Lee", "marcus@example.com")
    key = (await create(gateway)).key
    fake.set_assignee(key, marcus)
    fake.resolve(key, "Won't Do", fix_versions=["2.4.0", "2.5.0"])

    assert await gateway.get_issue(key.lower()) == JiraIssue(
        key=key,
        url=f"{fake.url}/browse/{key}",
        summary="Checkout fails",
        labels=("supportbridge", LABEL),
        snapshot=JiraSnapshot(
            status="Done",
            status_category="done",
            assignee_name="Marcus Lee",
            assignee_account_id=marcus,
            assignee_email="marcus@example.com",
            resolution="Won't Do",
            fix_versions=("2.4.0", "2.5.0"),
            updated_at=jira_time(fake.issue(key)["fields"]["updated"]),
        ),
    )
    assert_clean(fake)


async def test_get_issue_404_is_none(fake: FakeJira, gateway: JiraGateway) -> None:
    assert await gateway.get_issue("PROJ-99") is None
    key = fake.create_issue("PROJ", "Soon gone")
    fake.delete_issue(key)
    assert await gateway.get_issue(key) is None
    with pytest.raises(ValueError, match="not a Jira issue key"):
        await gateway.get_issue("../../myself")
    assert_clean(fake)


# --------------------------------------------------------------------------- no second issue


async def test_dropped_connection_after_create_then_search_finds_the_one_issue(
    fake: FakeJira, gateway: JiraGateway
) -> None:
    fake.fail_after("POST issue")
    with pytest.raises(JiraUnavailable) as raised:
        await create(gateway)
    assert str(raised.value) == "cannot reach Jira: ConnectionError (it may have been carried out)"
    assert raised.value.outcome_unknown

    # Jira did create it; the gateway did not re-send the POST by itself.
    assert list(fake.issues) == ["PROJ-1"]
    assert len(fake.calls_to("POST issue")) == 1

    # What the outbox does before trying again: search for its dedupe label.
    found = await gateway.find_by_label(LABEL)
    assert found is not None and found.key == "PROJ-1"
    assert len(fake.issues) == 1
    assert_clean(fake)


async def test_a_create_that_times_out_still_happens(fake: FakeJira) -> None:
    gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=0.3)
    await gateway.server_info()  # connected before the clock matters
    fake.fail("POST issue", slow=0.8)
    with pytest.raises(JiraUnavailable, match=r"^Jira did not answer within 0.3s") as raised:
        await create(gateway)
    assert raised.value.outcome_unknown
    assert len(fake.calls_to("POST issue")) == 1
    found = await fake.wait_for(lambda: fake.issues.get("PROJ-1"), timeout=3)
    assert found["fields"]["labels"] == ["supportbridge", LABEL]
    assert (await gateway.find_by_label(LABEL)) is not None
    assert_clean(fake)


async def test_slow_read_beyond_the_timeout_is_unavailable(fake: FakeJira) -> None:
    gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=0.3)
    key = fake.create_issue("PROJ", "Broken")
    fake.fail("GET issue/*", slow=0.8)
    with pytest.raises(JiraUnavailable) as raised:  # had it waited for the slow answer, it would succeed
        await gateway.get_issue(key)
    assert raised.value.retry_after is None and not raised.value.outcome_unknown  # a read
    assert await gateway.get_issue(key) is not None  # the next call is fine


async def test_a_hanging_jira_fails_the_call_within_its_timeout_and_frees_the_thread(fake: FakeJira) -> None:
    # One worker thread: if the hung request were still running in it, nothing else could run.
    gateway = JiraGateway(fake.url, fake.email, fake.api_token, threads=1)  # the default 10 s timeout
    await gateway.server_info()
    hung, fine = fake.create_issue("PROJ", "Hangs"), fake.create_issue("PROJ", "Answers")
    fake.fail(f"GET issue/{hung}", slow=30)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(JiraUnavailable, match=r"^Jira did not answer within 0.3s$"):
        await gateway.get_issue(hung, request_timeout=0.3)  # no wait_for: the request itself gave up
    assert loop.time() - started < 2
    # The worker returned: the next call runs on it at once, while the fake still holds the hung one.
    answered = await asyncio.wait_for(gateway.get_issue(fine, request_timeout=0.3), timeout=2)
    assert answered is not None and answered.key == fine
    assert len(fake.calls_to(f"GET issue/{hung}")) == 1


async def test_calls_run_in_a_bounded_number_of_threads(fake: FakeJira) -> None:
    gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=2, threads=2)
    keys = [fake.create_issue("PROJ", f"Issue {n}") for n in range(4)]
    await gateway.server_info()
    fake.fail("GET issue/*", times=4, slow=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await asyncio.gather(*(gateway.get_issue(key) for key in keys))
    elapsed = loop.time() - started
    assert [issue.key for issue in found if issue is not None] == keys
    assert 1.0 <= elapsed < 2.5  # two at a time (each thread with its own connection), not four, not one
    assert_clean(fake)


async def test_the_event_loop_keeps_running_during_a_call(fake: FakeJira, gateway: JiraGateway) -> None:
    fake.fail("GET issue/*", slow=0.4)
    key = fake.create_issue("PROJ", "Broken")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        assert await gateway.get_issue(key) is not None
    finally:
        ticker.cancel()
    assert ticks >= 5  # ~20 if the loop was free the whole time; 0 if the call had blocked it


# --------------------------------------------------------------------------- error split


@pytest.mark.parametrize(("status", "retry_after"), [(429, 7), (503, 30)])
async def test_rate_limit_and_unavailable_carry_retry_after(
    fake: FakeJira, gateway: JiraGateway, status: int, retry_after: int
) -> None:
    await gateway.server_info()
    fake.fail("POST issue", status=status, retry_after=retry_after)
    with pytest.raises(JiraUnavailable) as raised:
        await create(gateway)
    assert raised.value.retry_after == retry_after and not raised.value.outcome_unknown
    assert str(raised.value).startswith(f"Jira answered HTTP {status}")
    # The `jira` package retries 429/503 itself when allowed to (sleeping, then re-POSTing): not here.
    assert len(fake.calls_to("POST issue")) == 1 and fake.issues == {}


async def test_server_error_is_unavailable(fake: FakeJira, gateway: JiraGateway) -> None:
    fake.fail("GET search/jql", status=500)
    with pytest.raises(JiraUnavailable) as raised:
        await gateway.find_by_label(LABEL)
    assert str(raised.value) == "Jira answered HTTP 500: Internal server error"
    assert raised.value.retry_after is None


async def test_bad_priority_is_rejected_with_jiras_reason(fake: FakeJira, gateway: JiraGateway) -> None:
    with pytest.raises(JiraRejected) as raised:
        await create(gateway, priority="Blocker")
    assert str(raised.value) == "Jira answered HTTP 400: priority: Specify a valid 'priority' id or name"
    assert fake.issues == {}


async def test_unknown_project_is_rejected(fake: FakeJira, gateway: JiraGateway) -> None:
    with pytest.raises(JiraRejected, match="project: valid project is required"):
        await create(gateway, project="NOPE")
    assert fake.issues == {}


async def test_project_404_is_rejected(fake: FakeJira, gateway: JiraGateway) -> None:
    await gateway.server_info()
    fake.fail("POST issue", status=404, error="No project could be found with key 'GONE'.")
    with pytest.raises(JiraRejected, match="project 'PROJ' was not found"):
        await create(gateway)


async def test_bad_credentials_and_missing_permission_are_rejected(fake: FakeJira) -> None:
    wrong = JiraGateway(fake.url, fake.email, "wrong-token", timeout=2)
    with pytest.raises(JiraRejected) as raised:
        await wrong.find_by_label(LABEL)
    assert "credentials were rejected" in str(raised.value)
    assert "wrong-token" not in str(raised.value) and fake.email not in str(raised.value)
    # `supportbridge check` catches JiraUnavailable from server_info and prints its message
    with pytest.raises(JiraUnavailable, match=r"^Jira answered HTTP 401"):
        await wrong.server_info()

    gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=2)
    await gateway.server_info()
    fake.fail("POST issue", status=403, error="You do not have permission to create issues in this project.")
    with pytest.raises(JiraRejected, match=r"lacks permission .*create issues"):
        await create(gateway)


async def test_unreachable_jira_is_unavailable() -> None:
    async with FakeJira() as fake:
        gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=1)
        await gateway.server_info()  # connected once; then Jira goes away
    with pytest.raises(JiraUnavailable) as raised:
        await gateway.get_issue("PROJ-1")
    assert str(raised.value) == "cannot reach Jira: ConnectionError"
    # a write that could not even connect surely did not happen
    with pytest.raises(JiraUnavailable) as raised:
        await gateway.add_comment("PROJ-1", "hello")
    assert str(raised.value) == "cannot reach Jira: ConnectionError"
    assert not raised.value.outcome_unknown
    never = JiraGateway(fake.url, fake.email, fake.api_token, timeout=1)
    with pytest.raises(JiraUnavailable, match=r"^cannot reach Jira: ConnectionError$"):
        await create(never)


async def test_reading_back_after_create_may_fail_without_losing_the_key(
    fake: FakeJira, gateway: JiraGateway
) -> None:
    await gateway.server_info()
    fake.fail("GET issue/PROJ-1", status=503)
    issue = await create(gateway)
    assert (issue.key, issue.snapshot, issue.labels) == ("PROJ-1", JiraSnapshot(), ("supportbridge", LABEL))
    assert len(fake.issues) == 1


# --------------------------------------------------------------------------- links and comments


async def test_remote_link_is_idempotent_by_global_id(fake: FakeJira, gateway: JiraGateway) -> None:
    key = (await create(gateway)).key
    link = {"url": "https://acme.slack.com/archives/C1/p1", "global_id": "supportbridge:problem:42"}
    await gateway.add_remote_link(key, title="Slack thread", **link)
    await gateway.add_remote_link(key, title="Slack thread (3 customers)", **link)
    await gateway.add_remote_link(
        key, url="https://acme.slack.com/archives/C1/p2", title="Other", global_id="supportbridge:problem:43"
    )

    links = fake.remote_links(key)
    assert [(x["globalId"], x["object"]["title"]) for x in links] == [
        ("supportbridge:problem:42", "Slack thread (3 customers)"),
        ("supportbridge:problem:43", "Other"),
    ]
    assert links[0]["object"]["url"] == "https://acme.slack.com/archives/C1/p1"
    with pytest.raises(JiraRejected, match="issue PROJ-9 was not found"):
        await gateway.add_remote_link("PROJ-9", title="x", **link)
    assert_clean(fake)


async def test_comment(fake: FakeJira, gateway: JiraGateway) -> None:
    key = (await create(gateway)).key
    await gateway.add_comment(key, "*2 more customers* reported this problem")
    assert [c["body"] for c in fake.comments(key)] == ["*2 more customers* reported this problem"]
    with pytest.raises(JiraRejected, match="issue PROJ-9 was not found"):
        await gateway.add_comment("PROJ-9", "hello")
    assert_clean(fake)


# --------------------------------------------------------------------------- FakeJira's Jira-side state


async def test_fake_versions_resolutions_and_deletes_through_the_jira_package(fake: FakeJira) -> None:
    import jira

    fake.add_version("PROJ", "2.4.0", released=True)
    fake.add_version("PROJ", "2.5.0")

    def flow() -> dict[str, object]:
        client = jira.JIRA(server=fake.url, basic_auth=(fake.email, fake.api_token), max_retries=0)
        created = client.create_issue(
            project="PROJ", summary="Broken", issuetype={"name": "Bug"}, fixVersions=[{"name": "2.4.0"}]
        )
        client.create_issue(project="PROJ", summary="Other", issuetype={"name": "Task"}, labels=["x"])
        client.issue(created.key).update(update={"fixVersions": [{"add": {"name": "2.5.0"}}]})
        client.transition_issue(created.key, "Done", fields={"resolution": {"name": "Won't Do"}})
        fetched = client.issue(created.key)
        result = {
            "versions": [(v.name, v.released) for v in client.project_versions("PROJ")],
            "resolutions": [r.name for r in client.resolutions()],
            "fix": [v.name for v in fetched.fields.fixVersions],
            "resolution": fetched.fields.resolution.name,
            "by_version": [i.key for i in client.search_issues('fixVersion = "2.5.0"')],
            "by_labels": [i.key for i in client.search_issues("labels in (x, y) ORDER BY created ASC")],
        }
        try:
            client.create_issue(
                project="PROJ", summary="s", issuetype={"name": "Bug"}, fixVersions=[{"name": "9.9"}]
            )
        except jira.JIRAError as e:
            result["bad_version"] = e.status_code
        # the package would send deleteSubtasks=False (a Python bool); the contract says "true"|"false"
        client.issue(created.key).delete(deleteSubtasks="false")
        return result

    result = await asyncio.to_thread(flow)
    assert result == {
        "versions": [("2.4.0", True), ("2.5.0", False)],
        "resolutions": ["Done", "Won't Do", "Duplicate", "Cannot Reproduce"],
        "fix": ["2.4.0", "2.5.0"],
        "resolution": "Won't Do",
        "by_version": ["PROJ-1"],
        "by_labels": ["PROJ-2"],
        "bad_version": 400,
    }
    assert "PROJ-1" in fake.deleted and "PROJ-1" not in fake.issues
    # REST changes are kept like the UI's, made by the bot's account
    history = fake.deleted["PROJ-1"]["changelog"]
    assert [(i["field"], i["toString"]) for h in history for i in h["items"]] == [
        ("Fix Version", "2.5.0"),
        ("status", "Done"),
        ("resolution", "Won't Do"),
    ]
    assert {h["author"] for h in history} == {fake.account_id}
    assert_clean(fake)


# --------------------------------------------------------------------------- create metadata


async def test_projects_issue_types_and_priorities_as_jira_offers_them(
    fake: FakeJira, gateway: JiraGateway
) -> None:
    fake.add_issue_type("Sub-task", subtask=True)
    fake.add_issue_type("Incident")
    fake.add_project("OPS", "Operations", issue_types=["Incident", "Sub-task", "Bug"])
    fake.add_priority("Trivial")

    projects = await gateway.projects()
    assert [(p.key, p.name) for p in projects] == [("PROJ", "Proj Project"), ("OPS", "Operations")]
    # The create metadata of each project; a sub-task needs a parent, so it is left out.
    assert [t.name for t in await gateway.issue_types("OPS")] == ["Incident", "Bug"]
    assert [t.name for t in await gateway.issue_types("proj")] == ["Task", "Bug", "Story"]
    assert fake.calls_to("GET issue/createmeta/OPS/issuetypes")[0].query["maxResults"] == ["100"]
    assert await gateway.issue_types("GONE") == []
    with pytest.raises(ValueError):
        await gateway.issue_types("../etc")
    assert await gateway.priorities() == ["Highest", "High", "Medium", "Low", "Lowest", "Trivial"]

    # The project offers what it has: an issue of a type it lacks is refused, as Jira does.
    with pytest.raises(JiraRejected, match="issuetype"):
        await create(gateway, project="OPS", issue_type="Story")
    assert (await create(gateway, project="OPS", issue_type="Incident", priority="Trivial")).key == "OPS-1"

    fake.fail("GET priority", status=503)
    with pytest.raises(JiraUnavailable):
        await gateway.priorities()
    assert_clean(fake)
