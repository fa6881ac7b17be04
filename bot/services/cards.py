"""Loading what an issue card shows from stored state (and the queries behind its counts).

Synchronous Core on a Connection: it runs inside `Database.transaction` on the delivery hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, distinct, func, select
from sqlalchemy.engine import Connection

from bot.domain.cards import CardCustomer, CustomerToTell, IssueCard, JiraLink, ResolvedProblem, Suggestion
from bot.domain.replies import CHANNEL_WORDS, ReplyChannelName
from db.models import (
    csat_surveys,
    customer_notices,
    customer_replies,
    customers,
    escalations,
    issue_tags,
    issues,
    problems,
    slack_messages,
)
from db.queries.customers import counted_customer, counts

CARD = "issue_card"

_same_problem = issues.alias("same_problem")
REPORTS = (
    select(func.count(_same_problem.c.id))
    .where(_same_problem.c.problem_id == issues.c.problem_id)
    .scalar_subquery()
)
DISTINCT_CUSTOMERS = (
    select(func.count(distinct(counted_customer(_same_problem))))
    .where(_same_problem.c.problem_id == issues.c.problem_id)
    .scalar_subquery()
)
CARD_ROW = select(
    issues,
    customers.c.name.label("customer_name"),
    customers.c.email.label("customer_email"),
    customers.c.company.label("customer_company"),
    customers.c.plan.label("customer_plan"),
    customers.c.slack_user_id.label("customer_slack_user_id"),
    customers.c.external_id.label("customer_external_id"),
    slack_messages.c.channel.label("posted_channel"),
    slack_messages.c.ts.label("posted_ts"),
    REPORTS.label("report_count"),
    DISTINCT_CUSTOMERS.label("customer_count"),
).select_from(
    issues.outerjoin(customers, customers.c.id == issues.c.customer_id).outerjoin(
        slack_messages, and_(slack_messages.c.issue_id == issues.c.id, slack_messages.c.purpose == CARD)
    )
)
TAGS = select(issue_tags.c.tag).order_by(issue_tags.c.tag)


PROBLEM_ROW = select(
    problems.c.id,
    problems.c.status,
    problems.c.primary_issue_id,
    problems.c.rationale,
    escalations.c.state.label("jira_state"),
    escalations.c.jira_key,
    escalations.c.jira_url,
    escalations.c.jira_status,
    escalations.c.jira_assignee,
    escalations.c.jira_resolution,
    escalations.c.jira_fix_versions,
    escalations.c.last_error.label("jira_error"),
    escalations.c.attempts.label("jira_attempts"),
).select_from(problems.outerjoin(escalations, escalations.c.problem_id == problems.c.id))
CUSTOMER_NAMES_SHOWN = 5
SUGGESTIONS_SHOWN = 3


@dataclass(frozen=True)
class PostedCard:
    channel: str
    ts: str


@dataclass(frozen=True)
class CardState:
    card: IssueCard
    channel: str
    posted: PostedCard | None
    origin: tuple[str, str] | None  # (channel, ts) of the Slack message it was logged from
    # The problem's own card when this report is merged into it, to link to (permalink may be unknown).
    problem_card: PostedCard | None = None
    problem_card_permalink: str | None = None
    needs_suggestions: bool = False  # an open problem of its own, never looked for similar ones


def _problem_details(conn: Connection, problem_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sources and the first few customers of a problem with more than one report."""
    sources = tuple(
        conn.execute(
            select(issues.c.source)
            .where(issues.c.problem_id == problem_id)
            .group_by(issues.c.source)
            .order_by(func.min(issues.c.id))
        ).scalars()
    )
    rows = conn.execute(
        select(customers.c.name, customers.c.email, customers.c.external_id, customers.c.company)
        .join(issues, issues.c.customer_id == customers.c.id)
        .where(issues.c.problem_id == problem_id, counts(issues))
        .group_by(
            customers.c.id, customers.c.name, customers.c.email, customers.c.external_id, customers.c.company
        )
        .order_by(func.min(issues.c.id))
        .limit(CUSTOMER_NAMES_SHOWN)
    ).all()
    names = tuple(
        (r.name or r.email or r.external_id or "?") + (f" ({r.company})" if r.company else "") for r in rows
    )
    return sources, names


def _suggestions(conn: Connection, stored: list[dict[str, Any]], own_problem: int) -> tuple[Suggestion, ...]:
    """Suggested problems that are still open, with their current customer counts."""
    wanted = [int(s["problem"]) for s in stored if isinstance(s, dict) and s.get("problem") != own_problem]
    rows = problem_summaries(conn, wanted, open_only=True)
    return tuple(
        Suggestion(
            problem_id=r.id, issue_id=r.primary_issue_id, subject=r.subject, customers=int(r.customers)
        )
        for r in rows[:SUGGESTIONS_SHOWN]
    )


def with_suggestions(conn: Connection, state: CardState, stored: list[dict[str, Any]]) -> CardState:
    """`state` with the suggestions just stored for it (their current counts), as `load_card_state`
    would read them back: one statement instead of the card's whole state again."""
    problem_id = state.card.problem_id
    suggestions = _suggestions(conn, stored, problem_id) if problem_id is not None else ()
    return replace(state, card=replace(state.card, suggestions=suggestions), needs_suggestions=False)


def load_card_state(conn: Connection, issue_id: int) -> CardState | None:
    row = conn.execute(CARD_ROW.where(issues.c.id == issue_id)).one_or_none()
    if row is None:
        return None
    tags = tuple(conn.execute(TAGS.where(issue_tags.c.issue_id == issue_id)).scalars())
    card = IssueCard(
        issue_id=row.id,
        subject=row.subject,
        body=row.body,
        source=row.source,
        severity=row.severity,
        reported_at=row.reported_at,
        customer=None
        if row.customer_id is None
        else CardCustomer(
            name=row.customer_name,
            email=row.customer_email,
            company=row.customer_company,
            plan=row.customer_plan,
            slack_user_id=row.customer_slack_user_id,
            external_id=row.customer_external_id,
        ),
        product_area=row.product_area,
        tags=tags,
        report_count=int(row.report_count),
        customer_count=int(row.customer_count),
        url=row.url,
        permalink=row.permalink,
        reported_by=row.reported_by,
        status=row.status,
        claimed_by=row.claimed_by,
        resolved_by=row.resolved_by,
        received_at=row.received_at,
        first_response_at=row.first_response_at,
        first_response_by=row.first_response_by,
    )
    origin = (row.origin_channel, row.origin_ts) if row.origin_channel and row.origin_ts else None
    posted = PostedCard(row.posted_channel, row.posted_ts) if row.posted_ts else None
    problem = conn.execute(PROBLEM_ROW.where(problems.c.id == row.problem_id)).one()
    primary_id = problem.primary_issue_id
    extra: dict[str, Any] = {"problem_id": problem.id, "rationale": problem.rationale}
    if problem.jira_state is not None:
        extra["jira"] = JiraLink(
            state=problem.jira_state,
            key=problem.jira_key,
            url=problem.jira_url,
            status=problem.jira_status,
            assignee=problem.jira_assignee,
            resolution=problem.jira_resolution,
            fix_versions=tuple(problem.jira_fix_versions or ()),
            error=problem.jira_error,
            attempts=int(problem.jira_attempts or 0),
        )
        if problem.jira_resolution and primary_id == issue_id:
            told = conn.execute(
                select(func.count())
                .select_from(customer_notices)
                .where(customer_notices.c.problem_id == problem.id)
            ).scalar_one()
            extra["to_tell"] = max(card.customer_count - int(told), 0)
    if primary_id == issue_id:
        scores = conn.execute(
            select(func.avg(csat_surveys.c.score), func.count(csat_surveys.c.score)).where(
                csat_surveys.c.problem_id == problem.id, csat_surveys.c.score.is_not(None)
            )
        ).one()
        if scores[1]:
            extra["satisfaction"] = round(float(scores[0]), 1)
            extra["satisfaction_answers"] = int(scores[1])
    problem_card = None
    problem_card_permalink = None
    needs_suggestions = False
    if primary_id is not None and primary_id != issue_id:
        extra["merged_into"] = primary_id
        primary_card = conn.execute(
            select(slack_messages.c.channel, slack_messages.c.ts, slack_messages.c.permalink).where(
                slack_messages.c.issue_id == primary_id, slack_messages.c.purpose == CARD
            )
        ).first()
        if primary_card is not None:
            problem_card = PostedCard(primary_card.channel, primary_card.ts)
            problem_card_permalink = primary_card.permalink
    else:
        if card.report_count > 1:
            extra["sources"], extra["customer_names"] = _problem_details(conn, problem.id)
        if problem.status == "open" and row.suggestions:
            extra["suggestions"] = _suggestions(conn, row.suggestions, problem.id)
        # Looked for once, when the card is first posted: a storm's report may have gathered others
        # (auto-merged into it) before its own card went out, and must still find its problem.
        needs_suggestions = (
            problem.status == "open"
            and row.suggestions is None
            and (card.report_count == 1 or posted is None)
        )
    card = replace(card, **extra)
    return CardState(
        card=card,
        channel=row.channel_id,
        posted=posted,
        origin=origin,
        problem_card=problem_card,
        problem_card_permalink=problem_card_permalink,
        needs_suggestions=needs_suggestions,
    )


CUSTOMER_LIST = "customer_list"


def load_customer_list(
    conn: Connection, problem_id: int
) -> tuple[ResolvedProblem, PostedCard, PostedCard | None] | None:
    """A resolved problem's customers (across every merged report and source), who has been told,
    the problem's card (whose thread the list goes in) and the list already posted, if any."""
    problem = conn.execute(
        select(
            problems.c.id,
            problems.c.primary_issue_id,
            issues.c.subject,
            escalations.c.jira_key,
            escalations.c.jira_url,
            escalations.c.jira_resolution,
            escalations.c.jira_fix_versions,
        )
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .outerjoin(escalations, escalations.c.problem_id == problems.c.id)
        .where(problems.c.id == problem_id)
    ).first()
    if problem is None:
        return None
    posted = {
        row.purpose: PostedCard(row.channel, row.ts)
        for row in conn.execute(
            select(slack_messages.c.purpose, slack_messages.c.channel, slack_messages.c.ts).where(
                slack_messages.c.issue_id == problem.primary_issue_id,
                slack_messages.c.purpose.in_((CARD, CUSTOMER_LIST)),
            )
        )
    }
    if CARD not in posted:
        return None
    rows = conn.execute(
        select(
            customers.c.id,
            customers.c.name,
            customers.c.email,
            customers.c.external_id,
            customers.c.company,
            issues.c.source,
            customer_notices.c.notified_by,
            customer_notices.c.notified_at,
        )
        .join(issues, issues.c.customer_id == customers.c.id)
        .outerjoin(
            customer_notices,
            and_(
                customer_notices.c.customer_id == customers.c.id, customer_notices.c.problem_id == problem_id
            ),
        )
        .where(issues.c.problem_id == problem_id, counts(issues))
        .order_by(issues.c.id)
    ).all()
    people: dict[int, dict[str, Any]] = {}
    for row in rows:
        person = people.setdefault(
            row.id,
            {
                "name": row.name or row.email or row.external_id or "Unknown customer",
                "company": row.company,
                "email": row.email,
                "sources": [],
                "notified_by": row.notified_by,
                "notified": row.notified_at is not None,
            },
        )
        if row.source not in person["sources"]:
            person["sources"].append(row.source)
    resolved = ResolvedProblem(
        problem_id=problem.id,
        issue_id=problem.primary_issue_id,
        subject=problem.subject,
        jira_key=problem.jira_key,
        jira_url=problem.jira_url,
        resolution=problem.jira_resolution,
        fix_versions=tuple(problem.jira_fix_versions or ()),
        customers=tuple(
            CustomerToTell(
                customer_id=cid,
                name=p["name"],
                company=p["company"],
                email=p["email"],
                sources=tuple(p["sources"]),
                notified_by=p["notified_by"],
                notified=p["notified"],
            )
            for cid, p in people.items()
        ),
    )
    notices = {
        row.customer_id: row
        for row in conn.execute(
            select(
                customer_replies.c.id,
                customer_replies.c.customer_id,
                customer_replies.c.state,
                customer_replies.c.channel,
                customer_replies.c.reason,
            ).where(customer_replies.c.problem_id == problem_id, customer_replies.c.purpose == "fix_notice")
        )
    }
    if notices:
        resolved = replace(
            resolved,
            customers=tuple(
                replace(
                    c,
                    notice_state=notices[c.customer_id].state,
                    notice_channel=CHANNEL_WORDS[ReplyChannelName(notices[c.customer_id].channel)],
                    notice_reason=notices[c.customer_id].reason,
                    notice_reply_id=notices[c.customer_id].id,
                )
                if c.customer_id in notices
                else c
                for c in resolved.customers
            ),
        )
    return resolved, posted[CARD], posted.get(CUSTOMER_LIST)


def problem_summaries(
    conn: Connection, problem_ids: list[int], *, open_only: bool = False, counts: bool = True
) -> list[Any]:
    """Rows for problem lists (the merge select, `/support search`, the digest), in the order given: id,
    primary_issue_id, subject, status, Jira key/url/status, card channel/permalink, and unless `counts`
    is off, all-time customers and reports (a scan of every report of each problem: the digest, which
    shows its window's counts, leaves them out)."""
    if not problem_ids:
        return []
    query = _summaries_query(open_only, counts)
    order = {p: i for i, p in enumerate(problem_ids)}
    return sorted(conn.execute(query, {"ids": problem_ids}).all(), key=lambda r: order[r.id])


@cache
def _summaries_query(open_only: bool, counts: bool) -> Any:
    # Built once per kind: every new card's suggestions read it, and building it each time was a few
    # per cent of the card benchmark's CPU.
    member = issues.alias("member")
    columns: list[Any] = [
        problems.c.id,
        problems.c.primary_issue_id,
        problems.c.status,
        issues.c.subject,
        escalations.c.jira_key,
        escalations.c.jira_url,
        escalations.c.jira_status,
        escalations.c.jira_resolution,
        problems.c.rationale,
        slack_messages.c.channel,
        slack_messages.c.permalink,
    ]
    if counts:
        columns += [
            select(func.count(distinct(counted_customer(member))))
            .where(member.c.problem_id == problems.c.id)
            .scalar_subquery()
            .label("customers"),
            select(func.count(member.c.id))
            .where(member.c.problem_id == problems.c.id)
            .scalar_subquery()
            .label("reports"),
        ]
    query = (
        select(*columns)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .outerjoin(escalations, escalations.c.problem_id == problems.c.id)
        .outerjoin(
            slack_messages, and_(slack_messages.c.issue_id == issues.c.id, slack_messages.c.purpose == CARD)
        )
        .where(problems.c.id.in_(bindparam("ids", expanding=True)), problems.c.status != "merged")
    )
    if open_only:
        query = query.where(problems.c.status == "open")
    return query
