"""The digest's daily roll-ups: `digest_daily`, kept by triggers, filled from the existing reports.

Per UTC day and measure (`received`, `source`, `area`, `area_none`, `tag`, `open`, `resolved`) the
number of reports it counts under a name (the source, the area, the tag; '' otherwise). Triggers on
`issues` (after insert and update, before delete) and `issue_tags` (after insert, update and delete)
keep it in the writing transaction, whatever code path writes (both intake paths, triage, merges,
resolutions, reopenings): each trigger moves a report's count only for the measures whose key (its
day, source, area, open status, resolution day) changed. The same statements are rendered for both
backends: plpgsql trigger functions on PostgreSQL, trigger bodies on SQLite.

The backfill is one `INSERT … SELECT … GROUP BY` per measure (a scan of `issues` each; seconds at a
million reports).

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPSERT = "ON CONFLICT (day, measure, name) DO UPDATE SET n = digest_daily.n + excluded.n"


class _Sql:
    """The few expressions that differ by backend."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def day(self, moment: str) -> str:
        return f"(({moment}) AT TIME ZONE 'UTC')::date" if self.pg else f"date({moment})"

    def differ(self, a: str, b: str) -> str:
        return f"({a}) IS DISTINCT FROM ({b})" if self.pg else f"({a}) IS NOT ({b})"


def _bump(day: str, measure: str, name: str, delta: int, when: str = "1 = 1", source: str = "") -> str:
    """Add `delta` to one roll-up row when `when` holds. (SQLite wants a WHERE before ON CONFLICT
    in an INSERT … SELECT.)"""
    return (
        f"INSERT INTO digest_daily (day, measure, name, n) SELECT {day}, {measure}, {name}, {delta}"
        f"{' FROM ' + source if source else ''} WHERE {when} {UPSERT}"
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
        _bump(day, "'received'", "''", delta),
        _bump(day, "'source'", f"{row}.source", delta),
        _bump(day, measure, name, delta),
        _bump(day, "'open'", "''", delta, f"{row}.status = 'open'"),
        _bump(sql.day(f"{row}.resolved_at"), "'resolved'", "''", delta, f"{row}.resolved_at IS NOT NULL"),
    ]


def _tags_of(sql: _Sql, row: str, delta: int, when: str = "1 = 1") -> str:
    return _bump(
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
        _bump(old_day, "'received'", "''", -1, moved),
        _bump(new_day, "'received'", "''", 1, moved),
        _tags_of(sql, "OLD", -1, moved),
        _tags_of(sql, "NEW", 1, moved),
        _bump(old_day, "'source'", "OLD.source", -1, f"{moved} OR OLD.source <> NEW.source"),
        _bump(new_day, "'source'", "NEW.source", 1, f"{moved} OR OLD.source <> NEW.source"),
        _bump(old_day, *old_area, -1, area_changed),
        _bump(new_day, *new_area, 1, area_changed),
        _bump(old_day, "'open'", "''", -1, f"OLD.status = 'open' AND ({open_changed})"),
        _bump(new_day, "'open'", "''", 1, f"NEW.status = 'open' AND ({open_changed})"),
        _bump(
            sql.day("OLD.resolved_at"),
            "'resolved'",
            "''",
            -1,
            f"OLD.resolved_at IS NOT NULL AND {resolved_changed}",
        ),
        _bump(
            sql.day("NEW.resolved_at"),
            "'resolved'",
            "''",
            1,
            f"NEW.resolved_at IS NOT NULL AND {resolved_changed}",
        ),
    ]


def _tag_row(sql: _Sql, row: str, delta: int) -> str:
    """A tag added to or taken off a report: counted on the report's day (none if it is gone)."""
    return _bump(
        sql.day("i.received_at"), "'tag'", f"{row}.tag", delta, f"i.id = {row}.issue_id", source="issues AS i"
    )


UPDATED_COLUMNS = "received_at, source, product_area, status, resolved_at"


def _triggers(sql: _Sql) -> list[tuple[str, str, str, list[str]]]:
    """(name, timing and event, table, statements) of every trigger."""
    return [
        ("digest_issues_ai", "AFTER INSERT", "issues", _whole(sql, "NEW", 1)),
        ("digest_issues_au", f"AFTER UPDATE OF {UPDATED_COLUMNS}", "issues", _update(sql)),
        # Before: the report's tags are still there to take off (the cascade deletes them after).
        ("digest_issues_bd", "BEFORE DELETE", "issues", [*_whole(sql, "OLD", -1), _tags_of(sql, "OLD", -1)]),
        ("digest_tags_ai", "AFTER INSERT", "issue_tags", [_tag_row(sql, "NEW", 1)]),
        ("digest_tags_au", "AFTER UPDATE", "issue_tags", [_tag_row(sql, "OLD", -1), _tag_row(sql, "NEW", 1)]),
        ("digest_tags_ad", "AFTER DELETE", "issue_tags", [_tag_row(sql, "OLD", -1)]),
    ]


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
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "measure", "name", name=op.f("pk_digest_daily")),
    )
    sql = _Sql(op.get_bind().dialect.name)
    for statement in _backfill(sql):
        op.execute(statement)
    for name, when, table, statements in _triggers(sql):
        body = "; ".join(statements)
        if sql.pg:
            returned = "OLD" if when.startswith("BEFORE DELETE") else "NULL"
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; "
                f"RETURN {returned}; END $$"
            )
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
        else:
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW BEGIN {body}; END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name, _when, table, _statements in _triggers(_Sql(op.get_bind().dialect.name)):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("digest_daily")
