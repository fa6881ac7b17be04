"""The durable outbox: every outbound call waits here until it has succeeded.

Work is enqueued in the same transaction as the change that needs it, so a committed change always has
its delivery, across crashes and restarts. A delivery loop claims due items (on PostgreSQL with
`FOR UPDATE SKIP LOCKED`, so several processes share the work without sending anything twice), runs the
handler for the item's kind, and records the outcome. Failures back off exponentially; an item that
keeps failing is "stuck": visible on /readyz, in `supportbridge check` and at WARNING in the log.

The same card asked for again while an earlier request is pending is coalesced into it (one dedupe key
per pending item); a request that arrives while the item is in flight bumps its revision, and the sender
only marks it done if the revision it sent is still current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.config import Deliveries
from bot.domain.outbox import OutboxKind, Payload, PayloadError, decode_payload
from bot.supervisor import Supervised
from db.models import OutboxItem, outbox_items, utcnow
from db.session import Database, DatabaseUnavailable

log = logging.getLogger(__name__)


INSERT_ITEM = insert(outbox_items)
DB_DEADLINE_SECONDS = 5.0
T = TypeVar("T")


class RetryLater(Exception):
    """A handler's way to say "not now": the item is retried after a backoff (or `retry_after`).
    `outcome_unknown`: the failed call may have been carried out all the same (a timeout, a dropped
    connection), so the next attempt looks for its effect before making it again. `not_yet`: nothing
    was tried (its turn under a rate limit has not come): the item waits `retry_after` without that
    counting as a failed attempt."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        outcome_unknown: bool = False,
        not_yet: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown
        self.not_yet = not_yet


class GiveUp(Exception):
    """A handler's way to say "never": the item can never succeed (an archived channel, a deactivated
    person, a request Slack calls malformed). It is kept as `dead` with the reason, logged at WARNING,
    and not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What a handler did outside (a Slack post) is recorded by the writes it returns; the deliverer runs
# them in the same transaction that marks the item done, so the record and the completion agree.
Effects = Callable[[Connection], None]
Handler = Callable[[Any], Awaitable[Effects | None]]
# Called in the transaction that gives an item up as dead, to tell someone (the alerts channel).
OnDead = Callable[[Connection, "Claimed", str], None]
P = TypeVar("P", bound=Payload)


BUMP_PENDING = (
    update(outbox_items)
    .where(outbox_items.c.dedupe_key == bindparam("key"), outbox_items.c.status == "pending")
    .values(revision=outbox_items.c.revision + 1, next_attempt_at=bindparam("now"))
)
# A batched item (enqueued with a delay) keeps its time when asked for again: the batch window holds.
BUMP_PENDING_KEEP_TIME = (
    update(outbox_items)
    .where(outbox_items.c.dedupe_key == bindparam("key"), outbox_items.c.status == "pending")
    .values(revision=outbox_items.c.revision + 1)
)


def enqueue_in(
    conn: Connection,
    payload: Payload,
    *,
    dedupe_key: str | None = None,
    new: bool = False,
    delay: float = 0,
) -> None:
    """Add work in the caller's transaction. With a dedupe key, a pending item with that key is reused
    (and marked to run again) instead of adding a second one; `new=True` says the caller knows there
    can be none (the key names something created in this transaction). `delay` makes a batch: the
    item waits that long, and requests in the meantime join it."""
    now = utcnow()
    if dedupe_key is not None and not new:
        bump = BUMP_PENDING_KEEP_TIME if delay else BUMP_PENDING
        if conn.execute(bump, {"key": dedupe_key, "now": now}).rowcount:
            return
    conn.execute(
        INSERT_ITEM,
        {
            "kind": payload.KIND.value,
            "payload": payload.encode(),
            "dedupe_key": dedupe_key,
            "status": "pending",
            "attempts": 0,
            "revision": 0,
            "next_attempt_at": now + timedelta(seconds=delay) if delay else now,
            "created_at": now,
            "updated_at": now,
        },
    )


async def enqueue(
    session: AsyncSession,
    payload: Payload,
    *,
    dedupe_key: str | None = None,
    new: bool = False,
) -> None:
    """`enqueue_in` for code holding an AsyncSession."""
    await session.run_sync(
        lambda sync: enqueue_in(sync.connection(), payload, dedupe_key=dedupe_key, new=new)
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    revision: int
    # An earlier attempt may have had its effect without it being recorded: the process died during
    # it (its lease ran out), or its call failed in a way that does not say it was not carried out
    # (a timeout, a dropped connection).
    outcome_unknown: bool = False


_CURRENT: ContextVar[Claimed | None] = ContextVar("outbox_current_item", default=None)


def current_item_id() -> int | None:
    """Inside a delivery handler: the id of the outbox item being run."""
    item = _CURRENT.get()
    return item.id if item is not None else None


def attempts_before() -> int:
    """Inside a delivery handler: how many attempts of this item ran before this one."""
    item = _CURRENT.get()
    return item.attempts if item is not None else 0


def earlier_attempt_may_have_succeeded() -> bool:
    """Inside a delivery handler: True when this item ran before and it is not known whether that
    attempt's effect happened. A handler whose effect cannot be made twice harmlessly (posting a
    message) then looks for it before making it again."""
    item = _CURRENT.get()
    return item is not None and item.outcome_unknown


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    stuck: int
    oldest_pending_seconds: float | None
    last_error: str | None
    dead: int = 0

    @property
    def ok(self) -> bool:
        return self.stuck == 0


@dataclass(frozen=True)
class Outcome:
    """How running one item went: done (with the writes recording its effect) or failed."""

    item: Claimed
    effects: Effects | None = None
    failure: str | None = None
    retry_after: float | None = None
    dead: bool = False  # the failure is final: keep the item as dead, do not retry
    outcome_unknown: bool = False  # the failed call may have been carried out
    not_yet: bool = False  # nothing was tried: wait `retry_after`, not counted as an attempt


ITEMS = outbox_items


def _delivery_outcome(outcome: Outcome) -> str:
    if outcome.failure is None:
        return "done"
    if outcome.not_yet:
        return "paced"
    return "dead" if outcome.dead else "retry"


class Deliverer:
    """Runs outbox items. One per process; any number of processes on PostgreSQL."""

    def __init__(
        self,
        database: Database,
        policy: Deliveries,
        handlers: dict[OutboxKind, Handler] | None = None,
        *,
        batch_size: int = 50,
        concurrency: int = 8,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self.database = database
        self.policy = policy
        self.handlers: dict[OutboxKind, Handler] = dict(handlers or {})
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._loop = Supervised("outbox-deliverer", self.run_forever)
        self._stopping = False
        # How long a claimed item is reserved for this process (`deliveries.lease_seconds`). It is
        # renewed every third of that while the item runs (a Slack call may wait a while), so it only
        # runs out when the process died; the next claim then knows the attempt's outcome is unknown.
        self.lease = timedelta(seconds=policy.lease_seconds)
        self.on_dead: OnDead | None = None

    def register(self, payload_type: type[P], handler: Callable[[P], Awaitable[Effects | None]]) -> None:
        """Run `handler` for the outbox items of `payload_type`'s kind, given their decoded payload."""
        self.handlers[payload_type.KIND] = handler

    async def _db(self, work: Callable[[Connection], T]) -> T:
        """The loop's own small transactions, bounded: a hung database (a frozen server, a network
        that stopped forwarding) is "unavailable" after `DB_DEADLINE_SECONDS`, not after the driver's
        statement timeout, so the loop pauses and resumes soon after the database does."""
        try:
            async with asyncio.timeout(DB_DEADLINE_SECONDS):
                return await self.database.transaction(work)
        except TimeoutError:
            raise DatabaseUnavailable("timed out") from None

    def wake(self) -> None:
        """Something was enqueued in this process: look now rather than at the next poll."""
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        base = self.policy.base_backoff_seconds * (2 ** min(attempts - 1, 20))
        return float(min(self.policy.max_backoff_seconds, base) * random.uniform(0.8, 1.2))

    async def claim(self) -> list[Claimed]:
        batch_size = self.batch_size

        def work(conn: Connection) -> list[Claimed]:
            now = utcnow()
            query = (
                select(
                    ITEMS.c.id,
                    ITEMS.c.kind,
                    ITEMS.c.payload,
                    ITEMS.c.attempts,
                    ITEMS.c.revision,
                    ITEMS.c.locked_until,
                    ITEMS.c.outcome_unknown,
                )
                .where(
                    ITEMS.c.status == "pending",
                    ITEMS.c.next_attempt_at <= now,
                    or_(ITEMS.c.locked_until.is_(None), ITEMS.c.locked_until < now),
                )
                .order_by(ITEMS.c.id)
                .limit(batch_size)
            )
            if conn.dialect.name == "postgresql":
                # Several processes may claim at once: each takes rows the others have not locked.
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(ITEMS)
                    .where(ITEMS.c.id.in_([r.id for r in rows]))
                    .values(locked_until=now + self.lease)
                )
            return [
                Claimed(
                    r.id,
                    r.kind,
                    dict(r.payload),
                    r.attempts,
                    r.revision,
                    outcome_unknown=bool(r.outcome_unknown) or r.locked_until is not None,
                )
                for r in rows
            ]

        with metrics.stage("claim"):
            return await self._db(work)

    async def _run_item(self, item: Claimed) -> Outcome:
        try:
            payload = decode_payload(item.kind, item.payload)
        except PayloadError as exc:
            # Written by a newer version during a rolling deploy, or damaged: keep it for a process
            # that can read it, and say why.
            return Outcome(item, failure=str(exc))
        handler = self.handlers.get(payload.KIND)
        if handler is None:
            return Outcome(item, failure=f"no handler for {item.kind!r} in this process")
        token = _CURRENT.set(item)
        try:
            return Outcome(item, effects=await handler(payload))
        except RetryLater as exc:
            return Outcome(
                item,
                failure=exc.reason,
                retry_after=exc.retry_after,
                outcome_unknown=exc.outcome_unknown,
                not_yet=exc.not_yet,
            )
        except GiveUp as exc:
            return Outcome(item, failure=exc.reason, dead=True)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            # A bug in a handler must not stop the loop nor lose the item: keep it, loudly.
            log.exception("delivery handler crashed", extra={"outbox_id": item.id, "kind": item.kind})
            return Outcome(item, failure=f"{type(exc).__name__}: {exc}")
        finally:
            _CURRENT.reset(token)

    def _record(self, conn: Connection, outcome: Outcome, *, with_effects: bool = True) -> None:
        item, now = outcome.item, utcnow()
        if outcome.dead:
            conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item.id)
                .values(
                    status="dead",
                    attempts=item.attempts + 1,
                    dedupe_key=None,
                    locked_until=None,
                    last_error=(outcome.failure or "")[:1000],
                    updated_at=now,
                )
            )
            if self.on_dead is not None:
                self.on_dead(conn, item, outcome.failure or "")
            return
        if outcome.not_yet:
            conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item.id)
                .values(
                    next_attempt_at=now + timedelta(seconds=outcome.retry_after or 0.0),
                    locked_until=None,
                    updated_at=now,
                )
            )
            return
        if outcome.failure is not None:
            attempts = item.attempts + 1
            delay = max(outcome.retry_after or 0.0, self.backoff(attempts))
            conn.execute(
                update(ITEMS)
                .where(ITEMS.c.id == item.id)
                .values(
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=delay),
                    locked_until=None,
                    last_error=outcome.failure[:1000],
                    # Once unknown, unknown until an attempt settles it (one whose effect is found
                    # or made), whatever the failures in between say.
                    outcome_unknown=item.outcome_unknown or outcome.outcome_unknown,
                    updated_at=now,
                )
            )
            return
        if with_effects and outcome.effects is not None:
            outcome.effects(conn)
        done = conn.execute(
            update(ITEMS)
            .where(ITEMS.c.id == item.id, ITEMS.c.revision == item.revision)
            .values(
                status="done",
                dedupe_key=None,
                done_at=now,
                locked_until=None,
                last_error=None,
                outcome_unknown=False,
                updated_at=now,
            )
        )
        if not done.rowcount:
            # Asked for again while we were sending: run once more with the newer state.
            conn.execute(update(ITEMS).where(ITEMS.c.id == item.id).values(locked_until=None, updated_at=now))

    async def _settle(self, outcomes: list[Outcome]) -> None:
        """Record a batch's outcomes in one transaction (one per item if an effect conflicts)."""

        def record_all(conn: Connection) -> None:
            for outcome in outcomes:
                self._record(conn, outcome)

        with metrics.stage("record"):
            try:
                await self._db(record_all)
            except IntegrityError:
                for outcome in outcomes:
                    await self._settle_one(outcome)
        for outcome in outcomes:
            metrics.DELIVERIES.labels(kind=outcome.item.kind, outcome=_delivery_outcome(outcome)).inc()
            if outcome.failure is None:
                continue
            if outcome.not_yet:
                log.debug("delivery paced", extra={"outbox_id": outcome.item.id, "wait": outcome.retry_after})
                continue
            if outcome.dead:
                log.warning(
                    "delivery given up: it can never succeed",
                    extra={"outbox_id": outcome.item.id, "kind": outcome.item.kind, "error": outcome.failure},
                )
                continue
            attempts = outcome.item.attempts + 1
            level = logging.WARNING if attempts >= self.policy.stuck_after_attempts else logging.INFO
            log.log(
                level,
                "delivery failed, will retry",
                extra={
                    "outbox_id": outcome.item.id,
                    "kind": outcome.item.kind,
                    "attempts": attempts,
                    "error": outcome.failure,
                },
            )

    async def _settle_one(self, outcome: Outcome) -> None:
        def record(conn: Connection) -> None:
            self._record(conn, outcome)

        def complete_only(conn: Connection) -> None:
            self._record(conn, outcome, with_effects=False)

        try:
            await self._db(record)
        except IntegrityError:
            # Its effect was already recorded: a second sender ran it after its lease ran out.
            log.warning("delivery effect already recorded", extra={"outbox_id": outcome.item.id})
            await self._db(complete_only)

    async def run_once(self) -> int:
        """Claim and run the due items; returns how many were claimed. Each outcome is recorded as
        soon as its item has run, not when the whole batch has: a crash loses the record of at most
        the items in flight, and those are found out on their next attempt. Outcomes that finish
        while another is being recorded are recorded together next (one transaction for those, not
        one each): none waits longer than the record in flight."""
        items = await self.claim()
        if not items:
            return 0
        limit = asyncio.Semaphore(self.concurrency)
        running = {item.id for item in items}
        finished: list[Outcome] = []
        recording = asyncio.Lock()

        async def run(item: Claimed) -> None:
            async with limit:
                outcome = await self._run_item(item)
            running.discard(item.id)
            finished.append(outcome)
            async with recording:
                if not any(done is outcome for done in finished):
                    return  # recorded with an earlier one's batch
                batch = finished[:]
                finished.clear()
                await self._settle(batch)

        renewer = asyncio.create_task(self._renew_leases(running), name="outbox-lease-renewal")
        try:
            results = await asyncio.gather(*(run(item) for item in items), return_exceptions=True)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return len(items)

    async def _renew_leases(self, running: set[int]) -> None:
        """Keep the items still running reserved for this process."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = sorted(running)
            if not ids:
                continue

            def renew(conn: Connection, ids: list[int] = ids) -> None:
                conn.execute(
                    update(ITEMS)
                    .where(ITEMS.c.id.in_(ids), ITEMS.c.status == "pending")
                    .where(ITEMS.c.locked_until.is_not(None))
                    .values(locked_until=utcnow() + self.lease)
                )

            try:
                await self._db(renew)
            except DatabaseUnavailable:
                log.warning("outbox lease not renewed: database unavailable", extra={"items": len(ids)})

    async def run_forever(self) -> None:
        failures = 0
        while not self._stopping:
            try:
                claimed = await self.run_once()
                failures = 0
            except DatabaseUnavailable:
                failures += 1
                log.warning("delivery loop cannot reach the database", extra={"failures": failures})
                await self._pause(min(30.0, 0.5 * 2**failures))
                continue
            except Exception:
                # Nothing may end the loop: a bug here would stop every delivery of the process.
                failures += 1
                log.exception("delivery loop failed; carrying on", extra={"failures": failures})
                await self._pause(min(30.0, 0.5 * 2**failures))
                continue
            if not claimed:
                await self._pause(self.idle_poll_seconds)

    async def _pause(self, seconds: float) -> None:
        """Sleep until the next poll, a wake-up (new work in this process) or stop()."""
        self._wake.clear()
        if self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    @property
    def started(self) -> bool:
        """This process runs the delivery loop (`start` was called, `stop` was not)."""
        return self._loop.running

    @property
    def alive(self) -> bool:
        """The delivery loop of this process is running (false before `start` and after `stop`)."""
        return self._loop.alive

    def start(self) -> None:
        """Run the delivery loop in the background, restarted if it ever dies (`bot.supervisor`)."""
        self._stopping = False
        self._loop.start()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._loop.stop(grace=15)


async def outbox_health(database: Database, policy: Deliveries) -> OutboxHealth:
    now = utcnow()
    stale_before = now - timedelta(seconds=policy.stuck_after_seconds)
    async with database.read_session() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.count().filter(
                        or_(
                            OutboxItem.attempts >= policy.stuck_after_attempts,
                            OutboxItem.created_at < stale_before,
                        )
                    ),
                    func.min(OutboxItem.created_at),
                ).where(OutboxItem.status == "pending")
            )
        ).one()
        dead = await session.scalar(
            select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "dead")
        )
        last_error = await session.scalar(
            select(OutboxItem.last_error)
            .where(OutboxItem.status == "pending", OutboxItem.last_error.is_not(None))
            .order_by(OutboxItem.updated_at.desc())
            .limit(1)
        )
    pending, stuck, oldest = row
    oldest_age: float | None = None
    if oldest is not None:
        if isinstance(oldest, datetime) and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        oldest_age = (now - oldest).total_seconds()
    return OutboxHealth(int(pending), int(stuck), oldest_age, last_error, dead=int(dead or 0))


# -- the dead letter: what could never be delivered, kept until someone retries or drops it ----------


@dataclass(frozen=True)
class DeadDelivery:
    id: int
    kind: str
    attempts: int
    reason: str
    given_up_at: datetime


async def dead_deliveries(database: Database, limit: int = 100) -> list[DeadDelivery]:
    """The dead deliveries, the latest first."""
    async with database.read_session() as session:
        rows = (
            await session.execute(
                select(
                    OutboxItem.id,
                    OutboxItem.kind,
                    OutboxItem.attempts,
                    OutboxItem.last_error,
                    OutboxItem.updated_at,
                )
                .where(OutboxItem.status == "dead")
                .order_by(OutboxItem.updated_at.desc(), OutboxItem.id.desc())
                .limit(limit)
            )
        ).all()
    return [DeadDelivery(r.id, r.kind, r.attempts, r.last_error or "", r.updated_at) for r in rows]


def _dead(ids: list[int] | None) -> Any:
    condition = ITEMS.c.status == "dead"
    return condition if ids is None else condition & ITEMS.c.id.in_(ids)


async def retry_dead(database: Database, ids: list[int] | None = None) -> int:
    """Send dead deliveries again (all of them with `ids=None`), from a fresh count of attempts: for
    after the cause was fixed (the bot invited back, a scope granted). Returns how many."""

    def work(conn: Connection) -> int:
        now = utcnow()
        return int(
            conn.execute(
                update(ITEMS)
                .where(_dead(ids))
                .values(status="pending", attempts=0, next_attempt_at=now, locked_until=None, updated_at=now)
            ).rowcount
        )

    return await database.transaction(work)


async def drop_dead(database: Database, ids: list[int] | None = None) -> int:
    """Forget dead deliveries (all of them with `ids=None`). Returns how many."""

    def work(conn: Connection) -> int:
        return int(conn.execute(ITEMS.delete().where(_dead(ids))).rowcount)

    return await database.transaction(work)
