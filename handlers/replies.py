"""Answering a customer from a card: "Reply to customer" opens the form, sending queues the reply
(the outbox delivers it through the report's own channel), Retry sends a failed one again. Thin: ack,
parse, call `bot.services.replies`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.ids import Action, Block, Callback
from bot.services import replies
from bot.views.escalation import render_fix_notice_modal
from bot.views.replies import render_copy_view, render_reply_modal
from handlers import payload
from handlers.common import Refused, answer_form, perform, run_action, runtime_of, tell


async def on_reply(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    issue_id = clicked.state_int("issue")
    if issue_id is None or runtime.slack is None:
        return
    configured = frozenset(runtime.replies)
    form = await perform(
        runtime,
        lambda conn: replies.reply_form(conn, runtime.config, configured, issue_id),
        what="reply_form",
    )
    if isinstance(form, Refused):
        if not form.outage:
            await tell(runtime, clicked, form.text)
        return
    await runtime.slack.open_view(clicked.require_trigger(), render_reply_modal(form))


async def on_reply_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    issue_id = view.metadata_int("issue")
    text = str(view.input(Block.REPLY_TEXT).answer or "")
    if issue_id is None:
        await ack()
        return
    if view.metadata_int("copy"):
        # No channel back: nothing is sent; the cleaned text is shown to copy.
        try:
            cleaned = replies.clean_reply(text)
        except replies.ReplyRefused as exc:
            await ack(response_action="errors", errors={Block.REPLY_TEXT: str(exc)})
            return
        await ack(response_action="update", view=render_copy_view(cleaned))
        return
    user = view.user_id
    configured = frozenset(runtime.replies)
    done = await perform(
        runtime,
        lambda conn: replies.queue_reply(conn, runtime.config, configured, issue_id, user, text),
        what="reply",
    )
    if isinstance(done, Refused):
        await ack(response_action="errors", errors={Block.REPLY_TEXT: done.text})
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
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    problem_id = clicked.state_int("problem")
    if problem_id is None or runtime.slack is None:
        return
    configured = frozenset(runtime.replies)
    form = await perform(
        runtime,
        lambda conn: replies.fix_notice_form(conn, runtime.config, configured, problem_id),
        what="fix_notice_form",
    )
    if isinstance(form, Refused):
        if not form.outage:
            await tell(runtime, clicked, form.text)
        return
    await runtime.slack.open_view(clicked.require_trigger(), render_fix_notice_modal(form))


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
