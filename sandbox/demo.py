"""Demo data: four weeks of customer issues, so the digest, alerts and rotations have something to show.

Every report goes in the way real ones do, so it is stored, routed and posted as a card by the bot
itself: through the signed intake webhook, a helpdesk's report naming the conversation or ticket opened
for it in the fake Intercom or Zendesk first (so a reply from its card has somewhere to land, and the
customer can answer there), an e-mail stored as the mailbox intake stores one (under its Message-ID, so
the customer's answer to a reply threads back to it). Only then is it moved back in time (its
`received_at`, when the bot heard of it, is what the weekly digest counts), and the triage a team would
have done over those weeks is applied through the same services the buttons call: duplicates merged
into one problem, some claimed, some resolved, a few escalated to the (fake) Jira, one of them already
fixed there.

Loading twice changes nothing: the reports carry fixed external ids, so the second load finds them.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from bot.runtime import Runtime
from bot.services import escalation, shadowing, triage
from db.models import escalations, issues, outbox_items, problems
from sandbox import customers
from sandbox.stack import Sandbox
from sandbox.workspace import PRODUCT_PEOPLE, SUPPORT_PEOPLE
from schedules import digest as digest_jobs

log = logging.getLogger(__name__)

SOURCES = ("webform", "zendesk", "intercom", "email", "api")
WEEKS = 4


@dataclass(frozen=True)
class Theme:
    """One customer problem and how often it was reported in each of the last four weeks (oldest first)."""

    key: str
    subject: str
    quotes: tuple[str, ...]
    area: str
    severity: str
    tags: tuple[str, ...]
    weekly: tuple[int, int, int, int]
    fate: str = "open"  # open | claimed | resolved | escalated | fixed (escalated and done in Jira)


THEMES: tuple[Theme, ...] = (
    Theme(
        "sso",
        "SSO login fails after password reset",
        (
            "Since this morning none of our staff can log in with SSO after resetting passwords.",
            "Okta login loops back to the sign-in page after a password change.",
            "We get error 500 on the SSO callback when a user just reset their password.",
        ),
        "authentication",
        "high",
        ("bug", "login"),
        (0, 1, 3, 5),
        "escalated",
    ),
    Theme(
        "export",
        "Invoice export times out for large accounts",
        (
            "Exporting more than 1000 invoices never finishes, the spinner just keeps going.",
            "The CSV export of last quarter's invoices times out after a minute.",
        ),
        "billing",
        "normal",
        ("bug", "billing", "performance"),
        (2, 2, 1, 2),
        "fixed",
    ),
    Theme(
        "vat",
        "VAT number rejected for EU customers",
        (
            "Our valid Irish VAT number is rejected at checkout.",
            "The billing page says our German VAT ID is invalid but it is correct.",
        ),
        "billing",
        "high",
        ("billing",),
        (1, 1, 0, 1),
        "claimed",
    ),
    Theme(
        "dashboard",
        "Dashboard loads very slowly in the morning",
        (
            "The main dashboard takes 20+ seconds to load every morning around 9.",
            "Reports page is painfully slow at the start of the day.",
        ),
        "reporting",
        "normal",
        ("performance",),
        (1, 2, 2, 3),
    ),
    Theme(
        "darkmode",
        "Please add a dark mode",
        (
            "Our support team works nights, a dark mode would really help.",
            "Any plans for a dark theme? The white screen is harsh.",
        ),
        "ui",
        "low",
        ("feature-request",),
        (1, 1, 1, 1),
    ),
    Theme(
        "sync",
        "Salesforce sync drops contacts",
        (
            "About 5% of our contacts never arrive in Salesforce after the nightly sync.",
            "Contacts created via the API are missing in Salesforce.",
        ),
        "integrations",
        "high",
        ("bug", "data-loss"),
        (0, 0, 1, 2),
        "escalated",
    ),
    Theme(
        "mobile",
        "Mobile app crashes when attaching a photo",
        ("The iOS app crashes as soon as I attach a photo to a ticket.",),
        "mobile",
        "normal",
        ("bug",),
        (1, 0, 1, 0),
        "resolved",
    ),
    Theme(
        "outage",
        "API returns 503 for all requests",
        ("All API calls return 503 since 10 minutes, our integration is down.",),
        "api",
        "urgent",
        ("bug",),
        (0, 0, 0, 1),
    ),
    Theme(
        "csv",
        "CSV import mixes up date formats",
        (
            "Imported dates like 03/04 come out as March 4th instead of April 3rd.",
            "Date columns are parsed in US format even though our locale is UK.",
        ),
        "reporting",
        "normal",
        ("bug",),
        (1, 1, 0, 0),
        "resolved",
    ),
    Theme(
        "seats",
        "Cannot remove seats from the subscription",
        ("We downsized the team but the billing page won't let us remove seats.",),
        "billing",
        "normal",
        ("billing", "feature-request"),
        (0, 1, 0, 1),
    ),
)

CUSTOMERS: tuple[tuple[str, str, str, str], ...] = (
    ("Dana Smith", "dana@acme.test", "Acme Corp", "Enterprise"),
    ("Luis García", "luis@brightwave.test", "Brightwave", "Pro"),
    ("Aiko Tanaka", "aiko@kumo.test", "Kumo Labs", "Pro"),
    ("Peter Novak", "peter@northwind.test", "Northwind", "Enterprise"),
    ("Fatima Zahra", "fatima@sahel.test", "Sahel Logistics", "Starter"),
    ("Grace Kim", "grace@pinecone.test", "Pinecone Health", "Enterprise"),
    ("Tom Becker", "tom@alpenrad.test", "Alpenrad", "Pro"),
    ("Ines Duarte", "ines@marinha.test", "Marinha Foods", "Starter"),
    ("Kwame Mensah", "kwame@gold.test", "Gold Coast Media", "Pro"),
    ("Sofia Rossi", "sofia@vela.test", "Vela Design", "Starter"),
    ("Noah Williams", "noah@harbor.test", "Harbor Bank", "Enterprise"),
    ("Mia Johansson", "mia@fjord.test", "Fjord Analytics", "Pro"),
    ("Arjun Rao", "arjun@lotus.test", "Lotus Retail", "Pro"),
    ("Eva Horvat", "eva@adria.test", "Adria Travel", "Starter"),
    ("Liam O'Brien", "liam@clover.test", "Clover Insurance", "Enterprise"),
    ("Chen Wei", "chen@jade.test", "Jade Systems", "Pro"),
)


@dataclass
class Report:
    theme: Theme
    number: int
    received_at: datetime
    customer: tuple[str, str, str, str]
    source: str
    quote: str


def plan_reports(now: datetime, seed: int = 6) -> list[Report]:
    """The reports, oldest first, spread over the last four weeks (the current week ends `now`)."""
    rng = random.Random(seed)
    planned: list[Report] = []
    for index, theme in enumerate(THEMES):
        number = 0
        for week, count in enumerate(theme.weekly):
            week_start = now - timedelta(days=7 * (WEEKS - week))
            for _ in range(count):
                offset = timedelta(days=rng.uniform(0.2, 6.8), minutes=rng.randrange(0, 600))
                planned.append(
                    Report(
                        theme,
                        number,
                        min(week_start + offset, now - timedelta(minutes=20 + rng.randrange(60))),
                        # Distinct customers within a problem: "one customer is not twenty".
                        CUSTOMERS[(index * 5 + number) % len(CUSTOMERS)],
                        rng.choice(SOURCES),
                        theme.quotes[number % len(theme.quotes)],
                    )
                )
                number += 1
    planned.sort(key=lambda r: r.received_at)
    return planned


def _payload(report: Report) -> dict[str, Any]:
    name, email, company, plan = report.customer
    return {
        "external_id": f"demo-{report.theme.key}-{report.number}",
        "source": report.source,
        "subject": report.theme.subject,
        "body": report.quote,
        "customer": {"id": email, "name": name, "email": email, "company": company, "plan": plan},
        "product_area": report.theme.area,
        "severity": report.theme.severity,
        "tags": list(report.theme.tags),
        "created_at": report.received_at.isoformat(),
    }


async def _report_in(sandbox: Sandbox, runtime: Runtime, report: Report) -> tuple[int, bool]:
    """Send one report in, as its source would; its issue id, and whether it is new."""
    answer = await customers.report_in(
        sandbox.customers,
        sandbox.sender,
        runtime,
        sandbox.config,
        _payload(report),
        key=f"demo-{report.theme.key}-{report.number}",
    )
    if answer.status not in (200, 202):
        raise RuntimeError(f"demo intake answered HTTP {answer.status}: {answer.body}")
    return int(answer.json.get("id") or 0), answer.status == 202


def _back_date(conn: Connection, issue_id: int, when: datetime) -> None:
    conn.execute(update(issues).where(issues.c.id == issue_id).values(received_at=when, reported_at=when))
    conn.execute(update(problems).where(problems.c.primary_issue_id == issue_id).values(created_at=when))


def _back_dating(issue_id: int, when: datetime) -> Callable[[Connection], None]:
    return lambda conn: _back_date(conn, issue_id, when)


def _triage(conn: Connection, theme: Theme, ids: list[tuple[int, datetime]], rng: random.Random) -> None:
    """What the team did with one problem over those weeks: merge, then claim/resolve/escalate."""
    first, first_at = ids[0]
    agent = rng.choice(SUPPORT_PEOPLE)
    # The bot may have merged some of these already as they arrived (matching.auto_merge): what it
    # joined rightly stays, anything it placed elsewhere the team moves back.
    _stand_alone(conn, first, agent)
    problem_id = conn.execute(select(issues.c.problem_id).where(issues.c.id == first)).scalar_one()
    for issue_id, _at in ids[1:]:
        current = conn.execute(select(issues.c.problem_id).where(issues.c.id == issue_id)).scalar_one()
        if current == problem_id:
            continue
        _stand_alone(conn, issue_id, agent)
        triage.merge(conn, issue_id, agent, problem_id, batch_seconds=0)
    responded = first_at + timedelta(hours=rng.uniform(0.5, 20))
    if theme.fate in ("claimed", "resolved", "escalated", "fixed"):
        triage.claim(conn, first, agent)
        conn.execute(
            update(issues)
            .where(issues.c.id == first)
            .values(claimed_at=responded, first_response_at=responded)
        )
    if theme.fate == "resolved":
        triage.resolve(conn, first, agent)
        done = responded + timedelta(days=rng.uniform(1, 5))
        conn.execute(update(issues).where(issues.c.problem_id == problem_id).values(resolved_at=done))
        conn.execute(update(problems).where(problems.c.id == problem_id).values(resolved_at=done))
    if theme.fate in ("escalated", "fixed"):
        escalation.escalate(conn, first, rng.choice(PRODUCT_PEOPLE))


CARDS_SETTLE_SECONDS = 60.0


async def _cards_settled(runtime: Runtime) -> None:
    """Until no card is waiting to be posted (bounded: the demo goes on regardless)."""
    import asyncio

    def waiting(conn: Connection) -> bool:
        return bool(
            conn.execute(
                select(func.count())
                .select_from(outbox_items)
                .where(outbox_items.c.kind == "sync_card", outbox_items.c.status == "pending")
            ).scalar_one()
        )

    loop = asyncio.get_running_loop()
    deadline = loop.time() + CARDS_SETTLE_SECONDS
    runtime.deliverer.wake()
    while loop.time() < deadline and await runtime.database.transaction(waiting):  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # polling the database: another process's deliveries may post them


def _stand_alone(conn: Connection, issue_id: int, agent: str) -> None:
    """Take the report out of another problem, if it is in one."""
    primary = conn.execute(
        select(problems.c.primary_issue_id)
        .join(issues, issues.c.problem_id == problems.c.id)
        .where(issues.c.id == issue_id)
    ).scalar_one()
    if primary != issue_id:
        triage.unmerge(conn, issue_id, agent)


def _book_shadows(conn: Connection, sandbox: Sandbox, now: datetime) -> int:
    """A few people already booked into the coming sessions, so the posts and Home show seats taken."""
    config = sandbox.config
    if not config.shadowing.programmes:
        return 0
    shadowing.materialize(conn, config, now)
    booked = 0
    sessions = shadowing.open_sessions(conn, config, now, days=14)
    for session, user in zip(sessions, ("U0SBXOMAR01", "U0SBXLENA01", "U0SBXCHLOE1"), strict=False):
        try:
            shadowing.sign_up(conn, config, session.id, user, now)
            booked += 1
        except shadowing.ShadowError:
            continue
    return booked


async def _fixed_in_jira(sandbox: Sandbox, runtime: Runtime, subject: str) -> str | None:
    """Wait (briefly) for the Jira issue of an escalated problem, then mark it Done there and send the
    webhook, as a developer fixing it would: the card then lists the customers to tell."""
    import asyncio

    for _ in range(100):
        async with runtime.database.session() as session:
            key = await session.scalar(
                select(escalations.c.jira_key)
                .join(problems, problems.c.id == escalations.c.problem_id)
                .where(problems.c.title == subject, escalations.c.jira_key.is_not(None))
            )
        if key:
            sandbox.jira.move(key, "Done")
            await sandbox.sender.jira_webhook(sandbox.jira.webhook_payload("jira:issue_updated", key))
            return str(key)
        await asyncio.sleep(0.1)
    log.warning("demo: the escalated problem got no Jira key in time", extra={"subject": subject})
    return None


async def load(sandbox: Sandbox, runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rng = random.Random(6)
    created: dict[str, list[tuple[int, datetime]]] = {}
    repeats = 0
    for report in plan_reports(now):
        issue_id, new = await _report_in(sandbox, runtime, report)
        if not new:
            repeats += 1
            continue
        created.setdefault(report.theme.key, []).append((issue_id, report.received_at))
        await runtime.database.transaction(_back_dating(issue_id, report.received_at))
    if not created:
        return {"issues": 0, "repeats": repeats, "problems": 0, "shadow_bookings": 0, "fixed": None}
    # Let the bot post the cards first, as it would have over those weeks: with auto-merge on (the
    # sandbox's workspace), repeats of a problem join it on arrival instead of getting cards.
    await _cards_settled(runtime)

    def team_work(conn: Connection) -> int:
        for theme in THEMES:
            if theme.key in created:
                _triage(conn, theme, created[theme.key], rng)
        return _book_shadows(conn, sandbox, now)

    booked = await runtime.database.transaction(team_work)
    runtime.deliverer.wake()
    fixed = None
    fixed_theme = next((t for t in THEMES if t.fate == "fixed" and t.key in created), None)
    if fixed_theme is not None:
        fixed = await _fixed_in_jira(sandbox, runtime, fixed_theme.subject)
    # The alert checks run on the clock (thresholds every 15 s, spikes every 15 min); run them once now,
    # on the back-dated and triaged reports, so #support-alerts shows what the demo's weeks would have
    # raised. (A threshold the clock's check saw first is alerted then, once, with the state it had.)
    await digest_jobs.check_thresholds(runtime.database, runtime.config)
    await digest_jobs.check_spikes(runtime.database, runtime.config)
    runtime.deliverer.wake()
    loaded = sum(len(v) for v in created.values())
    log.info("demo data loaded", extra={"issues": loaded, "problems": len(created)})
    return {
        "issues": loaded,
        "repeats": repeats,
        "problems": len(created),
        "shadow_bookings": booked,
        "fixed": fixed,
    }
