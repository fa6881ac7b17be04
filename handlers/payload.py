"""Slack payloads as typed values: the one place that knows where Slack puts the user, the channel, the
trigger, the clicked element and a modal's answers.

Each listener builds one of these from Bolt's `body` (`Action.from_body(body)`, …) and reads fields
instead of indexing dicts. A field the listener cannot do without that is missing raises
`PayloadError`, which reaches the app's one error handler (logged with the payload type) instead of
a `KeyError` deep in a listener. Fields Slack leaves out in some places (the channel of a click on the
App Home, the trigger of an event) are `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.numbers import MAX_INT
from bot.ids import INPUT
from bot.views.blocks import decode_state


class PayloadError(ValueError):
    """A Slack payload without a field its listener needs, or with one of the wrong type."""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _required(value: str | None, name: str) -> str:
    if value is None:
        raise PayloadError(f"the Slack payload has no {name}")
    return value


def _user_of(body: Mapping[str, Any]) -> str | None:
    """`user.id` in interactive payloads, `user_id` in slash commands."""
    return _text(_mapping(body.get("user")).get("id")) or _text(body.get("user_id"))


def _blocks(value: Any) -> tuple[dict[str, Any], ...]:
    """A message's blocks, as far as they are objects; at most Slack's 50."""
    if not isinstance(value, list) or len(value) > 50:
        return ()
    return tuple(dict(b) for b in value if isinstance(b, Mapping))


def _option_values(options: Any) -> tuple[str, ...]:
    if not isinstance(options, list):
        return ()
    return tuple(
        str(option["value"]) for option in options if isinstance(option, Mapping) and "value" in option
    )


@dataclass(frozen=True)
class Input:
    """One input element of a modal's state (`view.state.values[block][action]`)."""

    value: str | None = None  # text inputs, as typed
    is_select: bool = False  # a single select: `selected` is its answer (None when nothing is picked)
    selected: str | None = None
    is_multi_select: bool = False  # a multi select: `selected_all` are its answers
    selected_all: tuple[str, ...] = ()
    date: str | None = None
    time: str | None = None
    conversations: tuple[str, ...] = ()

    @classmethod
    def from_state(cls, element: Any) -> Input:
        element = _mapping(element)
        value = element.get("value")
        conversations = element.get("selected_conversations")
        return cls(
            value=value if isinstance(value, str) else None,
            is_select="selected_option" in element,
            selected=_text(_mapping(element.get("selected_option")).get("value")),
            is_multi_select="selected_options" in element,
            selected_all=_option_values(element.get("selected_options")),
            date=_text(element.get("selected_date")),
            time=_text(element.get("selected_time")),
            conversations=tuple(c for c in conversations if isinstance(c, str))
            if isinstance(conversations, list)
            else (),
        )

    @property
    def stripped(self) -> str | None:
        """The text typed, without surrounding spaces; None when empty."""
        return self.value.strip() if self.value and self.value.strip() else None

    @property
    def answer(self) -> str | None:
        """A select's chosen value, or else the text typed (as typed)."""
        return self.selected if self.is_select else self.value


@dataclass(frozen=True)
class Action:
    """A click on a button, a select or an overflow (`block_actions`)."""

    action_id: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    value: str | None
    block_id: str | None
    selected: str | None  # the chosen option of a select or overflow
    selected_all: tuple[str, ...]  # the chosen options of a multi select
    response_url: str | None = None  # where to answer, or rewrite the message clicked (30 min, 5 uses)
    # The posted message clicked, as Slack sends it (not for ephemeral messages): its ts and blocks.
    message_ts: str | None = None
    message_blocks: tuple[dict[str, Any], ...] = ()
    message_text: str = ""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Action:
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
            raise PayloadError("the Slack payload has no action")
        action = actions[0]
        channel = _text(_mapping(body.get("channel")).get("id")) or _text(
            _mapping(body.get("container")).get("channel_id")
        )
        return cls(
            action_id=_required(_text(action.get("action_id")), "action_id"),
            user_id=_required(_user_of(body), "user"),
            channel_id=channel,
            trigger_id=_text(body.get("trigger_id")),
            value=_text(action.get("value")),
            block_id=_text(action.get("block_id")),
            selected=_text(_mapping(action.get("selected_option")).get("value")),
            selected_all=_option_values(action.get("selected_options")),
            response_url=_text(body.get("response_url")),
            message_ts=_text(_mapping(body.get("message")).get("ts")),
            message_blocks=_blocks(_mapping(body.get("message")).get("blocks")),
            message_text=(_text(_mapping(body.get("message")).get("text")) or "")[:3000],
        )

    @property
    def state(self) -> dict[str, Any]:
        """Buttons carry ids in their value; selects and overflows in their block id (they have no value)."""
        for raw in (self.value, self.block_id):
            state = decode_state(raw)
            if state:
                return state
        return {}

    def state_int(self, name: str) -> int | None:
        found = self.state.get(name)
        return _stored_int(found)

    def state_str(self, name: str) -> str | None:
        found = self.state.get(name)
        return found if isinstance(found, str) and found else None

    def require_trigger(self) -> str:
        return _required(self.trigger_id, "trigger_id")


@dataclass(frozen=True)
class Command:
    """A slash command."""

    command: str
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    text: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Command:
        return cls(
            command=str(body.get("command") or ""),
            user_id=_required(_user_of(body), "user_id"),
            channel_id=_text(body.get("channel_id")),
            trigger_id=_text(body.get("trigger_id")),
            text=str(body.get("text") or ""),
        )

    @property
    def words(self) -> list[str]:
        return self.text.split()

    def require_trigger(self) -> str:
        return _required(self.trigger_id, "trigger_id")


@dataclass(frozen=True)
class View:
    """A modal's submission (`view_submission`): who submitted it, its id, its metadata and its inputs."""

    user_id: str
    view_id: str | None
    metadata: dict[str, Any]
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> View:
        view = body.get("view")
        if not isinstance(view, Mapping):
            raise PayloadError("the Slack payload has no view")
        return cls.of(view, user_id=_required(_user_of(body), "user"))

    @classmethod
    def of(cls, view: Mapping[str, Any], *, user_id: str) -> View:
        values = _mapping(_mapping(view.get("state")).get("values"))
        return cls(
            user_id=user_id,
            view_id=_text(view.get("id")),
            metadata=decode_state(view.get("private_metadata")),
            values={str(block): _mapping(elements) for block, elements in values.items()},
        )

    def input(self, block: str, action: str = INPUT) -> Input:
        return Input.from_state(_mapping(self.values.get(block)).get(action))

    def metadata_int(self, name: str) -> int | None:
        found = self.metadata.get(name)
        return _stored_int(found)


QUERY_MAX = 200  # what is typed in a select; more is not a search anyone makes


@dataclass(frozen=True)
class OpenView:
    """The modal a `block_actions` came from: its id and hash (to update it) and its metadata."""

    view_id: str
    view_hash: str | None
    metadata: dict[str, Any]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> OpenView:
        view = body.get("view")
        if not isinstance(view, Mapping):
            raise PayloadError("the Slack payload has no view")
        return cls(
            view_id=_required(_text(view.get("id")), "view.id"),
            view_hash=_text(view.get("hash")),
            metadata=decode_state(view.get("private_metadata")),
        )

    def metadata_int(self, name: str) -> int | None:
        return _stored_int(self.metadata.get(name))


@dataclass(frozen=True)
class OptionsRequest:
    """An external select asking for options (`block_suggestion`): what is typed, and its block's state."""

    query: str
    block_id: str | None
    # In a modal: the modal as it stands (what is chosen so far, its private_metadata).
    view: View | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> OptionsRequest:
        view = body.get("view")
        user = _user_of(body) or ""
        return cls(
            query=str(body.get("value") or "").strip()[:QUERY_MAX],
            block_id=_text(body.get("block_id")),
            view=View.of(view, user_id=user) if isinstance(view, Mapping) else None,
        )

    def state_int(self, name: str) -> int | None:
        found = decode_state(self.block_id).get(name)
        return _stored_int(found)


@dataclass(frozen=True)
class MessageShortcut:
    """A message shortcut: who ran it, on which message, and the trigger to open a modal with."""

    user_id: str
    trigger_id: str
    channel_id: str | None
    message_text: str
    message_ts: str | None
    message_user: str | None
    # The installing workspace, and the author's (Slack Connect: another workspace's member).
    team_id: str | None = None
    message_team: str | None = None

    @property
    def from_another_workspace(self) -> bool:
        """A Slack Connect author: a customer, where a member of our own workspace never is."""
        return bool(self.message_team and self.team_id and self.message_team != self.team_id)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MessageShortcut:
        message = _mapping(body.get("message"))
        return cls(
            team_id=_text(_mapping(body.get("team")).get("id")),
            message_team=_text(message.get("user_team")) or _text(message.get("team")),
            user_id=_required(_user_of(body), "user"),
            trigger_id=_required(_text(body.get("trigger_id")), "trigger_id"),
            channel_id=_text(_mapping(body.get("channel")).get("id")),
            message_text=str(message.get("text") or ""),
            message_ts=_text(message.get("ts")),
            message_user=_text(message.get("user")),
        )


@dataclass(frozen=True)
class Reaction:
    """`reaction_added`: the Events API envelope's id and the reacted-to item."""

    event_id: str | None
    reaction: str | None
    item_type: str | None
    channel_id: str | None
    ts: str | None
    user_id: str | None
    team_id: str | None = None  # the installing workspace (the Events API envelope's `team_id`)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Reaction:
        event = _mapping(body.get("event"))
        item = _mapping(event.get("item"))
        return cls(
            team_id=_text(body.get("team_id")),
            event_id=_text(body.get("event_id")),
            reaction=_text(event.get("reaction")),
            item_type=_text(item.get("type")),
            channel_id=_text(item.get("channel")),
            ts=_text(item.get("ts")),
            user_id=_text(event.get("user")),
        )

    @property
    def message(self) -> tuple[str, str, str]:
        """The reacted-to message's channel and ts, and who reacted."""
        return (
            _required(self.channel_id, "item.channel"),
            _required(self.ts, "item.ts"),
            _required(self.user_id, "event.user"),
        )


# Message subtypes written by a person: a reply also sent to the channel, a reply with a file.
# Everything else (bot_message, channel_join, message_changed, message_deleted, …) is not a reply.
HUMAN_MESSAGE_SUBTYPES = frozenset({"thread_broadcast", "file_share"})


@dataclass(frozen=True)
class ChannelMessage:
    """`message` in a channel: who wrote what where, and the thread it belongs to (if any)."""

    channel_id: str | None
    ts: str | None
    thread_ts: str | None
    user_id: str | None
    subtype: str | None
    bot_id: str | None
    user_team: str | None  # the author's workspace (another one in a Slack Connect channel)
    team_id: str | None  # the installing workspace (the Events API envelope's `team_id`)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ChannelMessage:
        event = _mapping(body.get("event"))
        return cls(
            channel_id=_text(event.get("channel")),
            ts=_text(event.get("ts")),
            thread_ts=_text(event.get("thread_ts")),
            user_id=_text(event.get("user")),
            subtype=_text(event.get("subtype")),
            bot_id=_text(event.get("bot_id")) or _text(_mapping(event.get("bot_profile")).get("id")),
            user_team=_text(event.get("user_team")),
            team_id=_text(body.get("team_id")),
        )

    @property
    def moment(self) -> datetime | None:
        """When it was written: its `ts` is the Unix time in seconds with a sequence after the dot."""
        try:
            return datetime.fromtimestamp(float(self.ts or ""), UTC)
        except (ValueError, OverflowError, OSError):
            return None

    def is_thread_reply_by_a_colleague(self, bot_user_id: str | None) -> bool:
        """Written by a person of our own workspace (not a bot, not the bot, not a join or an edit),
        in a thread, not the thread's first message."""
        return (
            self.channel_id is not None
            and self.user_id is not None
            and self.thread_ts is not None
            and self.ts is not None
            and self.ts != self.thread_ts
            and self.moment is not None
            and self.bot_id is None
            and (self.subtype is None or self.subtype in HUMAN_MESSAGE_SUBTYPES)
            and self.user_id != bot_user_id
            and (self.user_team is None or self.team_id is None or self.user_team == self.team_id)
        )


@dataclass(frozen=True)
class HomeOpened:
    """`app_home_opened`: who opened which tab (older payloads name no tab)."""

    user_id: str | None
    tab: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> HomeOpened:
        event = _mapping(body.get("event"))
        tab = event.get("tab")
        return cls(user_id=_text(event.get("user")), tab=tab if isinstance(tab, str) else None)


def _stored_int(value: object) -> int | None:
    """An id read back from our own state: an int within the database's range (a forged payload
    may carry any JSON number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_INT else None
