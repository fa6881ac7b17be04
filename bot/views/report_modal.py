"""The "Log a customer issue" modal, opened by the message shortcut and `/support report`. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.ids import INPUT, Block, Callback
from bot.views.blocks import encode_state, plain, truncate

SUBJECT_MAX = 250
BODY_MAX = 3000  # Slack's limit for a plain-text input


@dataclass(frozen=True)
class ReportPrefill:
    subject: str = ""
    body: str = ""
    channel: str | None = None  # where the form was opened (for the confirmation note)
    message_ts: str | None = None  # the message being logged, from the shortcut
    # The message's author, only when from another workspace (Slack Connect): then the customer
    # unless named otherwise. A member of our workspace is never the customer.
    author: str | None = None
    customer_email: str = ""  # an e-mail address found in the message
    customer_name: str = ""  # a helpdesk ticket the message links to, when it names no e-mail


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str = "",
    multiline: bool = False,
    optional: bool = False,
    max_length: int = 255,
    placeholder: str | None = None,
    hint: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        element["initial_value"] = truncate(initial, max_length)
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _option(value: str) -> dict[str, Any]:
    return {"text": plain(value.capitalize(), 75), "value": value}


def render_report_modal(prefill: ReportPrefill, severities: list[str], tags: list[str]) -> dict[str, Any]:
    state: dict[str, str] = {}
    if prefill.channel:
        state["channel"] = prefill.channel
    if prefill.message_ts:
        state["ts"] = prefill.message_ts
    if prefill.author:
        state["author"] = prefill.author
    needed = "A name or an e-mail is needed (or both: the e-mail counts one customer across channels)."
    author_hint = (
        "Leave the customer empty to use the message's author."
        if prefill.author
        else f"Who the customer is: the message's author counts only from another workspace. {needed}"
        if prefill.message_ts
        else needed
    )
    blocks: list[dict[str, Any]] = [
        text_input(Block.REPORT_SUBJECT, "Subject", initial=prefill.subject, max_length=SUBJECT_MAX),
        text_input(
            Block.REPORT_BODY,
            "What the customer said",
            initial=prefill.body,
            multiline=True,
            optional=True,
            max_length=BODY_MAX,
        ),
        text_input(
            Block.REPORT_CUSTOMER_NAME,
            "Customer name",
            initial=prefill.customer_name,
            optional=True,
            hint=author_hint,
        ),
        text_input(
            Block.REPORT_CUSTOMER_EMAIL,
            "Customer e-mail",
            initial=prefill.customer_email,
            optional=True,
            placeholder="name@example.com",
        ),
        text_input(Block.REPORT_CUSTOMER_COMPANY, "Company", optional=True),
        text_input(Block.REPORT_PRODUCT_AREA, "Product area", optional=True, placeholder="e.g. billing"),
        {
            "type": "input",
            "block_id": Block.REPORT_SEVERITY,
            "label": plain("Severity", 2000),
            "element": {
                "type": "static_select",
                "action_id": INPUT,
                "options": [_option(s) for s in severities],
                "initial_option": _option("normal" if "normal" in severities else severities[0]),
            },
        },
    ]
    if tags:
        blocks.append(
            {
                "type": "input",
                "block_id": Block.REPORT_TAGS,
                "label": plain("Tags", 2000),
                "optional": True,
                "element": {
                    "type": "multi_static_select",
                    "action_id": INPUT,
                    "options": [{"text": plain(t, 75), "value": t} for t in tags[:100]],
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": Callback.REPORT_MODAL,
        "title": plain("Log customer issue", 24),
        "submit": plain("Log issue", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(**state),
        "blocks": blocks,
    }
