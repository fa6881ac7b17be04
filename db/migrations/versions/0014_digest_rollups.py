"""The digest's daily roll-ups: `digest_daily`, kept by triggers, filled from the existing reports.

Per UTC day and measure (`received`, `source`, `area`, `area_none`, `tag`, `open`, `resolved`) the
number of reports it counts under a name (the source, the area, the tag; '' otherwise). Triggers on
`issues` (after insert and update, before delete) and `issue_tags` (after insert, update and delete)
keep it in the writing transaction, whatever code path writes (both intake paths, triage, merges,
resolutions, reopenings): a report's count moves only for the measures whose key (its day, source,
area, open status, resolution day) changed. On PostgreSQL the triggers are statement-level over
transition tables and only append their changes to `digest_daily_delta` (no key, so concurrent intakes
of one day share no row and never wait on each other's row locks); a fold
(`bot.services.digest_rollups.fold`, every minute and at the start of a digest) moves them into
`digest_daily`, and the digest reads both, so it is exact at any moment. On SQLite (one writer at a
time) the triggers are row-level and update `digest_daily` in place; its delta table stays empty.
See `_triggers`.

The backfill is one `INSERT … SELECT … GROUP BY` per measure (a scan of `issues` each; seconds at a
million reports).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPSERT = "ON CONFLICT (day, measure, name) DO UPDATE SET n = digest_daily.n + excluded.n"
DELTA = "digest_daily_delta"


class _Sql:
    """The few expressions that differ by backend."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def day(self, moment: str) -> str:
        return f"(({moment}) AT TIME ZONE 'UTC')::date" if self.pg else f"date({moment})"

    def differ(self, a: str, b: str) -> str:
        return f"({a}) IS DISTINCT FROM ({b})" if self.pg else f"({a}) IS NOT ({b})"

    def bump(
        self, day: str, measure: str, name: str, delta: int, when: str = "1 = 1", source: str = ""
    ) -> str:
        """Add `delta` to one roll-up row when `when` holds: on SQLite in place (SQLite wants a WHERE
        before ON CONFLICT in an INSERT … SELECT), on PostgreSQL as a row of the delta table."""
        target, conflict = (DELTA, "") if self.pg else ("digest_daily", f" {UPSERT}")
        return (
            f"INSERT INTO {target} (day, measure, name, n) SELECT {day}, {measure}, {name}, {delta}"
            f"{' FROM ' + source if source else ''} WHERE {when}{conflict}"
        )


def _area(row: str) -> tuple[str, str]:
    return (
        f"CASE WHEN {row}.product_area IS NULL THEN 'area_none' ELSE 'area' END",
        f"COALESCE({row}.product_area, '')",
    )


def _whole(sql: _Sql, row: str, delta: int) -> list[str]:
    """Every measure of one report but its tags (inserted or deleted as a whole)."""
    day = sql.day(f"{row}.received_at")
    measure, name = _area(row)
    return [
        sql.bump(day, "'received'", "''", delta),
        sql.bump(day, "'source'", f"{row}.source", delta),
        sql.bump(day, measure, name, delta),
        sql.bump(day, "'open'", "''", delta, f"{row}.status = 'open'"),
        sql.bump(sql.day(f"{row}.resolved_at"), "'resolved'", "''", delta, f"{row}.resolved_at IS NOT NULL"),
    ]


def _tags_of(sql: _Sql, row: str, delta: int, when: str = "1 = 1") -> str:
    return sql.bump(
        sql.day(f"{row}.received_at"),
        "'tag'",
        "t.tag",
        delta,
        f"t.issue_id = {row}.id AND {when}",
        source="issue_tags AS t",
    )


def _update(sql: _Sql) -> list[str]:
    """An updated report: only the measures whose key changed move, from OLD's key to NEW's."""
    old_day, new_day = sql.day("OLD.received_at"), sql.day("NEW.received_at")
    moved = sql.differ(old_day, new_day)
    old_area, new_area = _area("OLD"), _area("NEW")
    area_changed = f"{moved} OR {sql.differ('OLD.product_area', 'NEW.product_area')}"
    was_open, is_open = "OLD.status = 'open'", "NEW.status = 'open'"
    open_changed = f"{moved} OR {sql.differ(was_open, is_open)}"
    resolved_changed = sql.differ(sql.day("OLD.resolved_at"), sql.day("NEW.resolved_at"))
    return [
        sql.bump(old_day, "'received'", "''", -1, moved),
        sql.bump(new_day, "'received'", "''", 1, moved),
        _tags_of(sql, "OLD", -1, moved),
        _tags_of(sql, "NEW", 1, moved),
        sql.bump(old_day, "'source'", "OLD.source", -1, f"{moved} OR OLD.source <> NEW.source"),
        sql.bump(new_day, "'source'", "NEW.source", 1, f"{moved} OR OLD.source <> NEW.source"),
        sql.bump(old_day, *old_area, -1, area_changed),
        sql.bump(new_day, *new_area, 1, area_changed),
        sql.bump(old_day, "'open'", "''", -1, f"OLD.status = 'open' AND ({open_changed})"),
        sql.bump(new_day, "'open'", "''", 1, f"NEW.status = 'open' AND ({open_changed})"),
        sql.bump(
            sql.day("OLD.resolved_at"),
            "'resolved'",
            "''",
            -1,
            f"OLD.resolved_at IS NOT NULL AND {resolved_changed}",
        ),
        sql.bump(
            sql.day("NEW.resolved_at"),
            "'resolved'",
            "''",
            1,
            f"NEW.resolved_at IS NOT NULL AND {resolved_changed}",
        ),
    ]


def _tag_row(sql: _Sql, row: str, delta: int) -> str:
    """A tag added to or taken off a report: counted on the report's day (none if it is gone)."""
    return sql.bump(
        sql.day("i.received_at"), "'tag'", f"{row}.tag", delta, f"i.id = {row}.issue_id", source="issues AS i"
    )


UPDATED_COLUMNS = "received_at, source, product_area, status, resolved_at"


def _triggers(sql: _Sql) -> list[tuple[str, str, str, str, list[str]]]:
    """(name, timing and event, table, options, statements) of every trigger.

    On PostgreSQL the inserts, updates and tag changes are statement-level with transition tables:
    one INSERT per statement of the summed deltas into the delta table, which has no key, so
    concurrent writers (intakes of the same day, a resolution of a many-report problem) share no row
    lock: none waits for another's commit, none can deadlock. SQLite (one writer at a time) keeps
    row-level triggers updating `digest_daily` in place. A deleted report is row-level on both: before
    the delete, while its tags are still there to take off (the cascade deletes them after). Nothing
    in the bot deletes reports today."""
    row = "FOR EACH ROW"
    delete = (
        "digest_issues_bd",
        "BEFORE DELETE",
        "issues",
        row,
        [*_whole(sql, "OLD", -1), _tags_of(sql, "OLD", -1)],
    )
    if sql.pg:
        old, new = "REFERENCING OLD TABLE AS old_rows", "REFERENCING NEW TABLE AS new_rows"
        both = "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
        each = "FOR EACH STATEMENT"
        return [
            ("digest_issues_ai", "AFTER INSERT", "issues", f"{new} {each}", [_pg_issues(None, "new_rows")]),
            (
                "digest_issues_au",
                "AFTER UPDATE",
                "issues",
                f"{both} {each}",
                [_pg_issues("old_rows", "new_rows")],
            ),
            delete,
            ("digest_tags_ai", "AFTER INSERT", "issue_tags", f"{new} {each}", [_pg_tags(None, "new_rows")]),
            (
                "digest_tags_au",
                "AFTER UPDATE",
                "issue_tags",
                f"{both} {each}",
                [_pg_tags("old_rows", "new_rows")],
            ),
            ("digest_tags_ad", "AFTER DELETE", "issue_tags", f"{old} {each}", [_pg_tags("old_rows", None)]),
        ]
    return [
        ("digest_issues_ai", "AFTER INSERT", "issues", row, _whole(sql, "NEW", 1)),
        ("digest_issues_au", f"AFTER UPDATE OF {UPDATED_COLUMNS}", "issues", row, _update(sql)),
        delete,
        ("digest_tags_ai", "AFTER INSERT", "issue_tags", row, [_tag_row(sql, "NEW", 1)]),
        (
            "digest_tags_au",
            "AFTER UPDATE",
            "issue_tags",
            row,
            [_tag_row(sql, "OLD", -1), _tag_row(sql, "NEW", 1)],
        ),
        ("digest_tags_ad", "AFTER DELETE", "issue_tags", row, [_tag_row(sql, "OLD", -1)]),
    ]


PG_DAY = "(({}) AT TIME ZONE 'UTC')::date"


def _pg_apply(parts: list[str]) -> str:
    """The summed deltas of (measure, day, name, n) rows, appended to the delta table (no key: nothing
    another writer could hold)."""
    return (
        f"INSERT INTO {DELTA} (measure, day, name, n) SELECT measure, day, name, sum(n) FROM ("
        + " UNION ALL ".join(parts)
        + ") AS d GROUP BY measure, day, name HAVING sum(n) <> 0"
    )


def _pg_issues(old: str | None, new: str | None) -> str:
    """The deltas of a statement's reports: OLD's contributions off, NEW's on (unchanged keys cancel)."""
    parts = []
    for table, sign in ((old, -1), (new, 1)):
        if table is None:
            continue
        day = PG_DAY.format("r.received_at")
        rows = f"FROM {table} AS r"
        parts += [
            f"SELECT 'received' AS measure, {day} AS day, '' AS name, {sign} AS n {rows}",
            f"SELECT 'source', {day}, r.source, {sign} {rows}",
            f"SELECT CASE WHEN r.product_area IS NULL THEN 'area_none' ELSE 'area' END, {day},"
            f" COALESCE(r.product_area, ''), {sign} {rows}",
            f"SELECT 'open', {day}, '', {sign} {rows} WHERE r.status = 'open'",
            f"SELECT 'resolved', {PG_DAY.format('r.resolved_at')}, '', {sign} {rows}"
            " WHERE r.resolved_at IS NOT NULL",
        ]
        if old is not None and new is not None:  # an update: the report's tags move with its day
            parts.append(
                f"SELECT 'tag', {day}, t.tag, {sign} {rows} JOIN issue_tags AS t ON t.issue_id = r.id"
            )
    return _pg_apply(parts)


def _pg_tags(old: str | None, new: str | None) -> str:
    """Tags added or taken off: counted on their report's day (none if the report is gone)."""
    parts = [
        f"SELECT 'tag' AS measure, {PG_DAY.format('i.received_at')} AS day, t.tag AS name, {sign} AS n"
        f" FROM {table} AS t JOIN issues AS i ON i.id = t.issue_id"
        for table, sign in ((old, -1), (new, 1))
        if table is not None
    ]
    return _pg_apply(parts)


def _backfill(sql: _Sql) -> list[str]:
    received, resolved = sql.day("received_at"), sql.day("resolved_at")
    insert = "INSERT INTO digest_daily (day, measure, name, n)"
    return [
        f"{insert} SELECT {received}, 'received', '', count(*) FROM issues GROUP BY {received}",
        f"{insert} SELECT {received}, 'source', source, count(*) FROM issues GROUP BY {received}, source",
        f"{insert} SELECT {received}, CASE WHEN product_area IS NULL THEN 'area_none' ELSE 'area' END,"
        f" COALESCE(product_area, ''), count(*) FROM issues GROUP BY {received}, product_area",
        f"{insert} SELECT {received}, 'open', '', count(*) FROM issues WHERE status = 'open'"
        f" GROUP BY {received}",
        f"{insert} SELECT {resolved}, 'resolved', '', count(*) FROM issues WHERE resolved_at IS NOT NULL"
        f" GROUP BY {resolved}",
        f"{insert} SELECT {sql.day('i.received_at')}, 'tag', t.tag, count(*) FROM issue_tags AS t"
        f" JOIN issues AS i ON i.id = t.issue_id GROUP BY {sql.day('i.received_at')}, t.tag",
    ]


def upgrade() -> None:
    op.create_table(
        "digest_daily",
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        # Measure first: every read is one measure over a range of days.
        sa.PrimaryKeyConstraint("measure", "day", "name", name=op.f("pk_digest_daily")),
    )
    # Changes not yet folded into digest_daily (PostgreSQL's triggers append here). No key and no
    # index: the fold reads and deletes it whole, and a key would be a row two intakes could share.
    op.create_table(
        DELTA,
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    sql = _Sql(op.get_bind().dialect.name)
    if sql.pg:  # a report written between the backfill and the triggers would be counted nowhere
        op.execute("LOCK TABLE issues, issue_tags IN SHARE ROW EXCLUSIVE MODE")
    for statement in _backfill(sql):
        op.execute(statement)
    for name, when, table, options, statements in _triggers(sql):
        body = "; ".join(statements)
        if sql.pg:
            returned = "OLD" if when == "BEFORE DELETE" else "NULL"
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; "
                f"RETURN {returned}; END $$"
            )
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} {options} EXECUTE FUNCTION {name}()")
        else:
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} {options} BEGIN {body}; END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name, _when, table, _options, _statements in _triggers(_Sql(op.get_bind().dialect.name)):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table(DELTA)
    op.drop_table("digest_daily")
