"""The merge and escalation services on SQLite and PostgreSQL: the refusals and edge cases a person
can reach from a card, without Slack or Jira in the way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.domain.intake import IntakeRequest
from bot.domain.jira import JiraSnapshot
from bot.services import escalation, triage
from bot.services.intake import ingest_issue
from db.models import escalations, issues, problems
from db.session import Database

AGENT = "U0AGENT0001"


async def report(database: Database, config: Any, name: str, customer: str = "c1") -> int:
    request = IntakeRequest.model_validate(
        {
            "external_id": name,
            "source": "webform",
            "subject": f"Report {name}",
            "body": "Something broke.",
            "customer": {"id": customer, "email": f"{customer}@example.test"},
        }
    )
    return (await ingest_issue(database, config, request)).issue_id


async def problem(database: Database, issue_id: int) -> int:
    return int(
        await database.transaction(
            lambda conn: conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar_one()
        )
    )


async def run(database: Database, work: Any) -> Any:
    return await database.transaction(work)


async def test_merge_refusals(database: Database, make_config: Any) -> None:
    config = make_config()
    a, b, c = [await report(database, config, n) for n in "abc"]
    target = await problem(database, a)
    assert (await triage.run(database, triage.merge, b, AGENT, target)).changed
    with pytest.raises(triage.CannotMerge, match="already part of"):
        await triage.run(database, triage.merge, b, AGENT, await problem(database, c))
    with pytest.raises(triage.PartOfProblem, match=f"merged into #{a}"):
        await triage.run(database, triage.claim, b, AGENT)
    assert not (await triage.run(database, triage.merge, a, AGENT, target)).changed  # into itself
    await triage.run(database, triage.resolve, a, AGENT)
    with pytest.raises(triage.CannotMerge, match="is resolved"):
        await triage.run(database, triage.merge, c, AGENT, target)
    source_of_b = await run(
        database,
        lambda conn: conn.execute(select(problems.c.status).where(problems.c.primary_issue_id == b)).scalar(),
    )
    assert source_of_b == "merged"


async def test_an_escalation_follows_its_reports_and_two_cannot_merge(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    a, b, c = [await report(database, config, n) for n in "abc"]
    await run(database, lambda conn: escalation.escalate(conn, b, AGENT))
    with pytest.raises(escalation.AlreadyEscalated, match="already being escalated"):
        await run(database, lambda conn: escalation.escalate(conn, b, "U0OTHER0001"))
    await triage.run(database, triage.merge, b, AGENT, await problem(database, a))
    moved = await run(database, lambda conn: conn.execute(select(escalations.c.problem_id)).scalar_one())
    assert moved == await problem(database, a)  # the Jira issue now belongs to the problem b joined
    await run(database, lambda conn: escalation.escalate(conn, c, AGENT))
    with pytest.raises(triage.CannotMerge, match="Both are escalated"):
        await triage.run(database, triage.merge, c, AGENT, await problem(database, a))


async def test_a_failed_escalation_is_retried_and_a_linked_key_is_unique(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    a, b = [await report(database, config, n) for n in "ab"]
    await run(database, lambda conn: escalation.escalate(conn, a, AGENT))
    await run(
        database, lambda conn: conn.execute(update(escalations).values(state="failed", last_error="boom"))
    )
    retried = await run(database, lambda conn: escalation.escalate(conn, a, "U0OTHER0001"))
    assert retried.changed and retried.state == "pending"
    row = await run(database, lambda conn: conn.execute(select(escalations)).one())
    assert (row.state, row.last_error, row.requested_by) == ("pending", None, "U0OTHER0001")
    await run(
        database, lambda conn: conn.execute(update(escalations).values(state="created", jira_key="PROJ-7"))
    )
    url = "https://x.atlassian.net/browse/PROJ-7"
    with pytest.raises(escalation.KeyLinkedElsewhere, match=f"PROJ-7 is already linked to #{a}"):
        await run(
            database, lambda conn: escalation.link_existing(conn, b, AGENT, "PROJ-7", url, JiraSnapshot())
        )


async def test_jira_updates_partial_events_and_marking_customers(
    database: Database, make_config: Any
) -> None:
    config = make_config()
    a = await report(database, config, "a", "c1")
    b = await report(database, config, "b", "c2")
    await triage.run(database, triage.merge, b, AGENT, await problem(database, a))
    url = "https://x.atlassian.net/browse/PROJ-1"
    linked = JiraSnapshot(status="To Do", assignee_name="Ann")
    await run(database, lambda conn: escalation.link_existing(conn, a, AGENT, "PROJ-1", url, linked))
    partial = JiraSnapshot(status="In Progress")
    outcome = await run(
        database,
        lambda conn: escalation.apply_jira_update(
            conn, "PROJ-1", partial, None, complete=False, wont_do=False, ask=None
        ),
    )
    assert outcome.changes == [("status", "To Do", "In Progress")]
    row = await run(database, lambda conn: conn.execute(select(escalations)).one())
    assert row.jira_assignee == "Ann"  # a partial event says nothing of the assignee
    done = JiraSnapshot(status="Done", status_category="done", resolution="Done", fix_versions=("2.4",))
    outcome = await run(
        database,
        lambda conn: escalation.apply_jira_update(
            conn, "PROJ-1", done, "Bo", complete=True, wont_do=False, ask=None
        ),
    )
    assert outcome.resolved and ("resolution", None, "Done") in outcome.changes
    again = await run(
        database,
        lambda conn: escalation.apply_jira_update(
            conn, "PROJ-1", done, "Bo", complete=True, wont_do=False, ask=None
        ),
    )
    assert again.changes == [] and not again.resolved
    pid = await problem(database, a)
    customers = await run(database, lambda conn: escalation.customers_of(conn, pid))
    assert len(customers) == 2
    assert await run(database, lambda conn: escalation.mark_notified(conn, pid, customers[0], AGENT)) == 1
    assert await run(database, lambda conn: escalation.mark_notified(conn, pid, customers[0], AGENT)) == 0
    assert await run(database, lambda conn: escalation.mark_notified(conn, pid, None, AGENT)) == 1
    with pytest.raises(triage.TriageError, match="no longer part"):
        await run(database, lambda conn: escalation.mark_notified(conn, pid, 999_999, AGENT))
    assert await run(database, lambda conn: escalation.unlink_deleted(conn, "PROJ-1")) == pid
    assert await run(database, lambda conn: escalation.unlink_deleted(conn, "PROJ-1")) is None


# PostgreSQL only: on SQLite one writer runs at a time, so the matched report cannot move mid-merge.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_an_auto_merge_follows_its_match_into_the_problem_it_is_joining_that_moment(
    database: Database, make_config: Any
) -> None:
    """A storm: report c matched report b, whose own card is merging b into a's problem right now.
    c waits for that merge's lock and then joins a's problem with b, instead of giving up (a card)."""
    config = make_config()
    a, b, c = [await report(database, config, n, customer=f"c-{n}") for n in "abc"]
    joining = await database.engine.connect()
    try:
        await joining.begin()
        assert await joining.run_sync(lambda conn: triage.auto_merge(conn, b, a, 0.95, 0.0))
        meanwhile = asyncio.create_task(
            database.transaction(lambda conn: triage.auto_merge(conn, c, b, 0.95, 0.0))
        )
        await asyncio.sleep(0.3)
        assert not meanwhile.done()  # waiting for b's problem, which the first merge holds
        await joining.commit()
        assert await asyncio.wait_for(meanwhile, 5)
    finally:
        await joining.close()
    assert {await problem(database, n) for n in (a, b, c)} == {await problem(database, a)}
