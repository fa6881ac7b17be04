"""How well matching groups reports, on any labelled set, by the code the bot runs.

    python -m benchmarks.similarity --labelled FILE.jsonl [--json] [--suggest 0.5] [--sweep]
    python -m benchmarks.similarity            # every set in benchmarks/data and the synthetic one

Each line of FILE is `{"id", "cluster", "subject", "body", "group"?}`; two reports of one cluster are
the same problem. Each group (a workspace) is replayed on its own fresh, migrated SQLite database in
file order, as intake would: each report is first looked up against those before it (the bot's
`rank`, on the bot's analysed terms in the bot's full-text index), then stored as a problem of its
own by the bot's `store_terms`.

* `repeats`: reports whose cluster had an earlier report in their group; the rest are first reports;
* `suggested`: reports whose card would say "looks like #N" (best match at `matching.suggest` or more);
* shown — what the card shows: `precision@1` (of suggested, the first is right), `recall@1`,
  `recall@3` (of repeats, the right problem is first / among the shown), `false_alarm_rate` (of first
  reports, how many were shown a suggestion anyway);
* ranked — top 3 without a threshold, as search and typeahead: `ranked_recall@1`, `ranked_recall@3`;
* `bm25_ranked_recall@3`: a plain BM25 (k1 1.2, b 0.75, lower-cased word tokens, subject and body as
  one text) computed here on the same replay, the baseline beside every figure.

With `--json` the output ends with one JSON line of those figures. `--sweep` prints the shown figures
for a range of thresholds (how `matching.suggest` was chosen, on the `-dev` sets).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic import command  # noqa: E402
from sqlalchemy import create_engine, insert, update  # noqa: E402
from sqlalchemy.engine import Connection  # noqa: E402

from bot.config import Matching  # noqa: E402
from bot.services import embedding  # noqa: E402
from bot.services.embedding import Vector  # noqa: E402
from bot.services.problem_search import (  # noqa: E402
    OPEN,
    Match,
    analyse_report,
    analyzer_for,
    embedding_text,
    rank,
    report_params,
    store_terms,
)
from bot.services.text_analysis import Analyzer  # noqa: E402
from db.migrate import alembic_config  # noqa: E402
from db.models import issues, problems  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
SYNTHETIC = ROOT / "tests" / "fixtures" / "similarity" / "labelled_reports.jsonl"
SHOWN = 3


@dataclass(frozen=True)
class LabelledReport:
    id: str
    cluster: str
    subject: str
    body: str = ""
    group: str = ""


def load_labelled(path: Path) -> list[LabelledReport]:
    reports = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                reports.append(
                    LabelledReport(
                        id=str(data["id"]),
                        cluster=str(data["cluster"]),
                        subject=str(data["subject"]),
                        body=str(data.get("body") or ""),
                        group=str(data.get("group") or ""),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a labelled report ({exc})") from None
    return reports


def groups(reports: Iterable[LabelledReport]) -> list[list[LabelledReport]]:
    by_group: dict[str, list[LabelledReport]] = defaultdict(list)
    for report in reports:
        by_group[report.group].append(report)
    return list(by_group.values())


# --------------------------------------------------------------------------------------- the replay


@dataclass
class Outcome:
    """One report's lookup: the clusters of its ranked matches (best first) and their confidences."""

    repeat: bool
    right: list[bool]
    scores: list[float]
    bm25_right: list[bool]


class _Workspace:
    """A fresh migrated SQLite database, as a new workspace's bot would have."""

    def __init__(self, template: Path, folder: Path, name: str) -> None:
        path = folder / f"{name}.sqlite"
        shutil.copyfile(template, path)
        self.engine = create_engine(f"sqlite:///{path}")
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def store(
        self, conn: Connection, analyzer: Analyzer, number: int, report: LabelledReport, vector: Vector | None
    ) -> int:
        problem = conn.execute(
            insert(problems).returning(problems.c.id),
            {"title": report.subject[:500], "status": "open", "created_at": self.now, "updated_at": self.now},
        ).scalar_one()
        issue = conn.execute(
            insert(issues).returning(issues.c.id),
            {
                "source": "labelled",
                "external_id": f"{number}",
                "problem_id": problem,
                "subject": report.subject[:500],
                "body": report.body,
                "severity": "normal",
                "status": "open",
                "channel_id": "C0",
                "reported_at": self.now,
                "received_at": self.now,
                "updated_at": self.now,
            },
        ).scalar_one()
        conn.execute(update(problems).where(problems.c.id == problem).values(primary_issue_id=issue))
        store_terms(conn, issue, report_params(analyse_report(analyzer, report.subject, report.body), vector))
        return int(problem)


def migrated_template(folder: Path) -> Path:
    path = folder / "template.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()
    return path


_WORD = re.compile(r"\w+")


class PlainBM25:
    """The baseline: BM25 over lower-cased word tokens, nothing else (no stemming, stop words, …)."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs: list[Counter[str]] = []
        self.lengths: list[int] = []
        self.df: Counter[str] = Counter()
        self.postings: dict[str, list[int]] = defaultdict(list)

    def add(self, text: str) -> None:
        tokens = _WORD.findall(text.lower())
        tf = Counter(tokens)
        number = len(self.docs)
        self.docs.append(tf)
        self.lengths.append(len(tokens))
        for term in tf:
            self.df[term] += 1
            self.postings[term].append(number)

    def top(self, text: str, k: int = SHOWN) -> list[int]:
        if not self.docs:
            return []
        n = len(self.docs)
        average = sum(self.lengths) / n or 1.0
        scores: dict[int, float] = defaultdict(float)
        for term in set(_WORD.findall(text.lower())):
            df = self.df.get(term, 0)
            if not df:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            for doc in self.postings[term]:
                tf = self.docs[doc][term]
                norm = self.k1 * (1 - self.b + self.b * self.lengths[doc] / average)
                scores[doc] += idf * tf * (self.k1 + 1) / (tf + norm)
        return [doc for doc, _ in sorted(scores.items(), key=lambda item: (-item[1], -item[0]))[:k]]


def replay(
    reports: Sequence[LabelledReport], analyzer: Analyzer | None = None, *, semantic: bool = True
) -> list[Outcome]:
    """Every report's lookup against those before it, group by group."""
    analyzer = analyzer or analyzer_for()
    encoder = embedding.load() if semantic else None
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="supportbridge-eval-") as folder:
        template = migrated_template(Path(folder))
        for number, group in enumerate(groups(reports)):
            workspace = _Workspace(template, Path(folder), f"group{number}")
            texts = [embedding_text(r.subject, r.body) for r in group]
            vectors: list[Vector | None] = list(encoder.encode(texts)) if encoder else [None] * len(group)
            baseline = PlainBM25()
            cluster_of: dict[int, str] = {}
            seen: set[str] = set()
            with workspace.engine.begin() as conn:
                for index, report in enumerate(group):
                    matches: list[Match] = rank(
                        conn,
                        analyse_report(analyzer, report.subject, report.body),
                        statuses=OPEN,
                        exclude_problem=None,
                        limit=SHOWN,
                        vector=vectors[index],
                    )
                    plain = baseline.top(f"{report.subject}\n{report.body}")
                    outcomes.append(
                        Outcome(
                            repeat=report.cluster in seen,
                            right=[cluster_of[m.problem_id] == report.cluster for m in matches],
                            scores=[m.score for m in matches],
                            bm25_right=[group[doc].cluster == report.cluster for doc in plain],
                        )
                    )
                    cluster_of[workspace.store(conn, analyzer, index, report, vectors[index])] = (
                        report.cluster
                    )
                    baseline.add(f"{report.subject}\n{report.body}")
                    seen.add(report.cluster)
            workspace.engine.dispose()
    return outcomes


def figures(outcomes: Sequence[Outcome], suggest: float) -> dict[str, Any]:
    repeats = [o for o in outcomes if o.repeat]
    firsts = [o for o in outcomes if not o.repeat]

    def shown(o: Outcome) -> list[bool]:
        return [right for right, score in zip(o.right, o.scores, strict=True) if score >= suggest]

    suggested = [o for o in outcomes if shown(o)]

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {
        "reports": len(outcomes),
        "repeats": len(repeats),
        "suggested": len(suggested),
        "suggest": suggest,
        "precision@1": rate(sum(shown(o)[0] for o in suggested), len(suggested)),
        "recall@1": rate(sum(bool(shown(o)) and shown(o)[0] for o in repeats), len(repeats)),
        "recall@3": rate(sum(any(shown(o)) for o in repeats), len(repeats)),
        "false_alarm_rate": rate(sum(bool(shown(o)) for o in firsts), len(firsts)),
        "ranked_recall@1": rate(sum(bool(o.right) and o.right[0] for o in repeats), len(repeats)),
        "ranked_recall@3": rate(sum(any(o.right) for o in repeats), len(repeats)),
        "bm25_ranked_recall@3": rate(sum(any(o.bm25_right) for o in repeats), len(repeats)),
    }


def describe(name: str, f: dict[str, Any]) -> str:
    ratio = f["ranked_recall@3"] / f["bm25_ranked_recall@3"] if f["bm25_ranked_recall@3"] else 0.0
    return (
        f"{name}: {f['reports']} reports, {f['repeats']} repeats, {f['suggested']} shown a suggestion "
        f"(suggest ≥ {f['suggest']})\n"
        f"  shown:  precision@1 {f['precision@1']:.3f}  recall@1 {f['recall@1']:.3f}  "
        f"recall@3 {f['recall@3']:.3f}  false alarms {f['false_alarm_rate']:.3f}\n"
        f"  ranked: recall@1 {f['ranked_recall@1']:.3f}  recall@3 {f['ranked_recall@3']:.3f}  "
        f"(plain BM25 recall@3 {f['bm25_ranked_recall@3']:.3f}; x{ratio:.2f})"
    )


def sweep(outcomes: Sequence[Outcome]) -> str:
    lines = ["  suggest  precision@1  recall@3  false alarms"]
    for step in range(5, 100, 5):
        f = figures(outcomes, step / 100)
        lines.append(
            f"  {step / 100:7.2f}  {f['precision@1']:11.3f}  {f['recall@3']:8.3f}"
            f"  {f['false_alarm_rate']:12.3f}"
        )
    return "\n".join(lines)


def default_sets() -> list[Path]:
    return [*sorted(DATA.glob("*.jsonl")), SYNTHETIC]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labelled", type=Path, action="append", help="a labelled .jsonl file (repeatable)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--suggest", type=float, default=Matching().suggest, help="the card's threshold")
    parser.add_argument("--sweep", action="store_true", help="shown figures for thresholds 0.05 to 0.95")
    args = parser.parse_args(argv)
    paths = args.labelled or default_sets()
    results: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.is_file():
            parser.error(f"{path}: no such file")
        outcomes = replay(load_labelled(path))
        results[path.stem] = figures(outcomes, args.suggest)
        print(describe(path.stem, results[path.stem]))
        if args.sweep:
            print(sweep(outcomes))
    if args.json:
        print(json.dumps(next(iter(results.values())) if len(results) == 1 else results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
