"""Matching on the database's own full-text search: every report's analysed terms, indexed.

`report_terms` holds each report's terms (`bot.services.text_analysis`), `search_terms` how many reports
hold each term. The full-text index is each backend's own: SQLite's FTS5 (`report_fts`, an
external-content table over `report_terms`, kept by triggers) and PostgreSQL's `tsvector` (a generated
column with a GIN index). Existing reports are analysed here, with the default synonyms.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
BODY_INDEXED = 4000


def upgrade() -> None:
    op.create_table(
        "report_terms",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_report_terms_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_report_terms")),
    )
    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_search_terms")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE report_terms ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(terms, ' '))) STORED"
        )
        op.execute("CREATE INDEX ix_report_terms_tsv ON report_terms USING gin (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE report_fts USING fts5("
            "terms, content='report_terms', content_rowid='issue_id', "
            "tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(
            "CREATE TRIGGER report_terms_ai AFTER INSERT ON report_terms BEGIN "
            "INSERT INTO report_fts(rowid, terms) VALUES (new.issue_id, new.terms); END"
        )
        op.execute(
            "CREATE TRIGGER report_terms_ad AFTER DELETE ON report_terms BEGIN "
            "INSERT INTO report_fts(report_fts, rowid, terms) VALUES ('delete', old.issue_id, old.terms); END"
        )
        op.execute(
            "CREATE TRIGGER report_terms_au AFTER UPDATE ON report_terms BEGIN "
            "INSERT INTO report_fts(report_fts, rowid, terms) VALUES ('delete', old.issue_id, old.terms); "
            "INSERT INTO report_fts(rowid, terms) VALUES (new.issue_id, new.terms); END"
        )
    _analyse_existing()


def _analyse_existing() -> None:
    from bot.services.text_analysis import Analyzer

    analyzer = Analyzer()
    conn = op.get_bind()
    counts: Counter[str] = Counter()
    last = 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, subject, substr(body, 1, :n) AS body FROM issues "
                "WHERE id > :last ORDER BY id LIMIT :k"
            ),
            {"n": BODY_INDEXED, "last": last, "k": CHUNK},
        ).all()
        if not rows:
            break
        values = []
        for row in rows:
            analysed = analyzer.analyse(row.subject, row.body or "")
            values.append(
                {
                    "issue_id": row.id,
                    "language": analysed.language,
                    "terms": analysed.text,
                    "length": len(analysed.terms),
                }
            )
            counts.update(set(analysed.terms))
        conn.execute(
            sa.text(
                "INSERT INTO report_terms (issue_id, language, terms, length) "
                "VALUES (:issue_id, :language, :terms, :length)"
            ),
            values,
        )
        last = rows[-1].id
    if counts:
        conn.execute(
            sa.text("INSERT INTO search_terms (term, reports) VALUES (:term, :reports)"),
            [{"term": term, "reports": n} for term, n in sorted(counts.items()) if len(term) <= 64],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("report_terms_ai", "report_terms_ad", "report_terms_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS report_fts")
    op.drop_table("search_terms")
    op.drop_table("report_terms")
