"""Who counts as a customer, in one place: every distinct-customer count (cards, thresholds, the
digest, releases, the Home tab) and every list of customers to tell reads `issues.counts_as_customer`
through these expressions, so they always agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case
from sqlalchemy.sql.elements import ColumnElement


def counted_customer(table: Any) -> ColumnElement[Any]:
    """The issue's customer id when it counts as a customer, else NULL (which COUNT(DISTINCT) skips)."""
    return case((table.c.counts_as_customer, table.c.customer_id))


def counts(table: Any) -> ColumnElement[bool]:
    """The condition for lists of customers (to tell, to name): the report's customer counts."""
    return table.c.counts_as_customer.is_(True)
