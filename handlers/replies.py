"""Answering a customer from a card: "Reply to customer" opens the form, sending queues the reply
(the outbox delivers it through the report's own channel), Retry sends a failed one again. Thin: ack,
parse, call `bot.services.replies`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.config import AppConfig
from bot.ids import Action, Block, Callback
from bot.services import replies
from bot.views.escalation import render_fix_notice_modal
from bot.views.replies import render_copy_view, render_reply_modal, reply_text_block
from handlers import payload
from handlers.common import Refused, answer_form, perform, run_action, runtime_of, tell

T = TypeVar("T")


async def open_form(
    ack: AsyncAck,
    clicked: payload.Action,
    context: AsyncBoltContext,
    name: str,
    load: Callable[[Any, AppConfig, frozenset[str], int], T],
    render: Callable[[T], dict[str, Any]],
) -> None:
    """A button that opens a form about the report or problem its state names (`name`), loaded by a
    service from what this process can send through; a refusal is told to the person who clicked."""
    await ack()
    runtime = runtime_of(context)
    target = clicked.state_int(name)
    if target is None or runtime.slack is None:
        return
    configured = frozenset(runtime.replies)
    form = await perform(
        runtime, lambda conn: load(conn, runtime.config, configured, target), what=f"{name}_form"
    )
    if isinstance(form, Refused):
        if not form.outage:
            await tell(runtime, clicked, form.text)
        return
    await runtime.slack.open_view(clicked.require_trigger(), render(form))


async def on_reply(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    clicked = payload.Action.from_body(body)
    await open_form(ack, clicked, context, "issue", replies.reply_form, render_reply_modal)


async def on_reply_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    # A macro picked replaced the text field (a new block id each time): read the current one.
    text_block = reply_text_block(view.metadata_int("rev") or 0)
    macro_id = view.metadata_int("macro")
    text = str(view.input(text_block).answer or "")
    if issue_id is None:
        await ack()
        return
    if view.metadata_int("copy"):
        # No channel back: nothing is sent; the cleaned text is shown to copy.
        try:
            cleaned = replies.clean_reply(text)
        except replies.ReplyRefused as exc:
            await ack(response_action="errors", errors={text_block: str(exc)})
            return
        await ack(response_action="update", view=render_copy_view(cleaned))
        return
    user = view.user_id
    configured = frozenset(runtime.replies)
    done = await perform(
        runtime,
        lambda conn: replies.queue_reply(
            conn, runtime.config, configured, issue_id, user, text, macro_id=macro_id
        ),
        what="reply",
    )
    if isinstance(done, Refused):
        await ack(response_action="errors", errors={text_block: done.text})
        return
    await ack()


async def on_retry(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    reply_id = clicked.state_int("reply")
    if reply_id is None:
        return
    user = clicked.user_id
    await run_action(
        runtime, clicked, lambda conn: replies.retry_reply(conn, reply_id, user), what="reply_retry"
    )


async def on_tell_all(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    clicked = payload.Action.from_body(body)
    await open_form(ack, clicked, context, "problem", replies.fix_notice_form, render_fix_notice_modal)


async def on_tell_all_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    problem_id = view.metadata_int("problem")
    text = str(view.input(Block.TELL_ALL_TEXT).answer or "")
    if problem_id is None:
        await ack()
        return
    user = view.user_id
    configured = frozenset(runtime.replies)
    done = await perform(
        runtime,
        lambda conn: replies.tell_all(conn, runtime.config, configured, problem_id, user, text),
        what="tell_all",
    )
    await answer_form(ack, done, Block.TELL_ALL_TEXT)


def register(app: AsyncApp) -> None:
    app.action(Action.TELL_ALL)(on_tell_all)
    app.view(Callback.TELL_ALL_MODAL)(on_tell_all_submitted)
    app.action(Action.REPLY)(on_reply)
    app.view(Callback.REPLY_MODAL)(on_reply_submitted)
    app.action(Action.REPLY_RETRY)(on_retry)
