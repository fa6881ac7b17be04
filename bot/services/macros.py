"""Macros: add, list, remove, search, and what "Save as macro" starts from.

Uses are counted where a reply is queued (`bot.services.replies.queue_reply`, `macro_id=`), in the
reply's own transaction, and the digest counts them per window from `customer_replies`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from bot.domain.macros import (
    MACRO_AREA_MAX,
    MACRO_NAME_MAX,
    Macro,
    MacroDraft,
    MacroNameTaken,
    MacroNotFound,
    MacroRefused,
    MacroUse,
    NotYourMacro,
)
from bot.domain.replies import REPLY_MAX_CHARS, ReplyPurpose, ReplyState
from bot.slack_text import text_for_customer
from db.models import customer_replies, issues, macros, problems, utcnow

LIST_MAX = 40  # `/support macro list`: one block each, within Slack's 50 blocks a message
OPTIONS_MAX = 25  # what an external select shows at once (Slack takes at most 100)
_CONTROL = dict.fromkeys(range(32))


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.translate(_CONTROL).split())
    if not cleaned:
        raise MacroRefused("A macro needs a name.")
    if len(cleaned) > MACRO_NAME_MAX:
        raise MacroRefused(f"A macro's name is at most {MACRO_NAME_MAX} characters.")
    return cleaned


def _clean_area(area: str | None) -> str | None:
    cleaned = " ".join((area or "").translate(_CONTROL).split())[:MACRO_AREA_MAX]
    return cleaned.lower() or None


def clean_text(text: str) -> str:
    """The text as a customer would be sent it (the same rules as a reply), or why it cannot be."""
    cleaned, problem = text_for_customer(text, REPLY_MAX_CHARS)
    if problem:
        raise MacroRefused(problem)
    return cleaned


def form_problems(name: str, text: str) -> dict[str, str]:
    """What is wrong with a macro form before the database is asked: {"name" | "text": why}."""
    found: dict[str, str] = {}
    for field, check in (("name", lambda: _clean_name(name)), ("text", lambda: clean_text(text))):
        try:
            check()
        except MacroRefused as exc:
            found[field] = str(exc)
    return found


def _macro(row: Row[tuple[object, ...]]) -> Macro:
    return Macro(
        id=int(row.id),
        name=str(row.name),
        text=str(row.text),
        product_area=row.product_area,
        created_by=row.created_by,
        uses=int(row.uses or 0),
    )


def _named(conn: Connection, name: str) -> Row[tuple[object, ...]] | None:
    return conn.execute(select(macros).where(func.lower(macros.c.name) == name.lower())).first()


def add_macro(conn: Connection, user: str, name: str, text: str, product_area: str | None = None) -> Macro:
    """Save a macro; its name must be new whatever its case."""
    cleaned_name = _clean_name(name)
    cleaned_text = clean_text(text)
    if _named(conn, cleaned_name) is not None:
        raise MacroNameTaken(f"There is a macro called “{cleaned_name}” already: choose another name.")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Two saves of one name at once: the unique index lets one in and the other is told, never a 500
    # (a different case slips past it only in the instant between the check above and this insert).
    macro_id = conn.execute(
        dialect.insert(macros)
        .values(
            name=cleaned_name,
            text=cleaned_text,
            product_area=_clean_area(product_area),
            created_by=user,
            uses=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(macros.c.id)
    ).scalar()
    if macro_id is None:
        raise MacroNameTaken(f"There is a macro called “{cleaned_name}” already: choose another name.")
    return Macro(int(macro_id), cleaned_name, cleaned_text, _clean_area(product_area), user, 0)


def list_macros(conn: Connection, limit: int = LIST_MAX) -> tuple[list[Macro], int]:
    """The most used macros first (then by name), at most `limit`, and how many there are."""
    total = int(conn.execute(select(func.count()).select_from(macros)).scalar_one())
    rows = conn.execute(
        select(macros).order_by(macros.c.uses.desc(), func.lower(macros.c.name)).limit(limit)
    ).all()
    return [_macro(row) for row in rows], total


def get_macro(conn: Connection, macro_id: int) -> Macro:
    row = conn.execute(select(macros).where(macros.c.id == macro_id)).first()
    if row is None:
        raise MacroNotFound("That macro no longer exists.")
    return _macro(row)


def remove_macro(
    conn: Connection, user: str, *, may_remove_any: bool, name: str | None = None, macro_id: int | None = None
) -> Macro:
    """Remove a macro by name or id: its author may, and whoever `may_remove_any` (an admin).
    Replies made from it keep their text; their `macro_id` is cleared."""
    if macro_id is not None:
        row = conn.execute(select(macros).where(macros.c.id == macro_id)).first()
    else:
        row = _named(conn, " ".join((name or "").split()))
    if row is None:
        raise MacroNotFound(
            f"There is no macro called “{(name or '')[:MACRO_NAME_MAX]}”."
            if name
            else "That macro no longer exists."
        )
    found = _macro(row)
    if found.created_by != user and not may_remove_any:
        raise NotYourMacro("Only the macro's author or an admin can remove it.")
    conn.execute(
        customer_replies.update().where(customer_replies.c.macro_id == found.id).values(macro_id=None)
    )
    conn.execute(delete(macros).where(macros.c.id == found.id))
    return found


def area_of_issue(conn: Connection, issue_id: int) -> str | None:
    return conn.execute(select(issues.c.product_area).where(issues.c.id == issue_id)).scalar()


def search_macros(
    conn: Connection, query: str, product_area: str | None, limit: int = OPTIONS_MAX
) -> list[Macro]:
    """Macros for the reply form: the report's product area first, then those whose name (then text)
    matches what is typed, then the most used. A LIKE over name and text is plenty for a table of
    hundreds of saved answers; nothing here needs a search index."""
    words = [w for w in " ".join(query.split()).lower()[:100].split(" ") if w][:5]
    statement = select(macros)
    name_hits = []
    for word in words:
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        in_name = func.lower(macros.c.name).like(pattern, escape="\\")
        in_text = func.lower(macros.c.text).like(pattern, escape="\\")
        statement = statement.where(or_(in_name, in_text))
        name_hits.append(in_name)
    area = _clean_area(product_area)
    same_area = case((macros.c.product_area == area, 0), else_=1) if area else None
    order: list[Any] = [] if same_area is None else [same_area]
    if name_hits:
        order.append(case((or_(*name_hits), 0), else_=1))
    order += [macros.c.uses.desc(), func.lower(macros.c.name)]
    return [_macro(row) for row in conn.execute(statement.order_by(*order).limit(limit)).all()]


def draft_from_reply(conn: Connection, reply_id: int) -> MacroDraft:
    """A sent reply's text, named after its problem's subject, in its report's area."""
    row = conn.execute(
        select(customer_replies.c.text, customer_replies.c.state, issues.c.subject, issues.c.product_area)
        .join(issues, issues.c.id == customer_replies.c.issue_id)
        .where(customer_replies.c.id == reply_id, customer_replies.c.purpose == ReplyPurpose.REPLY.value)
    ).first()
    if row is None:
        raise MacroNotFound("That reply no longer exists.")
    if row.state not in (ReplyState.SENT.value, ReplyState.REPLIED.value):
        raise MacroRefused("Only a sent reply can be saved as a macro.")
    return MacroDraft(name=_suggested_name(conn, row.subject), text=row.text, product_area=row.product_area)


def draft_from_rationale(conn: Connection, problem_id: int) -> MacroDraft:
    """A won't-do rationale, named after the problem's subject, in its primary report's area."""
    row = conn.execute(
        select(problems.c.rationale, issues.c.subject, issues.c.product_area)
        .join(issues, issues.c.id == problems.c.primary_issue_id)
        .where(problems.c.id == problem_id)
    ).first()
    if row is None:
        raise MacroNotFound("That problem no longer exists.")
    if not row.rationale:
        raise MacroRefused("This problem has no rationale to save.")
    return MacroDraft(
        name=_suggested_name(conn, row.subject), text=row.rationale, product_area=row.product_area
    )


def _suggested_name(conn: Connection, subject: str) -> str:
    base = " ".join(subject.translate(_CONTROL).split())[: MACRO_NAME_MAX - 4] or "Answer"
    name, n = base, 2
    while _named(conn, name) is not None and n < 50:
        name, n = f"{base} ({n})", n + 1
    return name


def most_used(conn: Connection, start: datetime, end: datetime, limit: int = 5) -> tuple[MacroUse, ...]:
    """The macros most replies were made from in [start, end), counted from the replies themselves
    (the `uses` counter is all-time)."""
    count = func.count(customer_replies.c.id)
    rows = conn.execute(
        select(macros.c.name, count.label("n"))
        .join(customer_replies, customer_replies.c.macro_id == macros.c.id)
        .where(customer_replies.c.created_at >= start, customer_replies.c.created_at < end)
        .group_by(macros.c.id, macros.c.name)
        .order_by(count.desc(), func.lower(macros.c.name))
        .limit(limit)
    ).all()
    return tuple(MacroUse(str(row.name), int(row.n)) for row in rows)
