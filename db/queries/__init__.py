"""Queries shared by the services and the handlers, by what they are about: `sql` (statements that
differ by backend), `deliveries` (claiming an inbound delivery once), `problems` (finding problems
for the pickers on cards and modals).

Handlers run no SQL of their own: what they need from the database is a function here or a service.
"""

from __future__ import annotations

from db.queries.sql import seconds_between, upsert_for

__all__ = ["seconds_between", "upsert_for"]
