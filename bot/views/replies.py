"""The reply form ("Reply to customer") and the reply's line in its card's thread."""

from __future__ import annotations

from typing import Any

from bot.domain.replies import (
    CHANNEL_WORDS,
    REPLY_MAX_CHARS,
    ReplyForm,
    ReplyNote,
    ReplyPurpose,
    ReplyState,
)
from bot.ids import Action, Block, Callback
from bot.views.blocks import (
    Blocks,
    actions,
    button,
    context,
    encode_state,
    escape,
    plain,
    section,
    truncate,
)
from bot.views.report_modal import text_input

QUOTE_MAX = 600
INTERNAL_ONLY = "Only this text is sent. Messages in the card's thread always stay in Slack."


def reply_text_block(revision: int) -> str:
    """The block id of the form's text field: a new one each time a macro fills it (Slack keeps what
    was typed in an input whose block id stays the same, whatever `initial_value` says)."""
    return Block.REPLY_TEXT if revision <= 0 else f"{Block.REPLY_TEXT}.{revision}"


def macro_picker(issue_id: int) -> dict[str, Any]:
    """Saved answers, the report's product area's first (options come from `block_suggestion`)."""
    return actions(
        [
            {
                "type": "external_select",
                "action_id": Action.REPLY_MACRO,
                "placeholder": plain("Use a macro…", 150),
                "min_query_length": 0,
            }
        ],
        block_id=encode_state(issue=issue_id, part="macro"),
    )


def render_reply_modal(form: ReplyForm) -> dict[str, Any]:
    """The form: the text to send and where it goes; without a channel back, why, and a way to get
    the text ready to paste into the customer's own channel. A macro picked fills the text."""
    text_block = reply_text_block(form.revision)
    who = f"*{escape(truncate(form.customer, 150))}*"
    subject = escape(truncate(form.subject, 200))
    if form.route.channel is not None:
        blocks: Blocks = [
            section(f"To {who} {CHANNEL_WORDS[form.route.channel]}, about _{subject}_", verbatim=True),
            macro_picker(form.issue_id),
            text_input(
                text_block,
                "Your answer",
                initial=form.text,
                multiline=True,
                max_length=REPLY_MAX_CHARS,
                placeholder="Plain text; links are sent as they are.",
            ),
            context(INTERNAL_ONLY),
        ]
        submit, copy = "Send", False
    else:
        blocks = [
            section(f":no_entry: {escape(form.route.reason or 'There is no channel back.')}", verbatim=True),
            section(
                f"Write the answer to {who} here to get it ready to paste where they are.", verbatim=True
            ),
            macro_picker(form.issue_id),
            text_input(
                text_block, "Your answer", initial=form.text, multiline=True, max_length=REPLY_MAX_CHARS
            ),
        ]
        submit, copy = "Get text to copy", True
    return {
        "type": "modal",
        "callback_id": Callback.REPLY_MODAL,
        "title": plain("Reply to customer", 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(**_form_state(form, copy)),
        "blocks": blocks,
    }


def _form_state(form: ReplyForm, copy: bool) -> dict[str, int | str]:
    state: dict[str, int | str] = {"issue": form.issue_id, "copy": int(copy)}
    if form.macro_id is not None:
        state["macro"] = form.macro_id
    if form.revision > 0:
        state["rev"] = form.revision
    return state


def render_copy_view(text: str) -> dict[str, Any]:
    """The cleaned text, ready to copy: nothing was sent."""
    body = escape(truncate(text, 2900)).replace("```", "'''")
    return {
        "type": "modal",
        "title": plain("Text to copy", 24),
        "close": plain("Done", 24),
        "blocks": [
            section("Nothing was sent. Copy this into the customer's own channel:"),
            section(f"```{body}```", verbatim=True),
        ],
    }


def _quote(text: str) -> str:
    lines = escape(truncate(text, QUOTE_MAX)).splitlines() or [""]
    return "\n".join(f">{line}" for line in lines)


def render_reply_note(note: ReplyNote) -> tuple[Blocks, str]:
    """ "Sent to Globex by e-mail by @maya", with the text; a failure says why, with Retry."""
    who = f"*{escape(truncate(note.customer, 150))}*"
    how = CHANNEL_WORDS[note.channel]
    by = f" by <@{note.sent_by}>" if note.sent_by else ""
    if note.state == ReplyState.QUEUED:
        line = f":outbox_tray: Sending to {who} {how}{by}…"
    elif note.state == ReplyState.SENT:
        line = f":incoming_envelope: Sent to {who} {how}{by}"
    elif note.state == ReplyState.REPLIED:
        line = f":incoming_envelope: Sent to {who} {how}{by} · :speech_balloon: they answered (below)"
    else:
        reason = escape(truncate(note.reason or "the channel refused it", 300))
        line = f":warning: Not sent to {who} {how}{by}: {reason}"
    blocks: Blocks = [section(f"{line}\n{_quote(note.text)}", verbatim=True)]
    if note.state in (ReplyState.SENT, ReplyState.REPLIED) and note.purpose == ReplyPurpose.REPLY:
        blocks.append(
            actions(
                [button("Save as macro", Action.MACRO_SAVE, encode_state(reply=note.reply_id))],
                block_id=encode_state(reply=note.reply_id, part="macro"),
            )
        )
    if note.state == ReplyState.FAILED:
        blocks.append(
            actions(
                [button("Retry", Action.REPLY_RETRY, encode_state(reply=note.reply_id), style="primary")],
                block_id=encode_state(reply=note.reply_id),
            )
        )
    text = truncate(line.replace("*", ""), 300)
    return blocks, text
