"""Golden tests of the macro views: the save form, `/support macro list` (hostile text escaped, Remove
only where allowed), the picker's options, the reply form filled from a macro, and the Save as macro
buttons on a sent reply's line and a rationale note."""

from __future__ import annotations

from bot.domain.macros import Macro, MacroDraft
from bot.domain.replies import ReplyChannelName, ReplyForm, ReplyNote, ReplyRoute, ReplyState
from bot.views.blocks import decode_state
from bot.views.macros import macro_options, render_macro_list, render_macro_modal, render_macro_saved_view
from bot.views.notes import render_triage_note
from bot.views.replies import render_reply_modal, render_reply_note
from tests.test_views import assert_golden, assert_valid_blocks

HOSTILE = Macro(7, "<!channel> *bold* & co", "Ping <!here>\nthen `rm -rf`", "billing", "U0AUTHOR01", 3)
PLAIN = Macro(8, "Export tips", "Use the CSV export for large files. " * 20, None, None, 0)


def test_macro_modal() -> None:
    view = render_macro_modal(
        MacroDraft(name="Invoices export times out", text="Split it.", product_area="reporting")
    )
    assert_valid_blocks(view["blocks"])
    assert_golden("macro_modal", view)
    saved = render_macro_saved_view(HOSTILE)
    assert_valid_blocks(saved["blocks"])
    assert "<!channel>" not in str(saved) and "&lt;!channel&gt;" in str(saved)


def test_macro_list_escapes_and_offers_remove_only_where_allowed() -> None:
    blocks, text = render_macro_list([HOSTILE, PLAIN], 45, removable={7})
    assert_valid_blocks(blocks)
    rendered = str(blocks)
    assert "<!channel>" not in rendered and "&lt;!channel&gt;" in rendered and "<!here>" not in rendered
    assert sum("accessory" in b for b in blocks) == 1
    assert "and 43 more" in rendered
    assert_golden("macro_list", {"text": text, "blocks": blocks})


def test_macro_options_are_bounded_plain_text() -> None:
    options = macro_options([HOSTILE, PLAIN])
    assert all(len(o["text"]["text"]) <= 75 and len(o["description"]["text"]) <= 75 for o in options)
    assert [o["value"] for o in options] == ["7", "8"]
    assert_golden("macro_options", options)


def test_reply_form_filled_from_a_macro_uses_a_fresh_text_block() -> None:
    form = ReplyForm(
        issue_id=42,
        customer="Acme (Dana Smith)",
        subject="Invoices export times out",
        route=ReplyRoute(ReplyChannelName.EMAIL),
        text="Split the export by month.",
        macro_id=7,
        revision=2,
    )
    view = render_reply_modal(form)
    assert_valid_blocks(view["blocks"])
    assert decode_state(view["private_metadata"]) == {"v": 1, "issue": 42, "copy": 0, "macro": 7, "rev": 2}
    assert [b.get("block_id") for b in view["blocks"] if b["type"] == "input"] == ["reply.text.2"]
    assert_golden("reply_modal_from_macro", view)


def test_save_as_macro_only_on_sent_replies() -> None:
    note = ReplyNote(7, "Acme (Dana Smith)", ReplyChannelName.EMAIL, "U0AGENT001", ReplyState.SENT, "Hi.")
    blocks, _ = render_reply_note(note)
    assert "macro.save" in str(blocks)
    for state in (ReplyState.QUEUED, ReplyState.FAILED):
        queued, _ = render_reply_note(ReplyNote(7, "Acme", ReplyChannelName.EMAIL, None, state, "Hi."))
        assert "macro.save" not in str(queued)
    assert_golden("reply_note_sent", blocks)


def test_rationale_note_has_save_as_macro() -> None:
    blocks, _ = render_triage_note("rationale", "U0PM000001", {"text": "Not for now.", "problem": 5})
    assert_valid_blocks(blocks)
    assert '"problem":5' in str(blocks)
    old, _ = render_triage_note("rationale", "U0PM000001", {"text": "Written before macros."})
    assert "macro.save" not in str(old)  # a note of an older version has no problem to save from
    assert_golden("rationale_note", blocks)
