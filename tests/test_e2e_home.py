"""The Home tab end to end: really signed `app_home_opened` events and clicks into the real app, the
Home published to the contract-checked fake Slack, on SQLite and PostgreSQL.

- every issue and problem Home lists links to its card (the card's permalink from Slack);
- a problem Jira resolved as won't do shows as won't do, never as Done or a fix;
- members of `leads_group` (expanded through `usergroups.users.list`) also see the lead view: the open
  backlog by age, SLA breaches this week and the urgent problems nobody claimed; others do not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from db.models import issues, utcnow
from sandbox.fakes.contracts import contracts_dir, contracts_missing_reason
from sandbox.fakes.jira_api import FakeJira
from sandbox.fakes.slack_api import FakeSlack
from schedules.first_response import check_first_response
from tests.conftest import JIRA_WEBHOOK_SECRET
from tests.harness import Stack, add_channels, click, new_card, running_app

pytestmark = pytest.mark.skipif(contracts_dir() is None, reason=contracts_missing_reason())


@pytest.fixture
async def home_stack(database_url: str, slack: FakeSlack, jira: FakeJira) -> AsyncIterator[Stack]:
    lead = slack.add_user("lea")
    member = slack.add_user("max")
    group = slack.add_usergroup([lead])
    settings = {
        "jira_url": jira.url,
        "jira_email": jira.email,
        "jira_api_token": jira.api_token,
        "jira_webhook_secret": JIRA_WEBHOOK_SECRET,
    }
    config = {
        "jira": {"project": "PROJ", "search_lag_seconds": 0.1},
        "leads_group": group,
        "sla": {"targets": {"urgent": "1h"}},
    }
    async with running_app(
        database_url, slack, add_channels(slack), settings_overrides=settings, config_overrides=config
    ) as stack:
        stack.extra.update(jira=jira, lead=lead, member=member)
        yield stack


def customer(name: str) -> dict[str, str]:
    return {"id": name, "name": name.title(), "email": f"{name}@example.test"}


def permalink(card: dict[str, Any]) -> str:
    return f"https://fake.slack.com/archives/{card['channel']}/p{card['ts'].replace('.', '')}"


async def open_home(stack: Stack, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": "home"}
    assert (await stack.slack_event(event)).status == 200


def home_text(stack: Stack, user: str) -> str:
    return json.dumps(stack.slack.home_views.get(user, {}).get("blocks", []), ensure_ascii=False)


async def test_home_links_cards_shows_wont_do_and_the_lead_view(home_stack: Stack) -> None:
    stack = home_stack
    lead, member, jira = stack.extra["lead"], stack.extra["member"], stack.extra["jira"]

    # Nothing yet: the lead view is there for the lead, and says so plainly.
    await open_home(stack, lead)
    await open_home(stack, member)
    await stack.slack.wait_for(lambda: member in stack.slack.home_views and lead in stack.slack.home_views)
    quiet = home_text(stack, lead)
    assert "Lead view" in quiet and "No unclaimed urgent problem." in quiet
    assert "*SLA breaches in the last 7 days:* 0" in quiet
    assert "Lead view" not in home_text(stack, member)

    # An urgent problem nobody claimed, past its 1-hour target; a normal one the lead claims.
    urgent_id, urgent = await new_card(
        stack, customer=customer("dana"), subject="API down <!here>", severity="urgent"
    )
    await stack.runtime.database.transaction(
        lambda conn: conn.execute(
            update(issues)
            .where(issues.c.id == urgent_id)
            .values(received_at=utcnow() - timedelta(minutes=70))
        )
    )
    assert await check_first_response(stack.runtime.database, stack.runtime.config) == 1
    claimed_id, claimed = await new_card(stack, customer=customer("kim"), subject="Export is empty")
    await click(stack, claimed, "issue.claim", lead)
    await stack.slack.wait_for(
        lambda: f"#{claimed_id}" in home_text(stack, lead), message="the claim on Home"
    )
    await open_home(stack, lead)
    await stack.slack.wait_for(
        lambda: "Unclaimed urgent problems (1)" in home_text(stack, lead), message="the lead view"
    )
    shown = home_text(stack, lead)
    assert f"<{permalink(claimed)}|Export is empty>" in shown  # my claimed issue, linked to its card
    assert f"*#{urgent_id}* <{permalink(urgent)}|API down &lt;!here&gt;>" in shown  # unclaimed urgent
    assert f"<#{urgent['channel']}>" in shown
    assert "<!here>" not in shown
    assert "*SLA breaches in the last 7 days:* 1" in shown
    ages = "under 1 day: 2 · 1\u20133 days: 0 · 3\u20137 days: 0 · over 7 days: 0"
    assert f"*Open backlog by age* (2)\\n{ages}" in shown
    assert f"<{permalink(urgent)}|API down &lt;!here&gt;>" in shown.split("top problems")[1]  # linked too
    assert "Lead view" not in home_text(stack, member)

    # The lead escalates what they claimed; Jira resolves it as won't do: Home says so, not "Done".
    await click(stack, claimed, "issue.escalate", lead)
    await stack.slack.wait_for(
        lambda: "PROJ-" in home_text(stack, lead), 15, message="the escalation on Home"
    )
    key = next(k for k in jira.issues)
    jira.resolve(key, "Won't Do")
    assert (await stack.jira_webhook(jira.webhook_payload("jira:issue_updated", key))).status == 200
    await stack.slack.wait_for(
        lambda: ":no_entry_sign: won't do" in home_text(stack, lead), 15, message="won't do on Home"
    )
    shown = home_text(stack, lead)
    escalated = shown.split("Problems you escalated")[1].split("top problems")[0]
    assert f"<{permalink(claimed)}|Export is empty>" in escalated and "Done" not in escalated
    assert ":tada:" not in shown and "Resolved" not in shown
    assert len(stack.slack.home_views[lead]["blocks"]) <= 100
    stack.slack.assert_no_violations()
