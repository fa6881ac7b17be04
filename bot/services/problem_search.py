"""Similar problems and search, on the database's own full-text index, shared by every process.

A report's terms (`bot.services.text_analysis`) are written in the same transaction as the report
(`index_report`, or the PostgreSQL intake statement), so a report is findable by every process the
moment its intake commits, and no process holds a copy: start-up loads nothing.

A lookup is two steps:

1. **Retrieve** up to `CANDIDATES` reports holding any of the query's rarest terms from the full-text
   index — SQLite FTS5 ranked by its `bm25()`, PostgreSQL's GIN over a `tsvector` ranked by
   `ts_rank` — joined to their problems so only live (and, for suggestions, open) problems come back.
2. **Score** those candidates with BM25 (k1 1.2, b 0.75) on the stored terms and `search_terms`' document
   frequencies, the same arithmetic on both databases, so a confidence means the same on SQLite and
   PostgreSQL. A report's confidence is its score over the score the query would get against itself
   (a report identical to the query: 1.0); a problem's is its best report's.

Typos: a query term no report holds is replaced by the closest term that some report does hold
(rapidfuzz, Levenshtein distance 1, or 2 for long words), found among terms sharing its first two
letters through the `search_terms` primary key. Typeahead's last, unfinished word expands to the most
common held terms it begins.

Why this and not a library (tantivy, bm25s): docs/matching.md.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection

from bot.services import embedding
from bot.services.embedding import Vector
from bot.services.text_analysis import Analysed, Analyzer
from db.models import issues, report_terms, search_terms
from db.session import Database

K1 = 1.2
B = 0.75
CANDIDATES = 150  # reports retrieved by their words per lookup, then scored
FRESH_WAIT_SECONDS = 30.0  # for a candidate's embedding that another lookup is computing (set when it ends)
EMBED_MISSING = 64  # candidates without a stored embedding yet, embedded at look time (the latest)
RECENT_CANDIDATES = 100  # and the latest reports, judged by their embedding,
RECENT_WINDOW = 5000  # found among this many latest (a primary-key range on both databases)
# A query with only common terms retrieves the latest reports holding them, among this many latest:
# a primary-key range the engine intersects with the term's postings, instead of walking back through
# every report until enough open ones turn up (a tenth open at 1M: ~150,000 rows, the lookups' tail).
COMMON_WINDOW = 50_000
# A confidence is this much the embeddings' cosine and the rest BM25's (chosen on the -dev sets).
SEMANTIC_WEIGHT = 0.9
# Sentences this far apart in meaning are unrelated (all-MiniLM-L6-v2: unrelated pairs sit near 0).
UNRELATED_COSINE = 0.3
RETRIEVAL_TERMS = 6  # the rarest distinct query terms that retrieve candidates
# A term in more than this share of reports retrieves too much to rank quickly (and says little):
# it still scores, but does not retrieve, unless the query has nothing rarer.
RETRIEVAL_MAX_SHARE = 0.002
RETRIEVAL_MIN_REPORTS = 200
CORRECTED_QUERY_TERMS = 12  # typos are corrected in queries of up to this many terms (searches)
BODY_INDEXED = 4000  # characters of a report's body analysed
PREFIX_EXPANSIONS = 8
TYPO_CHOICES = 1000
AVERAGE_LENGTH_TTL = 60.0
MAX_TERM_LENGTH = 64


@dataclass(frozen=True)
class Match:
    problem_id: int
    # 0 to 1: how much of what the query says the problem's best report says too (see the module doc).
    score: float
    issue_id: int = 0


# ----------------------------------------------------------------------------------------- writing


@lru_cache(maxsize=8)
def _cached_analyzer(synonyms: tuple[tuple[str, tuple[str, ...]], ...] | None, language: str) -> Analyzer:
    return Analyzer({k: list(v) for k, v in synonyms} if synonyms is not None else None, language)


def analyzer_for(synonyms: Mapping[str, Sequence[str]] | None = None, language: str = "en") -> Analyzer:
    """One analyser per configuration (its caches are worth keeping)."""
    key = tuple(sorted((k, tuple(v)) for k, v in synonyms.items())) if synonyms is not None else None
    return _cached_analyzer(key, language)


def analyse_report(analyzer: Analyzer, subject: str, body: str) -> Analysed:
    return analyzer.analyse(subject, body[:BODY_INDEXED])


def embedding_text(subject: str, body: str) -> str:
    return f"{subject}\n{body[:BODY_INDEXED]}"


def embed_report(subject: str, body: str) -> Vector | None:
    """The report's sentence embedding, or None without the model. CPU-bound (milliseconds): call it
    off the event loop (`asyncio.to_thread`)."""
    encoder = embedding.load()
    return encoder.encode_one(embedding_text(subject, body)) if encoder is not None else None


def report_params(analysed: Analysed, vector: Vector | None = None) -> dict[str, Any]:
    """The parameters that store a report's terms (used by both intake paths)."""
    distinct = sorted({t for t in analysed.terms if len(t) <= MAX_TERM_LENGTH})
    return {
        "search_vector": embedding.to_bytes(vector) if vector is not None else None,
        "search_language": analysed.language,
        "search_terms": " ".join(t for t in analysed.terms if len(t) <= MAX_TERM_LENGTH),
        "search_length": len(analysed.terms),
        "search_distinct": distinct,
    }


def _count_terms(dialect: str) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(search_terms)
    return statement.on_conflict_do_update(
        index_elements=[search_terms.c.term], set_={"reports": search_terms.c.reports + 1}
    )


COUNT_TERMS = {name: _count_terms(name) for name in ("postgresql", "sqlite")}
INSERT_TERMS = insert(report_terms)


def store_terms(conn: Connection, issue_id: int, params: Mapping[str, Any]) -> None:
    """Write a report's terms and count them, in the caller's transaction. Terms are counted in sorted
    order, so two intakes sharing terms lock their rows in the same order (no deadlock)."""
    conn.execute(
        INSERT_TERMS,
        {
            "issue_id": issue_id,
            "language": params["search_language"],
            "terms": params["search_terms"],
            "length": params["search_length"],
            "vector": params.get("search_vector"),
        },
    )
    if params["search_distinct"]:
        conn.execute(
            COUNT_TERMS[conn.dialect.name], [{"term": t, "reports": 1} for t in params["search_distinct"]]
        )


def index_report(
    conn: Connection, analyzer: Analyzer, issue_id: int, subject: str, body: str, vector: Vector | None = None
) -> None:
    store_terms(conn, issue_id, report_params(analyse_report(analyzer, subject, body), vector))


# ----------------------------------------------------------------------------------------- reading

_SQLITE_CANDIDATES = """
SELECT r.issue_id, r.terms, r.length, {vector} AS vector, i.problem_id
FROM report_fts f
JOIN report_terms r ON r.issue_id = f.rowid
JOIN issues i ON i.id = r.issue_id
JOIN problems p ON p.id = i.problem_id
WHERE report_fts MATCH :query{window} AND f.rowid < :before AND p.status IN :statuses
  AND i.problem_id <> :exclude
ORDER BY {order}
LIMIT :limit
"""
# PostgreSQL: each report's problem is checked by a lateral subquery that the planner cannot fold
# into a join (OFFSET 0), its problem's status by primary key, so the plan always starts from the
# reports — the full-text index or the primary key's range — and probes each one's issue and
# problem. Without statistics (a new database, or a burst before autoanalyze has run) the planner
# otherwise began at the problems' status index and joined every open problem's issues: 4 to 14 ms a
# lookup against 0.7 in the card benchmark, the PostgreSQL server's largest cost per card.
_LIVE_PROBLEM = """
CROSS JOIN LATERAL (
  SELECT i.problem_id FROM issues i
  WHERE i.id = r.issue_id AND i.problem_id <> :exclude
    AND (SELECT p.status FROM problems p WHERE p.id = i.problem_id) IN :statuses
  OFFSET 0
) i"""
_POSTGRES_OPEN_CANDIDATES = (  # an open-problem lookup judged by meaning
    """
SELECT r.issue_id, r.terms, r.length, {vector} AS vector, i.problem_id
FROM report_terms r"""
    + _LIVE_PROBLEM
    + """
WHERE r.tsv @@ CAST(:query AS tsquery){open}{window} AND r.issue_id < :before
ORDER BY {order}
LIMIT :limit
"""
)
# Typeahead and searches keep the plain joins: probing each match measured slower for typeahead once
# statistics exist (100,000 reports: p50 30 against 19 ms), and a database holds that many long after
# autoanalyze first ran. The lateral form is for the lookups judged by meaning (a card's, `similar()`).
_POSTGRES_CANDIDATES = """
SELECT r.issue_id, r.terms, r.length, {vector} AS vector, i.problem_id
FROM report_terms r
JOIN issues i ON i.id = r.issue_id
JOIN problems p ON p.id = i.problem_id
WHERE r.tsv @@ CAST(:query AS tsquery){window} AND r.issue_id < :before AND p.status IN :statuses
  AND i.problem_id <> :exclude
ORDER BY {order}
LIMIT :limit
"""


def _candidates(sql: str, order: str, window: str, vector: str, open_only: bool) -> Any:
    # PostgreSQL keeps `report_terms.open` and a GIN index over the open reports alone (migration
    # 0015): a lookup of open problems reads only their entries. The problem's status is still checked.
    if open_only and vector != "NULL":
        sql = _POSTGRES_OPEN_CANDIDATES
    statement = text(
        sql.format(order=order, window=window, vector=vector, open=" AND r.open" if open_only else "")
    )
    return statement.bindparams(bindparam("statuses", expanding=True))


# Rare terms: the best by the engine's own ranking, over all reports. Only common terms
# (what someone starts typing): the latest reports holding them among the `COMMON_WINDOW` latest,
# rather than ranking a third of the table. Keyed by (dialect, rare terms, by meaning too, open
# problems only): a lookup not judged by meaning (typeahead) does not read the candidates' embeddings.
CANDIDATE_QUERIES = {
    (dialect, rare, semantic, open_only): _candidates(
        sql,
        order if rare else recent,
        "" if rare else window,
        "r.vector" if semantic else "NULL",
        open_only and dialect == "postgresql",
    )
    for dialect, sql, order, recent, window in (
        ("sqlite", _SQLITE_CANDIDATES, "f.rank", "f.rowid DESC", " AND f.rowid > :floor"),
        (
            "postgresql",
            _POSTGRES_CANDIDATES,
            "ts_rank(r.tsv, CAST(:query AS tsquery)) DESC, r.issue_id DESC",
            "r.issue_id DESC",
            " AND r.issue_id > :floor",
        ),
    )
    for rare in (True, False)
    for semantic in (True, False)
    for open_only in (True, False)
}

_RECENT_SQL = """
SELECT r.issue_id, r.terms, r.length, r.vector, i.problem_id
FROM report_terms r
CROSS JOIN issues i ON i.id = r.issue_id
CROSS JOIN problems p ON p.id = i.problem_id
WHERE r.issue_id > :floor AND r.issue_id < :before AND p.status IN :statuses AND i.problem_id <> :exclude
ORDER BY r.issue_id DESC
LIMIT :limit
"""
_POSTGRES_RECENT_SQL = (
    """
SELECT r.issue_id, r.terms, r.length, r.vector, i.problem_id
FROM report_terms r"""
    + _LIVE_PROBLEM
    + """
WHERE r.issue_id > :floor AND r.issue_id < :before
ORDER BY r.issue_id DESC
LIMIT :limit
"""
)
# SQLite's planner would start from the problems' status index and sort; CROSS JOIN keeps it walking
# the latest reports by primary key (and PostgreSQL's lateral subquery, above).
_RECENT = {
    "sqlite": text(_RECENT_SQL).bindparams(bindparam("statuses", expanding=True)),
    "postgresql": text(_POSTGRES_RECENT_SQL).bindparams(bindparam("statuses", expanding=True)),
}

_FREQUENCIES = select(search_terms.c.term, search_terms.c.reports).where(
    search_terms.c.term.in_(bindparam("terms", expanding=True))
)
_NEIGHBOURS = (
    select(search_terms.c.term)
    .where(
        search_terms.c.term >= bindparam("low"),
        search_terms.c.term < bindparam("high"),
        func.length(search_terms.c.term).between(bindparam("shortest"), bindparam("longest")),
    )
    .limit(TYPO_CHOICES)
)
_COMPLETIONS = (
    select(search_terms.c.term, search_terms.c.reports)
    .where(search_terms.c.term >= bindparam("low"), search_terms.c.term < bindparam("high"))
    .order_by(search_terms.c.reports.desc())
    .limit(PREFIX_EXPANSIONS)
)
_REPORTS = select(func.max(report_terms.c.issue_id))
_STORED_QUERY = select(report_terms.c.language, report_terms.c.terms, report_terms.c.vector).where(
    report_terms.c.issue_id == bindparam("issue_id")
)
_RECENT_LENGTHS = select(report_terms.c.length).order_by(report_terms.c.issue_id.desc()).limit(5000)


def _quote_fts(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _quote_tsquery(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _after(prefix: str) -> str:
    return prefix + "\U0010ffff"


def _idf(reports: int, df: int) -> float:
    return math.log(1 + (reports - df + 0.5) / (df + 0.5))


class _AverageLength:
    def __init__(self) -> None:
        self.value = 0.0
        self.at = -math.inf

    def get(self, conn: Connection) -> float:
        now = time.monotonic()
        if now - self.at > AVERAGE_LENGTH_TTL or self.value <= 0:
            lengths = [int(n) for n in conn.execute(_RECENT_LENGTHS).scalars()]
            self.value = (sum(lengths) / len(lengths)) if lengths else 0.0
            self.at = now if lengths else -math.inf
        return self.value or 1.0


def _correct(conn: Connection, term: str) -> str | None:
    """The held term closest to `term` (a typo), or None."""
    if len(term) < 4 or not term.isalpha():
        return None
    allowed = 1 if len(term) < 8 else 2
    choices = list(
        conn.execute(
            _NEIGHBOURS,
            {
                "low": term[:2],
                "high": _after(term[:2]),
                "shortest": len(term) - allowed,
                "longest": len(term) + allowed,
            },
        ).scalars()
    )
    if not choices:
        return None
    best = process.extractOne(term, choices, scorer=Levenshtein.distance, score_cutoff=allowed)
    return str(best[0]) if best is not None else None


@dataclass(frozen=True)
class Gathered:
    """What a lookup read from the database; scored without it (`score`), off the event loop."""

    rows: list[Any]
    weights: Counter[str]
    frequencies: dict[str, int]
    reports: int
    average_length: float
    # The texts of the latest few candidates stored without an embedding yet (taken in a moment ago:
    # intake leaves the embedding to the card's delivery), embedded when scored.
    texts: dict[int, str] = field(default_factory=dict)
    # Filled by `score`: those candidates' embeddings, for the caller to store (each is paid once).
    computed: dict[int, Vector] = field(default_factory=dict)
    source: str = ""  # the database they are from (look-time embeddings are kept per database)


@dataclass(frozen=True)
class Prepared:
    """A stored report's candidates and its embedding, read in a transaction, scored after it."""

    gathered: Gathered | None
    vector: Vector

    @property
    def computed(self) -> dict[int, Vector]:
        """Candidates' embeddings computed while scoring, to be stored (`store_vectors`)."""
        return self.gathered.computed if self.gathered is not None else {}


def gather(
    conn: Connection,
    query: Analysed,
    *,
    statuses: Sequence[str],
    exclude_problem: int | None,
    semantic: bool,
    prefix: str | None = None,
    average: _AverageLength | None = None,
    before: int | None = None,
) -> Gathered | None:
    """The candidates for `query` and the statistics to score them: only database reads.

    `before`: only reports taken in before this one (a stored report's own id). A report is matched
    against what came before it, as the evaluation replays it, whether its card is looked up the
    moment it arrives or after a burst of later ones — and those earlier reports' embeddings were
    stored by their own cards, so a backlog's lookups do not embed each other's candidates."""
    weights: Counter[str] = Counter(t for t in query.terms if len(t) <= MAX_TERM_LENGTH)
    if not weights and not prefix:
        return None  # nothing to go on (no words at all): no match, rather than the nearest noise
    frequencies: dict[str, int] = {}
    if weights:
        frequencies = {
            row.term: int(row.reports) for row in conn.execute(_FREQUENCIES, {"terms": list(weights)})
        }
    unknown = [t for t in weights if t not in frequencies]
    for term in unknown:
        count = weights.pop(term)
        if len(weights) + len(unknown) > CORRECTED_QUERY_TERMS:
            continue  # a whole report: its other words carry it, and its embedding
        fixed = _correct(conn, term)
        if fixed is not None:
            weights[fixed] += count
            frequencies.update(
                {row.term: int(row.reports) for row in conn.execute(_FREQUENCIES, {"terms": [fixed]})}
            )
    if prefix:
        for row in conn.execute(_COMPLETIONS, {"low": prefix, "high": _after(prefix)}):
            if row.term not in weights:
                weights[row.term] = 1
            frequencies[row.term] = int(row.reports)
    weights = Counter({t: n for t, n in weights.items() if frequencies.get(t)})
    rows: dict[int, Any] = {}
    reports = int(conn.execute(_REPORTS).scalar() or 0)
    ceiling = min(before, reports + 1) if before is not None else reports + 1
    parameters = {
        "statuses": list(statuses),
        "exclude": exclude_problem or 0,
        "limit": CANDIDATES,
        "before": ceiling,
    }
    if weights:
        cap = max(RETRIEVAL_MIN_REPORTS, reports * RETRIEVAL_MAX_SHARE)
        by_rarity = sorted(weights, key=lambda t: frequencies[t])
        rare = [t for t in by_rarity if frequencies[t] <= cap][:RETRIEVAL_TERMS]
        retrieval = rare or by_rarity[:2]
        statement = CANDIDATE_QUERIES[(conn.dialect.name, bool(rare), semantic, tuple(statuses) == OPEN)]
        if conn.dialect.name == "postgresql":
            match = " | ".join(_quote_tsquery(t) for t in retrieval)
        else:
            match = " OR ".join(_quote_fts(t) for t in retrieval)
        values = {**parameters, "query": match, "floor": ceiling - 1 - COMMON_WINDOW}
        rows = {int(row.issue_id): row for row in conn.execute(statement, values)}
    if semantic:
        recent = {**parameters, "limit": RECENT_CANDIDATES, "floor": ceiling - 1 - RECENT_WINDOW}
        for row in conn.execute(_RECENT[conn.dialect.name], recent):
            rows.setdefault(int(row.issue_id), row)
    if not rows:
        return None
    texts: dict[int, str] = {}
    if semantic:
        missing = sorted((i for i, row in rows.items() if row.vector is None), reverse=True)[:EMBED_MISSING]
        if missing:
            texts = {
                int(row.id): embedding_text(row.subject, row.body)
                for row in conn.execute(
                    select(issues.c.id, issues.c.subject, issues.c.body).where(issues.c.id.in_(missing))
                )
            }
    average_length = (average or _AverageLength()).get(conn) if weights else 1.0
    source = _source(conn.engine.url)
    return Gathered(list(rows.values()), weights, frequencies, reports, average_length, texts, source=source)


def _source(url: URL) -> str:
    """The database a look-time embedding is kept for, whichever driver reached it: the SQLite
    writer's and readers' engines (sqlite://) and the async one (sqlite+aiosqlite://) are one
    database, and a report embedded through one is not embedded again through the other."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


# Embeddings computed at look time, by issue id: in a burst, every lookup meets the same few reports
# not embedded yet, and each is embedded once per process rather than once per lookup — also when
# lookups run side by side (the outbox's deliveries): a report another thread is embedding this
# moment is waited for, not embedded again (measured: with eight deliveries at once, most of the
# card benchmark's embeddings were the same candidates computed by several threads).
_FRESH: OrderedDict[tuple[str, int], Vector] = OrderedDict()
_FRESH_MAX = 4096
_IN_FLIGHT: dict[tuple[str, int], threading.Event] = {}
_fresh_lock = threading.Lock()


def _fresh_vectors(
    source: str, texts: dict[int, str], computed: dict[int, Vector] | None = None
) -> dict[int, Vector]:
    """The texts' embeddings, each computed once per process. `computed` receives those this call
    computed itself (the others' callers store theirs)."""
    if not texts:
        return {}
    known: dict[int, Vector] = {}
    mine: list[int] = []
    theirs: dict[int, threading.Event] = {}
    with _fresh_lock:
        for i in texts:
            key = (source, i)
            if key in _FRESH:
                known[i] = _FRESH[key]
            elif key in _IN_FLIGHT:
                theirs[i] = _IN_FLIGHT[key]
            else:
                _IN_FLIGHT[key] = threading.Event()
                mine.append(i)
    try:
        encoder = embedding.load() if mine else None
        if encoder is not None:
            vectors = encoder.encode([texts[i] for i in mine])
            with _fresh_lock:
                for i, v in zip(mine, vectors, strict=True):
                    _FRESH[(source, i)] = known[i] = v
                    if computed is not None:
                        computed[i] = v
                while len(_FRESH) > _FRESH_MAX:
                    _FRESH.popitem(last=False)
    finally:
        with _fresh_lock:
            for i in mine:
                _IN_FLIGHT.pop((source, i)).set()
    for i, done in theirs.items():
        done.wait(FRESH_WAIT_SECONDS)
        with _fresh_lock:
            vector = _FRESH.get((source, i))
        if vector is not None:
            known[i] = vector  # else the other thread failed or is slow: scored without it
    return known


def store_vectors(conn: Connection, vectors: dict[int, Vector]) -> None:
    """Keep embeddings computed at look time for reports stored without one (never overwriting)."""
    for issue_id, vector in vectors.items():
        conn.execute(
            update(report_terms)
            .where(report_terms.c.issue_id == issue_id, report_terms.c.vector.is_(None))
            .values(vector=embedding.to_bytes(vector))
        )


def score(gathered: Gathered | None, vector: Vector | None, limit: int) -> list[Match]:
    """The problems best matching, best first, one Match per problem (CPU only: no database)."""
    if gathered is None:
        return []
    lexical = _lexical_scorer(gathered)
    candidates = gathered.rows
    cosines: dict[int, float] = {}
    if vector is not None:
        with_vectors = [row for row in candidates if row.vector is not None]
        if with_vectors:
            stacked = embedding.from_bytes(b"".join(row.vector for row in with_vectors))
            found = stacked.reshape(len(with_vectors), -1) @ vector
            cosines = {int(row.issue_id): float(c) for row, c in zip(with_vectors, found, strict=True)}
        # Only those this lookup computed are left for its caller to store: one computed by another
        # lookup is stored by that one (measured: storing every candidate met cost PostgreSQL a
        # second UPDATE of report_terms a card).
        fresh = _fresh_vectors(gathered.source, gathered.texts, gathered.computed)
        cosines.update({i: float(v @ vector) for i, v in fresh.items()})
    best: dict[int, Match] = {}
    for row in candidates:
        confidence = lexical(row)
        cosine = cosines.get(int(row.issue_id))
        if cosine is None and confidence == 0:
            continue  # no word in common and nothing known of its meaning: no evidence at all
        if cosine is not None:
            if confidence == 0 and cosine < UNRELATED_COSINE:
                continue  # no word in common and no likeness of meaning: noise, not a match
            confidence = SEMANTIC_WEIGHT * max(cosine, 0.0) + (1 - SEMANTIC_WEIGHT) * confidence
        problem = int(row.problem_id)
        if problem not in best or confidence > best[problem].score:
            best[problem] = Match(problem, confidence, int(row.issue_id))
    # Ties go to the older problem: the one already standing, which others have joined.
    return sorted(best.values(), key=lambda m: (-m.score, m.problem_id))[:limit]


def rank(
    conn: Connection,
    query: Analysed,
    *,
    statuses: Sequence[str],
    exclude_problem: int | None,
    limit: int,
    vector: Vector | None = None,
    prefix: str | None = None,
    average: _AverageLength | None = None,
) -> list[Match]:
    """`gather` then `score`, in one go (the evaluation and benchmarks, which own their thread)."""
    found = gather(
        conn,
        query,
        statuses=statuses,
        exclude_problem=exclude_problem,
        semantic=vector is not None,
        prefix=prefix,
        average=average,
    )
    return score(found, vector, limit)


def _lexical_scorer(gathered: Gathered) -> Any:
    """BM25 of a candidate over the query's BM25 against itself (0 to 1)."""
    weights, frequencies = gathered.weights, gathered.frequencies
    if not weights:
        return lambda row: 0.0
    reports = max(gathered.reports, max(frequencies.values()))
    idf = {t: _idf(reports, frequencies[t]) for t in weights}
    average_length = gathered.average_length
    query_length = sum(weights.values())
    ideal = sum(
        idf[t] * n * (K1 + 1) / (n + K1 * (1 - B + B * query_length / average_length)) * n
        for t, n in weights.items()
    )

    def one(row: Any) -> float:
        tf = Counter(t for t in row.terms.split() if t in weights)
        if not tf:
            return 0.0
        norm = K1 * (1 - B + B * int(row.length) / average_length)
        total = sum(idf[t] * f * (K1 + 1) / (f + norm) * weights[t] for t, f in tf.items())
        return min(1.0, total / ideal) if ideal > 0 else 0.0

    return one


OPEN = ("open",)
LIVE = ("open", "resolved")


class ProblemSearch:
    """What the bot asks: problems similar to a new report (the card's suggestions, auto-merge) and
    search (`/support search`, typeahead). Stateless but for small caches: every process asks the
    database."""

    def __init__(self, database: Database, analyzer: Analyzer | None = None) -> None:
        self.database = database
        self.analyzer = analyzer or analyzer_for()
        self._average = _AverageLength()
        self._source = _source(database.engine.url)

    async def load_models(self) -> None:
        """Nothing of the index to load: it is the database's. The language detector and the embedding
        model are loaded (off the event loop) so that the first report does not wait for them."""
        await asyncio.to_thread(self._warm)

    def _warm(self) -> None:
        self.analyzer.query("warm up the language detector before the first report arrives")
        embed_report("warm up", "the embedding model")

    async def similar(
        self, subject: str, body: str, *, exclude_problem: int, limit: int = 3, issue_id: int | None = None
    ) -> list[Match]:
        """Open problems like a new report, best first, without a threshold (callers apply theirs).
        For a stored report (`issue_id`), its stored embedding is used rather than computed again."""
        query = analyse_report(self.analyzer, subject, body)
        vector = await self._stored_vector(issue_id) if issue_id is not None else None
        computed = None
        if vector is None and issue_id is not None:
            vector = computed = (
                await asyncio.to_thread(
                    _fresh_vectors, self._source, {issue_id: embedding_text(subject, body)}
                )
            ).get(issue_id)
        if vector is None:
            vector = computed = await asyncio.to_thread(embed_report, subject, body)

        found = await self.database.read(
            lambda conn: gather(
                conn,
                query,
                statuses=OPEN,
                exclude_problem=exclude_problem,
                semantic=vector is not None,
                average=self._average,
                before=issue_id,
            )
        )
        # Scoring a few hundred candidates is CPU work: on PostgreSQL the read runs on the event loop,
        # so the scoring is done after it, in a thread.
        matches = await asyncio.to_thread(score, found, vector, limit)
        keep = dict(found.computed) if found is not None else {}
        if computed is not None and issue_id is not None:
            # A report stored without its embedding (intake leaves it to this first look): keep it,
            # so it is found by meaning from now on, in every process.
            keep[issue_id] = computed
        if keep:
            await self.database.transaction(lambda conn: store_vectors(conn, keep))
        return matches

    def gather_stored(
        self, conn: Connection, issue_id: int, *, exclude_problem: int, vector: Vector | None = None
    ) -> Prepared | None:
        """`similar()`'s database half for a stored report, in the caller's transaction (the card's
        delivery reads its state and its candidates in one): the report's stored terms and embedding
        are the query, as analysed at intake. A report stored without its embedding (intake leaves it
        to the card) takes `vector` (`embed_stored`), which is stored with it in this transaction, so
        the report is found by meaning from now on, in every process. None: nothing stored, or no
        embedding either way; `similar()` then analyses and embeds it afresh."""
        stored = conn.execute(_STORED_QUERY, {"issue_id": issue_id}).first()
        if stored is None:
            return None
        if stored.vector:
            vector = embedding.from_bytes(stored.vector)
        elif vector is None:
            return None
        else:
            store_vectors(conn, {issue_id: vector})
        query = Analysed(stored.language, str(stored.terms or "").split())
        found = gather(
            conn,
            query,
            statuses=OPEN,
            exclude_problem=exclude_problem,
            semantic=True,
            average=self._average,
            before=issue_id,
        )
        return Prepared(found, vector)

    async def embed_stored(self, issue_id: int, subject: str, body: str) -> Vector | None:
        """A stored report's embedding, computed once per process (also when another lookup is
        computing it this moment: waited for), in a thread. None without the model."""
        text = {issue_id: embedding_text(subject, body)}
        return (await asyncio.to_thread(_fresh_vectors, self._source, text)).get(issue_id)

    async def score_prepared(self, prepared: Prepared, limit: int) -> list[Match]:
        """Score what `gather_stored` read, in a thread (CPU work, off the event loop). Candidates
        embedded while scoring are left in `prepared.gathered.computed` for the caller to store in
        its next transaction (`store_vectors`)."""
        return await asyncio.to_thread(score, prepared.gathered, prepared.vector, limit)

    async def _stored_vector(self, issue_id: int) -> Vector | None:
        stored = await self.database.read(
            lambda conn: conn.execute(
                select(report_terms.c.vector).where(report_terms.c.issue_id == issue_id)
            ).scalar()
        )
        return embedding.from_bytes(stored) if stored else None

    async def search(
        self,
        query: str,
        *,
        limit: int = 10,
        open_only: bool = False,
        prefix: bool = False,
        exclude_problem: int | None = None,
    ) -> list[Match]:
        """Problems matching what someone typed, best first. With `prefix`, the last word may be
        unfinished (typeahead)."""
        analysed = self.analyzer.query(query)
        partial = None
        if prefix and query and not query[-1].isspace():
            words = query.split()
            last = self.analyzer.query(words[-1], analysed.language).terms if words else []
            if last:
                partial = last[-1]
                terms = list(analysed.terms)
                if partial in terms:
                    terms.remove(partial)
                analysed = Analysed(analysed.language, terms)
        statuses = OPEN if open_only else LIVE
        # A finished query is also judged by its meaning; typeahead's half-words are not.
        vector = None if partial else await asyncio.to_thread(embed_report, query, "")
        found = await self.database.read(
            lambda conn: gather(
                conn,
                analysed,
                statuses=statuses,
                exclude_problem=exclude_problem,
                semantic=vector is not None,
                prefix=partial,
                average=self._average,
            )
        )
        return await asyncio.to_thread(score, found, vector, limit)
