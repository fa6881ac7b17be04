"""The "Set customer" modal: who the customer of a report is. Pure."""

from __future__ import annotations

from typing import Any

from bot.ids import Block, Callback
from bot.views.blocks import encode_state, plain
from bot.views.report_modal import text_input


def render_set_customer_modal(issue_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.SET_CUSTOMER_MODAL,
        "private_metadata": encode_state(issue=issue_id),
        "title": plain(f"Customer of #{issue_id}", 24),
        "submit": plain("Set customer", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            text_input(Block.CUSTOMER_NAME, "Customer name", optional=True),
            text_input(
                Block.CUSTOMER_EMAIL, "Customer e-mail", optional=True, placeholder="name@example.com"
            ),
            text_input(Block.CUSTOMER_COMPANY, "Company", optional=True),
        ],
    }
