"""Lookups of open problems read only open reports' index entries; storing an embedding re-indexes nothing.

PostgreSQL: `report_terms.open` (whether the report's problem is open) and a partial GIN index over the
open reports' `tsvector`. Matching and typeahead look only at open problems, a tenth of the reports or
less: at a million reports the candidate statement ranked every report holding a rare term (3,672 rows
for one typed word, each a heap page) and joined each to its problem to keep the open tenth. The flag
is kept by triggers in the writing transaction, whatever code path writes: a problem's status change
sets it on the problem's reports, and a report moving to another problem (merge, unmerge, auto-merge)
takes its new problem's status, reading it `FOR SHARE` so a reopening that is committing is waited for.
New reports are open (every intake creates or joins an open problem). The flag only narrows what the
index offers: the candidate statement still joins the problem and checks its status, so a report
whose flag were wrong would be missed by a lookup of open problems only if it said closed while open.
Not in the ORM model, like `tsv` (only `bot.services.problem_search` reads it). The backfill is one
UPDATE over the closed reports (about a minute at a million on this machine; it locks `report_terms`
rows, not lookups of them).

SQLite: FTS5 was re-indexing a report whenever any column of `report_terms` changed, and a card's
lookup stores the report's embedding there: its trigger now fires only when the terms change.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_REINDEX = (
    "CREATE TRIGGER report_terms_au AFTER UPDATE {of}ON report_terms BEGIN "
    "INSERT INTO report_fts(report_fts, rowid, terms) VALUES ('delete', old.issue_id, old.terms); "
    "INSERT INTO report_fts(rowid, terms) VALUES (new.issue_id, new.terms); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_terms_au")
        op.execute(SQLITE_REINDEX.format(of="OF terms "))
        return
    op.execute("ALTER TABLE report_terms ADD COLUMN open boolean NOT NULL DEFAULT true")
    op.execute(
        "UPDATE report_terms r SET open = false FROM issues i JOIN problems p ON p.id = i.problem_id "
        "WHERE i.id = r.issue_id AND p.status <> 'open'"
    )
    op.execute("CREATE INDEX ix_report_terms_open_tsv ON report_terms USING gin (tsv) WHERE open")
    op.execute(
        """
        CREATE FUNCTION report_terms_problem_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE report_terms SET open = (NEW.status = 'open')
            WHERE issue_id IN (SELECT id FROM issues WHERE problem_id = NEW.id)
              AND open IS DISTINCT FROM (NEW.status = 'open');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER problems_open_reports AFTER UPDATE OF status ON problems FOR EACH ROW "
        "WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION report_terms_problem_status()"
    )
    op.execute(
        """
        CREATE FUNCTION report_terms_issue_moved() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            is_open boolean;
        BEGIN
            SELECT p.status = 'open' INTO is_open FROM problems p WHERE p.id = NEW.problem_id FOR SHARE;
            UPDATE report_terms SET open = coalesce(is_open, true)
            WHERE issue_id = NEW.id AND open IS DISTINCT FROM coalesce(is_open, true);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER issues_open_report AFTER UPDATE OF problem_id ON issues FOR EACH ROW "
        "WHEN (OLD.problem_id IS DISTINCT FROM NEW.problem_id) EXECUTE FUNCTION report_terms_issue_moved()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_terms_au")
        op.execute(SQLITE_REINDEX.format(of=""))
        return
    op.execute("DROP TRIGGER IF EXISTS issues_open_report ON issues")
    op.execute("DROP TRIGGER IF EXISTS problems_open_reports ON problems")
    op.execute("DROP FUNCTION IF EXISTS report_terms_issue_moved()")
    op.execute("DROP FUNCTION IF EXISTS report_terms_problem_status()")
    op.execute("DROP INDEX IF EXISTS ix_report_terms_open_tsv")
    op.execute("ALTER TABLE report_terms DROP COLUMN IF EXISTS open")
