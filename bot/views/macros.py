"""Macros as Slack shows them: the save form, `/support macro list`, the reply form's picker options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.macros import MACRO_AREA_MAX, MACRO_NAME_MAX, Macro, MacroDraft
from bot.domain.replies import REPLY_MAX_CHARS
from bot.ids import Action, Block, Callback
from bot.views.blocks import Blocks, button, context, encode_state, escape, plain, plural, section, truncate
from bot.views.report_modal import text_input

OPTION_TEXT_MAX = 75  # Slack's limit on an option's text
PREVIEW_MAX = 200

MACRO_USAGE = (
    "*Macros* — saved answers for replying to customers.\n"
    "• `/support macro add <name> | <text>` — save one (`/support macro add` alone opens a form)\n"
    "• `/support macro list` — the saved answers, most used first\n"
    "• `/support macro remove <name>` — remove one (yours, or any if you are an admin)\n"
    "In *Reply to customer*, pick a macro to fill the text; you can still edit it before sending."
)


def unknown_macro_subcommand(word: str) -> str:
    return f"I don't know `/support macro {escape(word)[:40]}`.\n\n{MACRO_USAGE}"


def render_macro_modal(draft: MacroDraft) -> dict[str, Any]:
    """Save a macro: its name, the text (as a customer gets it) and, optionally, its product area."""
    return {
        "type": "modal",
        "callback_id": Callback.MACRO_MODAL,
        "title": plain("Save as macro", 24),
        "submit": plain("Save", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(),
        "blocks": [
            text_input(Block.MACRO_NAME, "Name", initial=draft.name, max_length=MACRO_NAME_MAX),
            text_input(
                Block.MACRO_TEXT,
                "Text",
                initial=draft.text,
                multiline=True,
                max_length=REPLY_MAX_CHARS,
                placeholder="Plain text, as the customer will get it.",
            ),
            text_input(
                Block.MACRO_AREA,
                "Product area",
                initial=draft.product_area or "",
                optional=True,
                max_length=MACRO_AREA_MAX,
                hint="The reply form offers a report's own area's macros first.",
            ),
        ],
    }


def _preview(text: str) -> str:
    return escape(truncate(" ".join(text.split()), PREVIEW_MAX))


def render_macro_list(found: Sequence[Macro], total: int, removable: set[int]) -> tuple[Blocks, str]:
    """`/support macro list`: each macro with its uses; Remove only on those the person may remove."""
    if not found:
        text = "No macros yet. Save one with `/support macro add <name> | <text>` or *Save as macro*."
        return [section(text)], text
    text = f"{plural(total, 'macro')}, most used first"
    blocks: Blocks = [section(f"*{text}*")]
    for macro in found:
        area = f" · _{escape(truncate(macro.product_area, 60))}_" if macro.product_area else ""
        by = f" · by <@{macro.created_by}>" if macro.created_by else ""
        name = escape(truncate(macro.name, MACRO_NAME_MAX))
        block = section(
            f"*{name}* · used {plural(macro.uses, 'time')}{area}{by}\n{_preview(macro.text)}",
            verbatim=True,
        )
        if macro.id in removable:
            block["accessory"] = button(
                "Remove", Action.MACRO_REMOVE, encode_state(macro=macro.id), style="danger"
            )
        blocks.append(block)
    if total > len(found):
        blocks.append(context(f"and {total - len(found)} more: search them in the reply form"))
    return blocks, text


def macro_options(found: Sequence[Macro]) -> list[dict[str, Any]]:
    """The reply form's picker: plain text, as Slack shows it."""
    options = []
    for macro in found:
        area = f" · {macro.product_area}" if macro.product_area else ""
        label = truncate(f"{macro.name}{area} · {plural(macro.uses, 'use')}", OPTION_TEXT_MAX)
        options.append(
            {
                "text": plain(label, OPTION_TEXT_MAX, emoji=False),
                "description": plain(
                    truncate(" ".join(macro.text.split()), OPTION_TEXT_MAX), OPTION_TEXT_MAX, emoji=False
                ),
                "value": str(macro.id),
            }
        )
    return options


def macro_saved(macro: Macro) -> str:
    return f"Saved the macro *{escape(macro.name)}*: pick it in *Reply to customer*."


def macro_removed(macro: Macro) -> str:
    return f"Removed the macro *{escape(macro.name)}*."


def render_macro_saved_view(macro: Macro) -> dict[str, Any]:
    """What the save form turns into once saved."""
    return {
        "type": "modal",
        "title": plain("Macro saved", 24),
        "close": plain("Done", 24),
        "blocks": [section(f":white_check_mark: {macro_saved(macro)}")],
    }
