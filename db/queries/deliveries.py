"""Inbound deliveries taken once: a webhook's delivery id, a Slack event id, a modal's view id, an
e-mail's Message-ID. Senders retry (Slack, Jira and the helpdesks re-send what they think was lost),
so whatever a delivery does is applied in the transaction that claims its key, and a second claim of
the same key does nothing.

`claim_delivery` is the one way to take a key. The PostgreSQL intake statement
(`bot.services.intake_postgres`) is the exception by design: it claims the key inside its single CTE,
with the issue it creates, to keep the hot path at one round trip.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from db.models import inbound_deliveries, utcnow

# Built once per backend (cached compiled SQL): claiming is on the hot path of every intake.
_CLAIM = {
    name: dialect.insert(inbound_deliveries).on_conflict_do_nothing().returning(inbound_deliveries.c.key)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_ISSUE_OF = select(inbound_deliveries.c.issue_id)


MAX_KEY = 255  # inbound_deliveries.key


def delivery_key(prefix: str, sender_id: str) -> str:
    """`prefix` + the sender's delivery id, or + its SHA-256 when that would not fit the column: a
    sender's id of any length is stored, the same id always as the same key."""
    key = prefix + sender_id
    if len(key) <= MAX_KEY:
        return key
    return f"{prefix}sha256:{hashlib.sha256(sender_id.encode()).hexdigest()}"


class DeliveryTaken(Exception):
    """Another transaction claimed the same delivery first: roll back and look again."""


def claim_delivery(
    conn: Connection, key: str, *, issue_id: int | None = None, now: datetime | None = None
) -> bool:
    """Take `key` in the caller's transaction: True the first time only (a retry, or a concurrent
    request that got there first, finds it taken). `issue_id` is what the delivery led to, if anything."""
    taken = conn.execute(
        _CLAIM[conn.dialect.name],
        {"key": key, "issue_id": issue_id, "received_at": now or utcnow()},
    ).scalar()
    return taken is not None


def delivered(conn: Connection, key: str) -> tuple[bool, int | None]:
    """Whether `key` was taken already, and the issue it led to (None for a delivery of no issue)."""
    row = conn.execute(_ISSUE_OF.where(inbound_deliveries.c.key == key)).first()
    return (False, None) if row is None else (True, row.issue_id)
