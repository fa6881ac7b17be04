"""What every listener shares: the runtime taken from Bolt's context (or, for the webhooks, from the
aiohttp app), the one translation of a domain refusal or a database outage into what the person is told
(`perform`, `attempt`), and the private note to whoever clicked."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web
from slack_bolt.async_app import AsyncBoltContext

from bot.domain.errors import DomainError
from bot.domain.outbox import Ephemeral
from bot.runtime import Runtime
from bot.services import outbox
from db.session import DatabaseUnavailable, Work, answer_within

log = logging.getLogger(__name__)

T = TypeVar("T")

_RUNTIME = "supportbridge_runtime"
RUNTIME = web.AppKey("runtime", Runtime)  # the aiohttp app's runtime, for the webhook routes
UNAVAILABLE = "Couldn't save right now (database unavailable). Try again."
# How long a listener waits for the database before it says so: inside Slack's 3 s for whatever is
# answered with the ack (a modal's errors), and never the 30 s of a hung server's statement timeout.
ACK_DEADLINE_SECONDS = 2.5


def attach_runtime(context: AsyncBoltContext, runtime: Runtime) -> None:
    """Put the runtime where `runtime_of` finds it (the app's global middleware does, on every request)."""
    context[_RUNTIME] = runtime


def runtime_of(context: AsyncBoltContext) -> Runtime:
    """The database, configuration and services of the app this request came to."""
    runtime = context.get(_RUNTIME)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("no runtime in the Bolt context: the app's runtime middleware is not installed")
    return runtime


def runtime_of_request(request: web.Request) -> Runtime:
    """The runtime of the aiohttp app that took `request` (a webhook or a health check)."""
    return request.app[RUNTIME]


@dataclass(frozen=True)
class Refused:
    """A request that was not done, and the text that tells the person why."""

    text: str
    outage: bool = False  # the database was away (or too slow), not a refusal of the domain


async def perform(
    runtime: Runtime,
    work: Work[T],
    *,
    what: str,
    unavailable: str = UNAVAILABLE,
    within: float | None = ACK_DEADLINE_SECONDS,
) -> T | Refused:
    """Run `work` in one transaction (see `attempt`), within `ACK_DEADLINE_SECONDS` unless told."""
    return await attempt(
        runtime, runtime.database.transaction(work), what=what, unavailable=unavailable, within=within
    )


async def attempt(
    runtime: Runtime,
    pending: Awaitable[T],
    *,
    what: str,
    unavailable: str = UNAVAILABLE,
    within: float | None = None,
) -> T | Refused:
    """Await a service's work and wake the outbox for what it queued. A `DomainError` comes back as its
    text; an outage (or, with `within`, work slower than that many seconds) as `unavailable`. The one
    place where either is translated for the person who asked."""
    try:
        result = await (pending if within is None else answer_within(pending, within))
    except DomainError as exc:
        return Refused(str(exc))
    except DatabaseUnavailable:
        log.warning("request not done: database unavailable", extra={"action": what})
        return Refused(unavailable, outage=True)
    except TimeoutError:
        if within is None:
            raise  # not a budget of ours: a bug worth its traceback
        log.warning("request not done in time", extra={"action": what, "seconds": within})
        return Refused(unavailable, outage=True)
    runtime.deliverer.wake()
    return result


async def answer_form(ack: Any, outcome: object, block: str) -> None:
    """A modal submission's answer: a refusal is shown under the field `block` (the modal stays
    open with what was typed); anything else closes it."""
    if isinstance(outcome, Refused):
        await ack(response_action="errors", errors={block: outcome.text})
    else:
        await ack()


class Clicked(Protocol):
    @property
    def channel_id(self) -> str | None: ...

    @property
    def user_id(self) -> str: ...


async def tell(runtime: Runtime, clicked: Clicked, text: str) -> None:
    """A private note to the person who clicked, through the outbox like every Slack post."""
    channel, user = clicked.channel_id, clicked.user_id
    if not (channel and user):
        return
    await runtime.database.transaction(
        lambda conn: outbox.enqueue_in(conn, Ephemeral(channel=channel, user=user, text=text))
    )
    runtime.deliverer.wake()


async def run_action(runtime: Runtime, clicked: Clicked, work: Work[T], *, what: str) -> T | None:
    """A card control's work: a domain refusal is told to the person; a database outage keeps the card
    as it was (which shows the click did not take) and is logged."""
    result = await perform(runtime, work, what=what)
    if isinstance(result, Refused):
        if not result.outage:
            await tell(runtime, clicked, result.text)
        return None
    return result
