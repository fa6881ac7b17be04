"""The per-process cache of Jira's create metadata behind the escalation modal's fields: the real
JiraGateway against the fake Jira, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain.escalation import FieldChoice
from bot.services.jira_fields import OPTIONS_MAX, JiraFieldChoices, matching
from integrations.jira_client import JiraGateway
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeJira]:
    async with FakeJira() as server:
        yield server
        server.assert_no_violations()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def choices(fake: FakeJira, clock: Clock) -> JiraFieldChoices:
    gateway = JiraGateway(fake.url, fake.email, fake.api_token, timeout=2)
    return JiraFieldChoices(gateway, fresh_for=300, answer_within=0.5, retry_after_failure=15, clock=clock)


def keys(found: list[FieldChoice]) -> list[str]:
    return [c.value for c in found]


async def test_kept_for_a_while_then_read_again(
    fake: FakeJira, choices: JiraFieldChoices, clock: Clock
) -> None:
    assert keys(await choices.projects()) == ["PROJ"]
    fake.add_project("WEB")
    clock.now += 299
    assert keys(await choices.projects()) == ["PROJ"]  # still fresh: Jira is not asked
    assert len(fake.calls_to("GET project")) == 1
    clock.now += 2
    assert keys(await choices.projects()) == ["PROJ", "WEB"]
    assert len(fake.calls_to("GET project")) == 2


async def test_a_stale_list_beats_no_list_when_jira_fails_or_is_slow(
    fake: FakeJira, choices: JiraFieldChoices, clock: Clock
) -> None:
    assert keys(await choices.priorities("high")) == ["Highest", "High"]
    clock.now += 301
    fake.fail("GET priority", times=None, status=500)
    assert keys(await choices.priorities("high")) == ["Highest", "High"]
    clock.now += 10  # resting after the failure: Jira is left alone
    assert keys(await choices.priorities()) == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert len(fake.calls_to("GET priority")) == 2
    fake.recover()
    fake.fail("GET priority", slow=1.5)
    clock.now += 10
    assert keys(await choices.priorities("low")) == ["Low", "Lowest"]  # answered at 0.5 s, stale


async def test_issue_types_per_project_and_bad_projects(fake: FakeJira, choices: JiraFieldChoices) -> None:
    fake.add_issue_type("Incident")
    fake.add_project("OPS", issue_types=["Incident"])
    assert keys(await choices.issue_types("ops")) == ["Incident"]
    assert choices.known_issue_types("OPS") == ["Incident"]
    assert choices.known_issue_types("PROJ") is None  # not read: no Jira call to find out
    assert await choices.issue_types("not a key") == []
    assert await choices.issue_types("") == []


def test_matching_words_in_any_order_prefix_first_at_most_a_hundred() -> None:
    many = [FieldChoice(f"P{i}", f"Project {i}") for i in range(150)]
    assert len(matching(many, "")) == OPTIONS_MAX
    listed = [FieldChoice("WEB", "Web Platform (WEB)"), FieldChoice("OPS", "Ops for the web (OPS)")]
    assert keys(matching(listed, "web")) == ["WEB", "OPS"]
    assert keys(matching(listed, "OPS web")) == ["OPS"]
    assert keys(matching(list(reversed(listed)), "web")) == ["WEB", "OPS"]  # starts with it: first
    assert matching(listed, "billing") == []
