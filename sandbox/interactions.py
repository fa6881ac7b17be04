"""Slack's side of a click: the payload Slack would build for it, and what Slack does with the answer.

The page says what was used and where (a control on a message, an ephemeral message, a modal or the
Home tab); these functions build the interaction payload Slack documents for that surface
(https://docs.slack.dev/reference/interaction-payloads), send it signed, and apply the answer as
Slack's client would: a view submission's `response_action` (errors, update, push, clear; an empty
ack closes the view), a slash command's answer shown only to whoever typed it.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from sandbox.signed import Answer, SignedSender
from sandbox.workspace import SandboxSlack

log = logging.getLogger(__name__)

SurfaceKind = Literal["message", "ephemeral", "modal", "home"]
# The commands of manifest.yml: anything else is answered the way Slack answers an unknown command.
SLASH_COMMANDS = ("/support", "/shadow", "/release")
_ACTION_FIELDS = (
    "value",
    "selected_option",
    "selected_options",
    "selected_date",
    "selected_time",
    "selected_conversation",
    "selected_conversations",
    "selected_channel",
    "selected_channels",
    "selected_user",
    "selected_users",
)


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object from the page, or an empty one (the page is not trusted to send the right shape)."""
    return value if isinstance(value, dict) else {}


class InteractionRefused(Exception):
    """The page asked for something Slack could not have sent (an unknown message or view)."""


@dataclass
class Surface:
    kind: SurfaceKind
    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # a view's state.values, as the page has it

    @classmethod
    def parse(cls, raw: Any) -> Surface:
        if not isinstance(raw, dict) or raw.get("kind") not in ("message", "ephemeral", "modal", "home"):
            raise InteractionRefused("surface must say where the control is")
        return cls(
            raw["kind"], raw.get("channel"), raw.get("ts"), raw.get("view_id"), as_object(raw.get("values"))
        )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int
    errors: dict[str, str] = field(default_factory=dict)
    options: list[Any] | None = None
    option_groups: list[Any] | None = None
    detail: str = ""


def _user(slack: SandboxSlack, user: str) -> dict[str, Any]:
    record = slack.users.get(user)
    if record is None:
        raise InteractionRefused(f"no such person {user!r}")
    return {"id": user, "username": record["name"], "name": record["name"], "team_id": slack.team_id}


def _view_with_state(slack: SandboxSlack, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
    try:
        view = copy.deepcopy(slack.view(view_id))
    except KeyError:
        raise InteractionRefused(f"no such view {view_id!r}") from None
    view["state"] = {"values": values}
    return view


def _where(slack: SandboxSlack, surface: Surface, user: str) -> dict[str, Any]:
    """The container, channel, message or view fields of a payload from this surface."""
    if surface.kind in ("modal", "home"):
        if surface.kind == "home":
            home = slack.home_views.get(user)
            if home is None or home["id"] != surface.view_id:
                raise InteractionRefused("that Home tab is not the one published for this person")
        view = _view_with_state(slack, str(surface.view_id), surface.values)
        return {"container": {"type": "view", "view_id": view["id"]}, "view": view}
    if not surface.channel or not surface.ts:
        raise InteractionRefused("a message control needs its channel and ts")
    channel = slack.channels.get(surface.channel)
    if channel is None:
        raise InteractionRefused(f"no such channel {surface.channel!r}")
    # A response URL served by the fake Slack (the bot answers only its own Slack's): it rewrites the
    # ephemeral message clicked, as Slack's hooks.slack.com/actions/… does.
    where: dict[str, Any] = {
        "channel": {"id": channel.id, "name": channel.name},
        "response_url": slack.response_url(
            channel.id, user, surface.ts if surface.kind == "ephemeral" else None
        ),
    }
    if surface.kind == "ephemeral":
        if not any(e["ts"] == surface.ts and e["recipient"] == user for e in channel.ephemerals):
            raise InteractionRefused("no such ephemeral message for this person")
        where["container"] = {
            "type": "message",
            "message_ts": surface.ts,
            "channel_id": channel.id,
            "is_ephemeral": True,
        }
        return where
    try:
        message = copy.deepcopy(slack.message(channel.id, surface.ts))
    except KeyError:
        raise InteractionRefused(f"no message {surface.ts} in {channel.id}") from None
    message.pop("channel", None)
    where["container"] = {
        "type": "message",
        "message_ts": surface.ts,
        "channel_id": channel.id,
        "is_ephemeral": False,
    }
    where["message"] = message
    if surface.values:
        where["state"] = {"values": surface.values}
    return where


def _failed(answer: Answer, what: str) -> Outcome:
    detail = answer.body if isinstance(answer.body, str) else str(answer.json.get("error") or "")
    log.warning("bot refused a sandbox interaction", extra={"what": what, "status": answer.status})
    return Outcome(False, answer.status, detail=f"{what}: HTTP {answer.status} {detail}".strip())


async def block_action(
    slack: SandboxSlack, sender: SignedSender, user: str, surface: Surface, action: dict[str, Any]
) -> Outcome:
    if not isinstance(action.get("action_id"), str):
        raise InteractionRefused("an action needs its action_id")
    sent: dict[str, Any] = {
        "action_id": action["action_id"],
        # Slack gives every block an id; a block posted without one gets a made-up one.
        "block_id": action.get("block_id") or "sbx0",
        "type": str(action.get("type") or "button"),
        "action_ts": f"{time.time():.6f}",
    }
    for key in _ACTION_FIELDS:
        if key in action:
            sent[key] = action[key]
    if isinstance(action.get("text"), dict):
        sent["text"] = action["text"]
    payload = {
        "type": "block_actions",
        "user": _user(slack, user),
        "trigger_id": slack.trigger_for(user),
        "actions": [sent],
        **_where(slack, surface, user),
    }
    answer = await sender.interaction(payload)
    return Outcome(True, answer.status) if answer.status == 200 else _failed(answer, "block_actions")


async def suggestion(
    slack: SandboxSlack, sender: SignedSender, user: str, surface: Surface, request: dict[str, Any]
) -> Outcome:
    """What an external select asks as the person types (block_suggestion)."""
    payload = {
        "type": "block_suggestion",
        "user": _user(slack, user),
        "action_id": str(request.get("action_id") or ""),
        "block_id": str(request.get("block_id") or "sbx0"),
        "value": str(request.get("value") or ""),
        **_where(slack, surface, user),
    }
    payload.pop("response_url", None)
    answer = await sender.interaction(payload)
    if answer.status != 200:
        return _failed(answer, "block_suggestion")
    return Outcome(
        True, 200, options=answer.json.get("options"), option_groups=answer.json.get("option_groups")
    )


async def submit_view(
    slack: SandboxSlack, sender: SignedSender, user: str, view_id: str, values: dict[str, Any]
) -> Outcome:
    stack = slack.modal_stacks.get(user, [])
    if view_id not in stack:
        raise InteractionRefused("that modal is not open for this person")
    payload = {
        "type": "view_submission",
        "user": _user(slack, user),
        "trigger_id": slack.trigger_for(user),
        "view": _view_with_state(slack, view_id, values),
        "response_urls": [],
    }
    answer = await sender.interaction(payload)
    if answer.status != 200:
        return _failed(answer, "view_submission")
    response = answer.json
    action = response.get("response_action")
    if action == "errors":
        errors = as_object(response.get("errors"))
        return Outcome(False, 200, errors={str(k): str(v) for k, v in errors.items()})
    if action == "update" and isinstance(response.get("view"), dict):
        slack.replace_top_view(user, response["view"])
    elif action == "push" and isinstance(response.get("view"), dict):
        slack.push_view(user, response["view"])
    else:
        slack.close_views(user, everything=action == "clear")
    return Outcome(True, 200)


async def close_view(slack: SandboxSlack, sender: SignedSender, user: str, view_id: str) -> Outcome:
    """The ✕ of a modal: Slack closes the whole stack and tells the app only if it asked to know."""
    view = slack.view(view_id) if view_id in slack.modal_stacks.get(user, []) else None
    slack.close_views(user, everything=True)
    if view is None or not view.get("notify_on_close"):
        return Outcome(True, 200)
    payload = {"type": "view_closed", "user": _user(slack, user), "view": view, "is_cleared": True}
    answer = await sender.interaction(payload)
    return Outcome(answer.status == 200, answer.status)


async def slash_command(
    slack: SandboxSlack, sender: SignedSender, user: str, channel: str, line: str
) -> Outcome:
    command, _, text = line.strip().partition(" ")
    if command not in SLASH_COMMANDS:
        slack.command_answer(
            channel,
            user,
            {"text": f"{command} is not a command of this app. Try {', '.join(SLASH_COMMANDS)}."},
        )
        return Outcome(False, 404, detail=f"unknown command {command}")
    record = slack.users[user]
    answer = await sender.slash_command(
        command,
        text.strip(),
        user=user,
        user_name=record["name"],
        channel=channel,
        channel_name=slack.channels[channel].name,
        trigger=slack.trigger_for(user),
    )
    if answer.status != 200:
        slack.command_answer(
            channel,
            user,
            {"text": f'{command} failed with the error "dispatch_failed" (HTTP {answer.status})'},
        )
        return _failed(answer, command)
    if isinstance(answer.body, dict) and (answer.body.get("text") or answer.body.get("blocks")):
        slack.command_answer(channel, user, answer.body)
    elif isinstance(answer.body, str) and answer.body.strip():
        slack.command_answer(channel, user, {"text": answer.body})
    return Outcome(True, 200)


async def message_shortcut(
    slack: SandboxSlack, sender: SignedSender, user: str, channel: str, ts: str, callback_id: str
) -> Outcome:
    surface = Surface("message", channel, ts)
    where = _where(slack, surface, user)
    payload = {
        "type": "message_action",
        "callback_id": callback_id,
        "user": _user(slack, user),
        "trigger_id": slack.trigger_for(user),
        "action_ts": f"{time.time():.6f}",
        "message_ts": ts,
        "channel": where["channel"],
        "message": where["message"],
        "response_url": where["response_url"],
    }
    answer = await sender.interaction(payload)
    return Outcome(True, 200) if answer.status == 200 else _failed(answer, "message_action")


async def react(
    slack: SandboxSlack, sender: SignedSender, user: str, channel: str, ts: str, reaction: str
) -> Outcome:
    message = slack.message(channel, ts)
    slack.add_reaction(channel, ts, user, reaction)
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": message.get("user"),
        "event_ts": f"{time.time():.6f}",
    }
    answer = await sender.event(event, bot_user_id=slack.bot_user_id)
    return Outcome(True, 200) if answer.status == 200 else _failed(answer, "reaction_added")


async def message_posted(
    slack: SandboxSlack, sender: SignedSender, user: str, channel: str, text: str, thread_ts: str | None
) -> tuple[str, Outcome]:
    """Someone writes in a channel (or a thread): posted in the fake workspace, and Slack's `message`
    event (the app subscribes to message.channels and message.groups) sent to the bot."""
    ts = slack.post_as(channel, user, text, thread_ts)
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "group" if slack.channels[channel].is_private else "channel",
        "team": slack.team_id,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    answer = await sender.event(event, bot_user_id=slack.bot_user_id)
    return ts, (Outcome(True, 200) if answer.status == 200 else _failed(answer, "message"))


async def home_opened(slack: SandboxSlack, sender: SignedSender, user: str) -> Outcome:
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": slack.dm_channel(user),
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if user in slack.home_views:
        event["view"] = copy.deepcopy(slack.home_views[user])
    answer = await sender.event(event, bot_user_id=slack.bot_user_id)
    return Outcome(True, 200) if answer.status == 200 else _failed(answer, "app_home_opened")
