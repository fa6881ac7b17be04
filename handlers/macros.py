"""Macros from Slack: `/support macro add|list|remove`, "Save as macro" on a sent reply or a won't-do
rationale, Remove on the list, and the reply form's picker (its options, and filling the text when one
is chosen). Thin: ack, parse, call `bot.services.macros`, render."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain.macros import Macro
from bot.domain.numbers import MAX_INT
from bot.ids import Action, Block, Callback
from bot.runtime import Runtime
from bot.services import macros, replies
from bot.slack_text import slack_text_to_plain
from bot.views.macros import (
    MACRO_USAGE,
    macro_options,
    macro_removed,
    macro_saved,
    render_macro_list,
    render_macro_modal,
    render_macro_saved_view,
    unknown_macro_subcommand,
)
from bot.views.replies import render_reply_modal
from handlers import payload
from handlers.common import Refused, attempt, perform, run_action, runtime_of, tell
from integrations.slack import SlackError

log = logging.getLogger(__name__)

# Who may remove any macro: the configured admins (user groups expanded through Slack, within this).
ADMIN_CHECK_SECONDS = 1.0
OPTIONS_BUDGET_SECONDS = 2.0
ADD_USAGE = "Save a macro with `/support macro add <name> | <text>`, or `/support macro add` for a form."


def parse_id(value: str | None) -> int | None:
    """A macro id from a select's value (a forged one may be anything)."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 12:
        return None
    number = int(value)
    return number if 0 < number <= MAX_INT else None


async def may_remove_any(runtime: Runtime, user: str) -> bool:
    """Admins may remove anyone's macro; with no `admins` configured, everyone is one (as for releases)."""
    admins = runtime.config.admins
    if not admins:
        return True
    try:
        return await runtime.people.includes(admins, user, within=ADMIN_CHECK_SECONDS)
    except TimeoutError:
        log.warning("macro admins not checked: Slack user groups did not answer in time")
        return False


async def answer_command(runtime: Runtime, ack: AsyncAck, command: payload.Command) -> None:
    """`/support macro …` (the first word of `command.text` is "macro")."""
    # A command's text arrives with &, < and > escaped (Slack's own markup, links and mentions, as is).
    parts = slack_text_to_plain(command.text).strip().split(None, 2)
    sub = parts[1].lower() if len(parts) > 1 else "help"
    rest = parts[2].strip() if len(parts) > 2 else ""
    user = command.user_id
    if sub == "add":
        if "|" not in rest:
            await ack()
            if runtime.slack is not None:
                await runtime.slack.open_view(
                    command.require_trigger(), render_macro_modal(macros.MacroDraft(name=rest))
                )
            return
        name, text = rest.split("|", 1)
        saved = await perform(
            runtime, lambda conn: macros.add_macro(conn, user, name, text), what="macro_add"
        )
        await ack(text=saved.text if isinstance(saved, Refused) else macro_saved(saved))
    elif sub == "list":
        listed = await perform(runtime, lambda conn: macros.list_macros(conn), what="macro_list")
        if isinstance(listed, Refused):
            await ack(text=listed.text)
            return
        found, total = listed
        anyone = await may_remove_any(runtime, user)
        removable = {m.id for m in found if anyone or m.created_by == user}
        blocks, text = render_macro_list(found, total, removable)
        await ack(text=text, blocks=blocks)  # a command's answer is seen only by who asked
    elif sub == "remove":
        if not rest:
            await ack(text="Remove which macro? `/support macro remove <name>`")
            return
        anyone = await may_remove_any(runtime, user)
        removed = await perform(
            runtime,
            lambda conn: macros.remove_macro(conn, user, may_remove_any=anyone, name=rest),
            what="macro_remove",
        )
        await ack(text=removed.text if isinstance(removed, Refused) else macro_removed(removed))
    elif sub == "help":
        await ack(text=MACRO_USAGE)
    else:
        await ack(text=unknown_macro_subcommand(sub))


async def on_remove(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    macro_id = clicked.state_int("macro")
    if macro_id is None:
        return
    user = clicked.user_id
    anyone = await may_remove_any(runtime, user)
    removed = await run_action(
        runtime,
        clicked,
        lambda conn: macros.remove_macro(conn, user, may_remove_any=anyone, macro_id=macro_id),
        what="macro_remove",
    )
    if isinstance(removed, Macro):
        await tell(runtime, clicked, macro_removed(removed))


async def on_save(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """ "Save as macro" on a sent reply's line (`reply`) or a won't-do rationale (`problem`)."""
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    reply_id, problem_id = clicked.state_int("reply"), clicked.state_int("problem")
    if runtime.slack is None or (reply_id is None and problem_id is None):
        return
    if reply_id is not None:
        draft = await perform(
            runtime, lambda conn: macros.draft_from_reply(conn, reply_id), what="macro_draft"
        )
    else:
        assert problem_id is not None
        draft = await perform(
            runtime, lambda conn: macros.draft_from_rationale(conn, problem_id), what="macro_draft"
        )
    if isinstance(draft, Refused):
        if not draft.outage:
            await tell(runtime, clicked, draft.text)
        return
    await runtime.slack.open_view(clicked.require_trigger(), render_macro_modal(draft))


async def on_macro_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    runtime = runtime_of(context)
    view = payload.View.from_body(body)
    name = view.input(Block.MACRO_NAME).value or ""
    text = view.input(Block.MACRO_TEXT).value or ""
    area = view.input(Block.MACRO_AREA).stripped
    fields = {"name": Block.MACRO_NAME, "text": Block.MACRO_TEXT}
    problems = macros.form_problems(name, text)
    if problems:
        await ack(response_action="errors", errors={fields[f]: why for f, why in problems.items()})
        return
    user = view.user_id
    saved = await perform(
        runtime, lambda conn: macros.add_macro(conn, user, name, text, area), what="macro_add"
    )
    if isinstance(saved, Refused):
        await ack(response_action="errors", errors={Block.MACRO_NAME: saved.text})
        return
    await ack(response_action="update", view=render_macro_saved_view(saved))


async def on_picker_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """The reply form's picker asks for options: the report's product area's macros first."""
    runtime = runtime_of(context)
    wanted = payload.OptionsRequest.from_body(body)
    issue_id = wanted.state_int("issue")

    def find(conn: Any) -> list[Macro]:
        area = macros.area_of_issue(conn, issue_id) if issue_id is not None else None
        return macros.search_macros(conn, wanted.query, area)

    found = await attempt(
        runtime, runtime.database.transaction(find), what="macro_options", within=OPTIONS_BUDGET_SECONDS
    )
    await ack(options=[] if isinstance(found, Refused) else macro_options(found))


async def on_picked(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """A macro chosen in the reply form: the form again, with its text in a fresh (editable) field."""
    await ack()
    runtime = runtime_of(context)
    clicked = payload.Action.from_body(body)
    modal = payload.OpenView.from_body(body)
    issue_id = modal.metadata_int("issue")
    macro_id = parse_id(clicked.selected)
    if issue_id is None or macro_id is None or runtime.slack is None:
        return
    configured = frozenset(runtime.replies)

    def load(conn: Any) -> tuple[replies.ReplyForm, Macro]:
        return replies.reply_form(conn, runtime.config, configured, issue_id), macros.get_macro(
            conn, macro_id
        )

    loaded = await perform(runtime, load, what="reply_macro")
    if isinstance(loaded, Refused):
        log.info("macro not filled in", extra={"outage": loaded.outage})
        return
    form, macro = loaded
    revision = (modal.metadata_int("rev") or 0) + 1
    filled = replace(form, text=macro.text, macro_id=macro.id, revision=revision)
    try:
        await runtime.slack.update_view(modal.view_id, render_reply_modal(filled), view_hash=modal.view_hash)
    except SlackError as exc:
        # hash_conflict: the form changed meanwhile (another pick); the latest one stands.
        log.info("reply form not updated", extra={"error": str(exc)[:100]})


def register(app: AsyncApp) -> None:
    app.action(Action.MACRO_SAVE)(on_save)
    app.action(Action.MACRO_REMOVE)(on_remove)
    app.view(Callback.MACRO_MODAL)(on_macro_submitted)
    app.options(Action.REPLY_MACRO)(on_picker_options)
    app.action(Action.REPLY_MACRO)(on_picked)
