"""Slack payloads read into typed values: what a listener gets, and one error type for what is missing."""

from __future__ import annotations

import pytest

from bot.ids import INPUT, Action, Block
from bot.views.blocks import encode_state
from handlers.payload import Action as Click
from handlers.payload import Command, HomeOpened, PayloadError, Reaction, View


def test_a_click_names_who_where_and_the_state_it_carries() -> None:
    body = {
        "user": {"id": "U0AGENT01"},
        "container": {"channel_id": "C0SUPPORT1"},
        "trigger_id": "1.2.abc",
        "actions": [{"action_id": Action.CLAIM, "value": encode_state(issue=42)}],
    }
    click = Click.from_body(body)
    assert (click.user_id, click.channel_id, click.trigger_id) == ("U0AGENT01", "C0SUPPORT1", "1.2.abc")
    assert click.state_int("issue") == 42 and click.state_int("problem") is None
    # A select has no value: its ids are in the block id.
    select = Click.from_body(
        {
            "user": {"id": "U0AGENT01"},
            "channel": {"id": "C0SUPPORT2"},
            "actions": [
                {
                    "action_id": Action.SET_SEVERITY,
                    "block_id": encode_state(issue=7),
                    "selected_option": {"value": "high"},
                }
            ],
        }
    )
    assert (select.channel_id, select.selected, select.state_int("issue")) == ("C0SUPPORT2", "high", 7)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user": {"id": "U0AGENT01"}, "actions": []},
        {"actions": [{"action_id": Action.CLAIM}]},
        {"user": {"id": "U0AGENT01"}, "actions": [{"value": "x"}]},
    ],
)
def test_a_click_without_what_a_listener_needs_is_one_clear_error(body: dict[str, object]) -> None:
    with pytest.raises(PayloadError):
        Click.from_body(body)


def test_a_click_without_a_trigger_cannot_open_a_modal() -> None:
    click = Click.from_body({"user": {"id": "U0AGENT01"}, "actions": [{"action_id": Action.ESCALATE_MORE}]})
    assert click.channel_id is None  # a click on the App Home has no channel
    with pytest.raises(PayloadError, match="trigger_id"):
        click.require_trigger()


def test_a_command_and_its_words() -> None:
    command = Command.from_body({"command": "/shadow", "user_id": "U0AGENT01", "text": " join  12 "})
    assert command.words == ["join", "12"] and command.channel_id is None
    with pytest.raises(PayloadError):
        Command.from_body({"command": "/shadow", "text": "list"})


def test_a_modal_s_answers_by_block() -> None:
    view = View.from_body(
        {
            "user": {"id": "U0AGENT01"},
            "view": {
                "id": "V0001",
                "private_metadata": encode_state(issue=3),
                "state": {
                    "values": {
                        Block.ESCALATE_SUMMARY: {INPUT: {"type": "plain_text_input", "value": "  Export  "}},
                        Block.ESCALATE_PRIORITY: {INPUT: {"type": "static_select", "selected_option": None}},
                        Block.REPORT_TAGS: {INPUT: {"selected_options": [{"value": "a"}, {"value": "b"}]}},
                    }
                },
            },
        }
    )
    assert (view.user_id, view.view_id, view.metadata_int("issue")) == ("U0AGENT01", "V0001", 3)
    assert view.input(Block.ESCALATE_SUMMARY).answer == "  Export  "
    assert view.input(Block.ESCALATE_SUMMARY).stripped == "Export"
    priority = view.input(Block.ESCALATE_PRIORITY)
    assert priority.is_select and priority.answer is None
    assert view.input(Block.REPORT_TAGS).selected_all == ("a", "b")
    assert view.input("missing block") == view.input("another missing block")  # empty, not a KeyError
    with pytest.raises(PayloadError):
        View.from_body({"user": {"id": "U0AGENT01"}})


def test_events() -> None:
    reaction = Reaction.from_body(
        {
            "event_id": "Ev1",
            "event": {
                "reaction": "ticket",
                "user": "U0AGENT01",
                "item": {"type": "message", "channel": "C0SUPPORT1", "ts": "1.2"},
            },
        }
    )
    assert reaction.message == ("C0SUPPORT1", "1.2", "U0AGENT01") and reaction.event_id == "Ev1"
    with pytest.raises(PayloadError):
        _ = Reaction.from_body({"event": {"item": {"type": "message"}}}).message
    assert HomeOpened.from_body({"event": {"user": "U0AGENT01"}}) == HomeOpened("U0AGENT01", None)
