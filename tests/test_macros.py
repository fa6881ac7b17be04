"""The macros service on both databases: unique names whatever their case, the picker's ranking
(the report's area, then a name match, then a text match, then uses), LIKE wildcards typed taken
literally, removal rights, and uses counted per window."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from bot.domain.macros import Macro, MacroNameTaken, MacroNotFound, MacroRefused, NotYourMacro
from bot.services import macros as svc
from db.models import macros
from db.session import Database


def _names(found: list[Macro]) -> list[str]:
    return [m.name for m in found]


async def test_names_are_unique_whatever_their_case(database: Database) -> None:
    await database.transaction(lambda conn: svc.add_macro(conn, "U1", "  Refund   policy ", "We refund."))
    with pytest.raises(MacroNameTaken):
        await database.transaction(lambda conn: svc.add_macro(conn, "U2", "REFUND POLICY", "Other."))
    with pytest.raises(MacroRefused, match="needs a name"):
        await database.transaction(lambda conn: svc.add_macro(conn, "U2", "\x00 ", "Text."))
    with pytest.raises(MacroRefused, match="at most 100"):
        await database.transaction(lambda conn: svc.add_macro(conn, "U2", "n" * 101, "Text."))
    found, total = await database.transaction(lambda conn: svc.list_macros(conn))
    assert (total, _names(found)) == (1, ["Refund policy"])


async def test_search_ranks_the_reports_area_then_matches_then_uses(database: Database) -> None:
    def seed(conn: Connection) -> None:
        svc.add_macro(conn, "U1", "Invoice copy", "Download it from Billing.", "billing")
        svc.add_macro(conn, "U1", "Export limits", "Invoices export in batches of 1000.", "reporting")
        svc.add_macro(conn, "U1", "Greeting", "Thanks for writing about your invoice.")
        svc.add_macro(conn, "U1", "100% refund", "We refund everything.")
        conn.execute(macros.update().where(macros.c.name == "Greeting").values(uses=50))

    await database.transaction(seed)

    everything = await database.transaction(lambda conn: svc.search_macros(conn, "", "Reporting"))
    assert _names(everything) == ["Export limits", "Greeting", "100% refund", "Invoice copy"]
    # "invoice": the area's own first, then a name match before text matches, then uses.
    invoice = await database.transaction(lambda conn: svc.search_macros(conn, "invoice", "reporting"))
    assert _names(invoice) == ["Export limits", "Invoice copy", "Greeting"]
    # What is typed is taken literally: % and _ are no wildcards.
    percent = await database.transaction(lambda conn: svc.search_macros(conn, "100%", None))
    assert _names(percent) == ["100% refund"]
    assert await database.transaction(lambda conn: svc.search_macros(conn, "_", None)) == []


async def test_only_the_author_or_an_admin_removes(database: Database) -> None:
    made = await database.transaction(lambda conn: svc.add_macro(conn, "U1", "Mine", "Text."))
    with pytest.raises(NotYourMacro):
        await database.transaction(
            lambda conn: svc.remove_macro(conn, "U2", may_remove_any=False, name="mine")
        )
    removed = await database.transaction(
        lambda conn: svc.remove_macro(conn, "U2", may_remove_any=True, macro_id=made.id)
    )
    assert removed.name == "Mine"
    with pytest.raises(MacroNotFound):
        await database.transaction(
            lambda conn: svc.remove_macro(conn, "U1", may_remove_any=False, name="Mine")
        )
    left = await database.transaction(lambda conn: conn.execute(select(macros)).all())
    assert left == []
