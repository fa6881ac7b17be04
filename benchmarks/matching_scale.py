"""Benchmark (not a test) of the similar-problem index, `bot/services/similarity.py`.

Builds an index of `n` open problems (one report each, default 100,000) from a seeded generator of
support-report texts, then times 2,000 `similar()` lookups with fresh generated reports and 2,000
`search(prefix=True)` lookups with typeahead-style queries ("csv exp", "slack integ"). Prints
p50/p95/p99/max per call in milliseconds, the build time, the growth of the process's resident memory,
and precision/recall on the labelled set (tests/fixtures/similarity).

Run: `.venv/bin/python -m benchmarks.similarity [--n 100000] [--queries 2000]`. One process, one core,
bounded: fixed counts, no network. `run()` returns the same figures for benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.similarity_eval import evaluate, load_labelled  # noqa: E402
from bot.services.similarity import ProblemIndex  # noqa: E402

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


def rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


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


def run(n: int = 100_000, queries: int = 2_000, seed: int = 7) -> dict[str, Any]:
    """Build an index of `n` open problems and time lookups; return every figure printed by `main()`."""
    generator = ReportGenerator(seed)
    similar_queries = [generator.text() for _ in range(queries)]
    search_queries = [generator.typeahead() for _ in range(queries)]

    # Texts are generated one at a time so that the memory growth is the index's own.
    gc.collect()
    rss_before = rss_mb()
    index = ProblemIndex()
    build_seconds = 0.0
    for number in range(n):
        text = generator.text()
        started = time.perf_counter()
        index.upsert(number, number, text, is_open=True)
        build_seconds += time.perf_counter() - started
    gc.collect()
    rss_growth = rss_mb() - rss_before

    def timed(call: Any, items: list[str]) -> tuple[list[float], int]:
        samples: list[float] = []
        hits = 0
        for item in items:
            begun = time.perf_counter_ns()
            found = call(item)
            samples.append((time.perf_counter_ns() - begun) / 1e6)
            hits += bool(found)
        return samples, hits

    timed(index.similar, similar_queries[:100])  # warm the analyzer's token cache as production would be
    similar_ms, similar_hits = timed(index.similar, similar_queries)
    search_ms, search_hits = timed(
        lambda query: index.search(query, prefix=True, open_only=True), search_queries
    )

    quality = evaluate(load_labelled())
    return {
        "reports": len(index),
        "build_seconds": build_seconds,
        "upserts_per_second": n / build_seconds,
        "rss_growth_mb": rss_growth,
        "similar_ms": percentiles(similar_ms),
        "similar_with_suggestion": similar_hits / queries,
        "search_ms": percentiles(search_ms),
        "search_with_results": search_hits / queries,
        "quality": quality.figures(),
        "quality_summary": quality.summary(),
    }


def print_figures(figures: dict[str, Any], queries: int) -> None:
    print(f"similarity index: {figures['reports']:,} open problems (one report each)")
    print(
        f"  build {figures['build_seconds']:.1f} s ({figures['upserts_per_second']:,.0f} upserts/s), "
        f"RSS growth {figures['rss_growth_mb']:.0f} MB"
    )
    print(f"  {'call':34} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}   (ms)")
    for label, key, share_key, share_label in (
        (f"similar() x{queries}", "similar_ms", "similar_with_suggestion", "got a suggestion"),
        (f"search(prefix=True) x{queries}", "search_ms", "search_with_results", "had results"),
    ):
        ms = figures[key]
        print(
            f"  {label:34} {ms['p50']:7.2f} {ms['p95']:7.2f} {ms['p99']:7.2f} {ms['max']:7.2f}"
            f"   {figures[share_key]:.0%} {share_label}"
        )
    print(f"  labelled set: {figures['quality_summary']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="open problems in the index")
    parser.add_argument("--queries", type=int, default=2_000, help="lookups of each kind")
    args = parser.parse_args(argv)
    print_figures(run(args.n, args.queries), args.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
