"""Benchmark (not a test) of matching at scale: `similar()` and typeahead on the database's index.

Fills a fresh, migrated database (SQLite file or a new PostgreSQL database) with `n` reports (default
100,000; `--n 1000000` for the target size) from a seeded generator of support-report texts, a tenth
of them open (the rest resolved), analysed by the bot's own `text_analysis` and stored by its own
`store_terms`. The stored reports' embeddings are random unit vectors: encoding a million reports
takes an hour here, and a lookup's cost does not depend on the vectors' values (each lookup embeds
its own query with the real model, and that is timed). Then it times, through `ProblemSearch` as the
bot calls it:

* start-up: a new `ProblemSearch` and its first lookup (nothing is loaded: the index is the database's);
* `similar()` for 1,000 fresh generated reports (embedding included), and typeahead
  (`search(prefix=True, open_only=True)`) for 1,000 typed fragments ("csv exp", "slack integ");
* how soon a report is findable after its intake commits, from a second connection pool.

Run: `.venv/bin/python -m benchmarks.matching_scale [--n 100000] [--backend sqlite|postgresql]`.
Bounded: fixed counts, loopback only. `run()` returns the figures for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bot.services import embedding  # noqa: E402
from bot.services.problem_search import (  # noqa: E402
    ProblemSearch,
    analyse_report,
    analyzer_for,
    embed_report,
    report_params,
)
from db.migrate import upgrade  # noqa: E402
from db.models import issues, problems, report_terms  # noqa: E402
from db.session import Database  # noqa: E402

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BATCH = 5000
OPEN_SHARE = 0.1

# ------------------------------------------------------------------------------------- generator

FEATURES_TEXT = """
dashboard|main dashboard|home page|overview screen|analytics dashboard|reports page|insights tab
invoice|invoices|billing page|receipt|monthly bill|invoice PDF|payment history|billing portal
csv export|export to excel|data export|report export|pdf export|scheduled export|bulk export
csv import|contact import|import wizard|spreadsheet upload|data migration tool|bulk import
login|sign in page|single sign-on|SSO login|Okta login|Google login|password reset|two-factor login
calendar sync|Google Calendar sync|Outlook calendar|shared calendar|booking page|appointment reminders
Slack integration|Slack notifications|Teams integration|Zapier zap|Salesforce sync|HubSpot sync|Jira link
email notifications|push notifications|digest email|reminder emails|mention alerts|SMS alerts
mobile app|iPhone app|Android app|iPad app|tablet view|offline mode|mobile upload
search|global search|search filters|saved searches|search bar|advanced search
file upload|attachments|image upload|document preview|video upload|file storage
user permissions|admin roles|guest access|team roles|editor role|viewer role|workspace settings
API|REST API|webhooks|API keys|OAuth tokens|GraphQL endpoint|rate limits
comments|task list|kanban board|gantt chart|project timeline|checklists|recurring tasks
editor|rich text editor|autosave|templates|document history|version history|forms
custom fields|tags|labels|filters|saved views|table view|list view
subscription|plan upgrade|plan downgrade|seat count|trial|cancellation|refund request
audit log|activity feed|change history|login history|security settings|IP allowlist
dark mode|language settings|time zone settings|date format|keyboard shortcuts|accessibility
"""
FEATURES = [line.split("|") for line in FEATURES_TEXT.strip().splitlines()]

SYMPTOMS = [
    "fails with an error",
    "is extremely slow",
    "shows a blank page",
    "crashes every time",
    "won't load at all",
    "is missing data",
    "creates duplicate entries",
    "shows the wrong numbers",
    "keeps timing out",
    "doesn't save changes",
    "stopped working",
    "logs us out",
    "sends emails twice",
    "never sends anything",
    "shows an old version",
    "displays garbled characters",
    "ignores our settings",
    "loops back to the start",
    "freezes the browser",
    "returns a 500 error",
    "returns 403 forbidden",
    "is cut off on the right",
    "shows dates in the wrong time zone",
    "charges us twice",
    "doesn't match the totals",
    "is stuck on loading",
    "disconnects every few hours",
    "loses the formatting",
    "can't be opened",
    "rejects valid input",
    "randomly disappears",
    "shows other users' data",
    "is way too small to read",
    "does not update in real time",
    "is greyed out",
    "has a broken layout",
]

CONTEXTS = [
    "since the last update",
    "since yesterday afternoon",
    "after we upgraded our plan",
    "for everyone on our team",
    "only for some of our users",
    "on Chrome and Firefox",
    "on Safari only",
    "on the mobile app but not on desktop",
    "when there are more than a few hundred records",
    "right after signing in",
    "when we switch workspaces",
    "every Monday morning",
    "even after clearing the cache",
    "after reinstalling the app",
    "for our customers in Europe",
    "when we use the German interface",
    "since we connected our Google account",
    "after our admin changed the permissions",
    "when two people edit at the same time",
    "for files larger than 50 MB",
    "with our VPN turned on",
    "in incognito mode too",
]

IMPACTS = [
    "This is blocking our month-end close.",
    "Our sales team can't work like this.",
    "We have a client demo tomorrow.",
    "It's costing us hours every week.",
    "Several customers have complained already.",
    "Not urgent, but quite annoying.",
    "We're evaluating whether to renew because of this.",
    "Our finance department needs this fixed.",
    "Please escalate, this affects 200 users.",
    "Can you tell us when it will be fixed?",
]

DETAILS = [
    "The error message says '{code}' and nothing else.",
    "I attached a screenshot of what we see.",
    "Request id was {token} if that helps.",
    "It happened around {hour} UTC.",
    "We tried three different browsers.",
    "Our workspace is called {project}.",
    "It affects the {project} project in particular.",
    "Reloading the page does not help.",
    "It worked fine last week.",
    "We are on the {plan} plan.",
    "Steps: open {feature}, click save, wait a few seconds.",
    "The console shows error {code} in {file}.",
]

GREETINGS = ["Hi,", "Hello team,", "Hey there,", "Good morning,", "Dear support,", "Hi support team,", ""]
SIGN_OFFS = ["Thanks,", "Best regards,", "Cheers,", "Kind regards,", "Thank you!", "Regards,", ""]
NAMES_TEXT = """
Anna Ben Carla Dmitri Elif Farid Grace Hiro Ines Jonas Kwame Lena Mateo Nadia Omar Priya Quinn Rosa Sven
Tariq Uma Victor Wen Ximena Yusuf Zoe Aleksandra Bruno Chloe Diego Emma Felix Hana Ivan Julia
|
Smith Müller Rossi Nowak García Kim Okafor Larsen Dubois Silva Tanaka Novak Schmidt Costa Ivanova Haddad
Fischer Moreau Lopez Andersson Nguyen Kowalski Petrov Rahman Bauer Romano Jensen
"""
FIRST_NAMES, LAST_NAMES = (part.split() for part in NAMES_TEXT.split("|"))
TITLES = ["Operations Manager", "CTO", "Head of Finance", "IT Admin", "Customer Success Lead", "Founder", ""]
SYLLABLES_TEXT = (
    "ka lo mi ra ten vo zu bel cor dan fin gor hal jun kel mor nes pol quin ros sar tiv ul wex yor zen"
)
SYLLABLES = SYLLABLES_TEXT.split()
PLANS = ["Starter", "Team", "Business", "Enterprise", "Pro"]
FILES = ["main.js", "vendor.js", "app.bundle.js", "editor.js", "chunk-42.js"]


class ReportGenerator:
    """Seeded support reports of ~20-80 words: a feature, a symptom, context, details, boilerplate."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        rng = random.Random(1)  # shared long tail: the same made-up project and company names every run
        self.projects = ["".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))).title() for _ in range(3000)]
        self.companies = [
            f"{name} {rng.choice(['Ltd', 'GmbH', 'Inc', 'AB', 'SAS'])}" for name in self.projects[:800]
        ]

    def report(self) -> tuple[str, str]:
        r = self.random
        group = r.choice(FEATURES)
        feature = r.choice(group)
        symptom = r.choice(SYMPTOMS)
        subject = r.choice(
            [
                f"{feature} {symptom}",
                f"{feature.capitalize()} problem",
                f"Issue with {feature}",
                f"{feature}: {symptom}",
                f"URGENT - {feature} {symptom}",
            ]
        )
        sentences = [f"The {feature} {symptom} {r.choice(CONTEXTS)}."]
        if r.random() < 0.6:
            other = r.choice(group)
            sentences.append(
                f"The {other} seems affected too." if other != feature else "It also happened before."
            )
        for _ in range(r.randint(0, 3)):
            sentences.append(
                r.choice(DETAILS).format(
                    code=f"E{r.randint(100, 9999)}",
                    token=f"{r.getrandbits(48):012x}",
                    hour=f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
                    project=r.choice(self.projects),
                    plan=r.choice(PLANS),
                    feature=feature,
                    file=r.choice(FILES),
                )
            )
        if r.random() < 0.5:
            sentences.append(r.choice(IMPACTS))
        lines = [r.choice(GREETINGS), " ".join(sentences)]
        sign_off = r.choice(SIGN_OFFS)
        if sign_off:
            name = f"{r.choice(FIRST_NAMES)} {r.choice(LAST_NAMES)}"
            lines += ["", sign_off, name, r.choice(TITLES), r.choice(self.companies)]
        return subject, "\n".join(line for line in lines if line is not None)

    def text(self) -> str:
        subject, body = self.report()
        return f"{subject}\n{body}"

    def typeahead(self) -> str:
        """What someone types into "Same problem as…": one to three words, the last one unfinished."""
        r = self.random
        words = [word for word in r.choice(r.choice(FEATURES)).split() if len(word) > 1]
        words += r.choice(SYMPTOMS).split()[:2]
        count = r.randint(1, min(3, len(words)))
        typed = words[:count]
        last = typed[-1]
        typed[-1] = last[: r.randint(min(2, len(last)), len(last))]
        return " ".join(typed)


# ----------------------------------------------------------------------------------------- figures


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]

    return {
        "p50": at(50),
        "p95": at(95),
        "p99": at(99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def _fill(conn: Connection, n: int, seed: int, start: int) -> None:
    """One batch of reports: problems, issues, their terms and the terms' counts."""
    generator = ReportGenerator(seed)
    analyzer = analyzer_for()
    rng = np.random.default_rng(seed)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    problem_rows, issue_rows, term_rows = [], [], []
    counts: dict[str, int] = {}
    for k in range(n):
        number = start + k
        subject, body = generator.report()
        status = "open" if random.Random(number).random() < OPEN_SHARE else "resolved"
        problem_rows.append(
            {
                "id": number,
                "title": subject[:500],
                "status": status,
                "primary_issue_id": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        issue_rows.append(
            {
                "id": number,
                "source": "bench",
                "external_id": str(number),
                "problem_id": number,
                "subject": subject[:500],
                "body": body,
                "severity": "normal",
                "status": status,
                "channel_id": "C0",
                "reported_at": now,
                "received_at": now,
                "updated_at": now,
            }
        )
        vector = rng.standard_normal(embedding.DIMENSIONS).astype(np.float32)
        params = report_params(analyse_report(analyzer, subject, body), vector / np.linalg.norm(vector))
        term_rows.append(
            {
                "issue_id": number,
                "language": params["search_language"],
                "terms": params["search_terms"],
                "length": params["search_length"],
                "vector": params["search_vector"],
            }
        )
        for term in params["search_distinct"]:
            counts[term] = counts.get(term, 0) + 1
    conn.execute(problems.insert(), problem_rows)
    conn.execute(issues.insert(), issue_rows)
    conn.execute(report_terms.insert(), term_rows)
    statement = (
        "INSERT INTO search_terms (term, reports) VALUES (:term, :reports) "
        "ON CONFLICT (term) DO UPDATE SET reports = search_terms.reports + excluded.reports"
    )
    conn.execute(text(statement), [{"term": t, "reports": c} for t, c in sorted(counts.items())])


async def _database(backend: str, folder: Path) -> tuple[Database, str, Any]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / 'matching.sqlite'}"
        return Database(url), url, None
    name = f"bench_matching_{uuid.uuid4().hex[:8]}"
    admin = Database(PG_ADMIN)
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    async def drop() -> None:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()

    return Database(url), url, drop


async def _time(calls: list[Any]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _is_file(keep: str) -> bool:
    return "/" in keep or keep.endswith((".db", ".sqlite"))


async def _kept(keep: str) -> tuple[Database, str, Any]:
    """A database kept between runs (`--keep`), created if missing: a SQLite file path, or a
    PostgreSQL database name."""
    if _is_file(keep):
        url = f"sqlite+aiosqlite:///{keep}"
        return Database(url), url, None
    admin = Database(PG_ADMIN)
    async with admin.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        exists = (
            await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": keep})
        ).scalar()
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{keep}"'))
    await admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{keep}"
    return Database(url), url, None


async def _filled(database: Database) -> int:
    try:
        return int(
            await database.transaction(
                lambda conn: conn.execute(text("SELECT count(*) FROM report_terms")).scalar() or 0
            )
        )
    except Exception:  # not migrated yet
        return 0


async def run_async(
    n: int = 100_000, queries: int = 1000, seed: int = 7, backend: str = "sqlite", keep: str | None = None
) -> dict[str, Any]:
    embedding.load()  # the model loads once per process, before anything is timed
    with tempfile.TemporaryDirectory(prefix="supportbridge-matching-") as folder:
        database, url, drop = await (_kept(keep) if keep else _database(backend, Path(folder)))
        try:
            already = await _filled(database) if keep else 0
            if already and already != n:
                raise SystemExit(f"--keep {keep} holds {already:,} reports, not {n:,}")
            await upgrade(database)
            started = time.perf_counter()
            for start in range(1, n + 1, BATCH) if not already else ():
                size = min(BATCH, n + 1 - start)
                await database.transaction(lambda conn, s=start, k=size: _fill(conn, k, seed + s, s))
            if backend == "postgresql" and not already:
                async with database.engine.connect() as conn:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.execute(text("VACUUM ANALYZE"))
                    await conn.execute(
                        text("SELECT setval(pg_get_serial_sequence('issues', 'id'), :n)"), {"n": n}
                    )
                    await conn.execute(
                        text("SELECT setval(pg_get_serial_sequence('problems', 'id'), :n)"), {"n": n}
                    )
            build = time.perf_counter() - started
            await database.dispose()

            # Start-up: a new process's pool and ProblemSearch, and its first lookup.
            started = time.perf_counter()
            database = Database(url)
            search = ProblemSearch(database)
            await search.similar("CSV export fails with an error", "", exclude_problem=0)
            startup = time.perf_counter() - started

            generator = ReportGenerator(seed + 10_000_000)
            reports = [generator.report() for _ in range(queries)]
            typed = [generator.typeahead() for _ in range(queries)]
            similar = await _time(
                [lambda s=s, b=b: search.similar(s, b, exclude_problem=0) for s, b in reports]
            )
            typeahead = await _time(
                [lambda q=q: search.search(q, prefix=True, open_only=True) for q in typed]
            )
            embed = await _time(
                [lambda s=s, b=b: asyncio.to_thread(embed_report, s, b) for s, b in reports[:200]]
            )

            # Findable: intake through the bot's own path on one pool, looked up from another.
            from bot.config import parse_config
            from bot.domain.intake import IntakeRequest
            from bot.services.intake import ingest_issue

            config = parse_config({"channels": {"default": "C0000000001"}})
            other = Database(url)
            lags = []
            for k in range(20 if not keep else 0):
                subject = f"Quarterly ledger reconciliation {k} fails with code ZX{k:04d}"
                request = IntakeRequest.model_validate(
                    {
                        "external_id": f"F-{k}",
                        "source": "bench",
                        "subject": subject,
                        "body": "",
                        "customer": {"id": f"f{k}", "email": f"f{k}@example.com"},
                    }
                )
                await ingest_issue(database, config, request)
                committed = time.perf_counter()
                found = await ProblemSearch(other).search(f"ZX{k:04d}")
                lags.append((time.perf_counter() - committed) * 1000 if found else float("inf"))
            await other.dispose()
            await database.dispose()
        finally:
            if drop is not None:
                await drop()
    return {
        "backend": backend,
        "reports": n,
        "open": round(n * OPEN_SHARE),
        "build_seconds": build,
        "startup_seconds": startup,
        "similar_ms": percentiles(similar),
        "typeahead_ms": percentiles(typeahead),
        "embed_ms": percentiles(embed),
        "findable_ms": percentiles(lags) if lags else None,
    }


def run(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_async(**kwargs))


def print_figures(f: dict[str, Any]) -> None:
    def line(name: str, p: dict[str, float]) -> str:
        return f"  {name:<22} p50 {p['p50']:7.1f} ms   p99 {p['p99']:7.1f} ms   max {p['max']:7.1f} ms"

    print(
        f"matching on {f['backend']}: {f['reports']:,} reports ({f['open']:,} open), "
        f"built in {f['build_seconds']:.0f} s; start-up and first lookup {f['startup_seconds']:.2f} s"
    )
    print(line("similar()", f["similar_ms"]))
    print(line("  of which embedding", f["embed_ms"]))
    print(line("typeahead", f["typeahead_ms"]))
    if f["findable_ms"] is not None:
        print(line("findable after intake", f["findable_ms"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument(
        "--keep",
        metavar="FILE_OR_DATABASE",
        help="fill this database once and keep it (a SQLite file path or a PostgreSQL database name; "
        "one backend); later runs time lookups on it without filling (findable-after-intake is skipped)",
    )
    args = parser.parse_args(argv)
    if args.keep and _is_file(args.keep):
        args.keep = str(Path(args.keep).resolve())
    for backend in args.backend or ["sqlite", "postgresql"]:
        print_figures(run(n=args.n, queries=args.queries, backend=backend, keep=args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
