"""The sandbox's Slack workspace: the tests' stateful FakeSlack, plus what a person at a browser needs.

The fake already answers the Web API like Slack does; the sandbox adds three things it has no use for
in tests: a revision counter that changes whenever the workspace does (the page listens for it), the
modal stack of each person (a view belongs to whoever's click carried its trigger_id), and a workspace
seeded from the configuration in use, with fixed channel, user and user-group ids so the configuration
can name them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.config import AppConfig
from sandbox.fakes.slack_api import Channel, FakeSlack

log = logging.getLogger(__name__)

# Web API methods that only read: they change nothing the page shows.
_READ_ONLY_METHODS = frozenset(
    {
        "auth.test",
        "chat.getPermalink",
        "conversations.history",
        "conversations.replies",
        "conversations.info",
        "users.info",
        "usergroups.users.list",
    }
)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    real_name: str
    title: str


YOU = Person("U0SBXYOU001", "you", "You", "at the keyboard")
CAST: tuple[Person, ...] = (
    YOU,
    Person("U0SBXMAYA01", "maya.support", "Maya Okafor", "Support lead"),
    Person("U0SBXSAM001", "sam.support", "Sam Lindqvist", "Support agent"),
    Person("U0SBXOMAR01", "omar.pm", "Omar Haddad", "Product manager"),
    Person("U0SBXLENA01", "lena.eng", "Lena Fischer", "Engineer"),
    Person("U0SBXRAJ001", "raj.eng", "Raj Patel", "Engineer"),
    Person("U0SBXCHLOE1", "chloe.cto", "Chloé Martin", "CTO"),
)
SUPPORT_PEOPLE = ("U0SBXMAYA01", "U0SBXSAM001")
PRODUCT_PEOPLE = ("U0SBXYOU001", "U0SBXOMAR01", "U0SBXLENA01", "U0SBXRAJ001", "U0SBXCHLOE1")

# Names of the channels and user groups of sandbox/workspace.yml; any other id gets a name from its role.
KNOWN_CHANNELS = {
    "C0SBX000001": "customer-issues",
    "C0SBX000002": "urgent-issues",
    "C0SBX000003": "billing-issues",
    "C0SBX000004": "product-digest",
    "C0SBX000005": "support-alerts",
    "C0SBX000006": "releases",
    "C0SBX000007": "support-shadowing",
}
KNOWN_GROUPS = {
    "S0SBXHOSTS": ("support-hosts", SUPPORT_PEOPLE),
    "S0SBXONDUTY": ("support-on-duty", ("U0SBXMAYA01",)),
    "S0SBXPRODUCT": ("product", PRODUCT_PEOPLE),
    "S0SBXLEADS": ("support-leads", ("U0SBXYOU001", "U0SBXMAYA01")),
}


class SandboxSlack(FakeSlack):
    """FakeSlack with change notification and per-person modal stacks (see module docstring)."""

    def __init__(self, token: str, *, check_contract: bool) -> None:
        # Message timestamps start now, so the page shows real times (the tests' fake starts in 2023).
        super().__init__(
            token, team_name="Supportbridge Sandbox", bot_name="supportbridge", start_ts=int(time.time())
        )
        self.check_contract = check_contract
        self.revision = 0
        self.group_names: dict[str, str] = {}
        self.modal_stacks: dict[str, list[str]] = {}  # user id -> view ids, bottom first
        self._trigger_users: dict[str, str] = {}
        self._listeners: set[asyncio.Queue[int]] = set()
        self._reported_violations = 0

    # -- contracts: checked when the SUPPORTBRIDGE_CONTRACTS folder is there, as in the tests

    async def _load_contract(self) -> None:
        if self.check_contract:
            await super()._load_contract()

    # -- change notification

    def subscribe(self) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[int]) -> None:
        self._listeners.discard(queue)

    def touch(self) -> None:
        """Something the page shows changed: tell every open page (each then reloads its state)."""
        self.revision += 1
        for queue in self._listeners:
            if queue.empty():  # a page that has not caught up will read the newest state anyway
                queue.put_nowait(self.revision)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        method = request.match_info["method"]
        if len(self.violations) > self._reported_violations:
            # A contract violation is a bug in the bot: say so where a developer is looking.
            for violation in self.violations[self._reported_violations :]:
                log.warning("Slack contract violation", extra={"violation": violation[:500]})
            self._reported_violations = len(self.violations)
        if method not in _READ_ONLY_METHODS:
            self.touch()
        return response

    async def _response_url(self, request: web.Request) -> web.StreamResponse:
        response = await super()._response_url(request)
        self.touch()  # an ephemeral message may have been rewritten in place
        return response

    # -- who a view belongs to

    def trigger_for(self, user: str) -> str:
        """A fresh trigger_id for an interaction by `user`; a view it opens goes on their stack."""
        trigger = self.new_trigger_id()
        self._trigger_users[trigger] = user
        return trigger

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        result = super()._views_open(args)
        user = self._trigger_users.get(str(args.get("trigger_id", "")))
        if user is not None:
            self.modal_stacks[user] = [result["view"]["id"]]
        return result

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        result = super()._views_push(args)
        user = self._trigger_users.get(str(args.get("trigger_id", "")))
        if user is not None:
            self.modal_stacks.setdefault(user, []).append(result["view"]["id"])
        return result

    def modal_stack(self, user: str) -> list[dict[str, Any]]:
        return [self.view(view_id) for view_id in self.modal_stacks.get(user, [])]

    def replace_top_view(self, user: str, payload: dict[str, Any]) -> None:
        """`response_action: update` from a view submission: the open view becomes `payload`."""
        stack = self.modal_stacks.get(user)
        if not stack:
            return
        current = self.view(stack[-1])
        self._views[current["id"]] = self._render_view(
            current["id"],
            payload,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        self.touch()

    def push_view(self, user: str, payload: dict[str, Any]) -> None:
        """`response_action: push` from a view submission."""
        view = self._new_view(payload)
        self.modal_stacks.setdefault(user, []).append(view["id"])
        self.touch()

    def close_views(self, user: str, *, everything: bool) -> None:
        """An empty ack closes the view submitted; `response_action: clear` (or the ✕) closes them all."""
        stack = self.modal_stacks.get(user, [])
        if everything:
            stack.clear()
        elif stack:
            stack.pop()
        self.touch()

    # -- what people do in the workspace

    def post_as(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> str:
        ts = self.post_message_in(channel, text, user, thread_ts)
        self.touch()
        return ts

    def add_reaction(self, channel: str, ts: str, user: str, name: str) -> None:
        message = self.message(channel, ts)
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if user not in reaction["users"]:
            reaction["users"].append(user)
            reaction["count"] += 1
        self.touch()

    def command_answer(self, channel: str, user: str, answer: dict[str, Any]) -> None:
        """A slash command's synchronous answer: Slack shows it to whoever typed the command only."""
        ch = self._channel(channel)
        ephemeral = {
            "type": "message",
            "subtype": "ephemeral",
            "ts": self.next_ts(),
            "channel": ch.id,
            "recipient": user,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": str(answer.get("text") or ""),
        }
        if isinstance(answer.get("blocks"), list):
            ephemeral["blocks"] = answer["blocks"]
        ch.ephemerals.append(ephemeral)
        self.touch()

    def dm_channel(self, user: str) -> str:
        return self._im_with(user).id

    # -- seeding with fixed ids (the configuration names them)

    def add_named_channel(self, channel_id: str, name: str, *, members: Iterable[str] = ()) -> None:
        if channel_id in self.channels:
            return
        is_private = channel_id.startswith("G")
        self.channels[channel_id] = Channel(
            id=channel_id, name=name, is_private=is_private, members=set(members)
        )

    def add_person(self, person: Person) -> None:
        if person.user_id in self.users:
            return
        generated = self.add_user(person.name, real_name=person.real_name, email=f"{person.name}@example.com")
        record = self.users.pop(generated)
        record["id"] = person.user_id
        record["profile"]["title"] = person.title
        self.users[person.user_id] = record

    def add_named_group(self, group_id: str, name: str, members: Iterable[str]) -> None:
        self.usergroups[group_id] = list(members)
        self.group_names[group_id] = name


def _channel_roles(config: AppConfig) -> list[tuple[str, str]]:
    """(channel id, a name saying what it is for), for every channel the configuration names."""
    roles: list[tuple[str, str]] = [(config.channels.default, "customer-issues")]
    for role, value in (
        ("product-digest", config.channels.digest),
        ("support-alerts", config.channels.alerts),
        ("releases", config.channels.releases),
    ):
        if value:
            roles.append((value, role))
    for route in config.routes:
        match = route.match
        words = [
            *(match.severity or []),
            *(match.product_area or []),
            *(match.tag or []),
            *(match.source or []),
        ]
        roles.append((route.channel, f"{words[0] if words else 'routed'}-issues"))
    for programme in config.shadowing.programmes:
        roles.append((programme.channel, f"shadowing-{programme.id}"))
    for channel in config.slack_intake.monitored_channels:
        roles.append((channel, "support"))
    return roles


def _named_ids(config: AppConfig) -> set[str]:
    """Every user or user-group id the configuration names."""
    ids: set[str] = set(config.admins) | set(config.jira.users.values())
    if config.sla.on_duty_group:
        ids.add(config.sla.on_duty_group)
    if config.leads_group:
        ids.add(config.leads_group)
    for programme in config.shadowing.programmes:
        ids.update(programme.hosts)
    fairness = config.shadowing.fairness
    if fairness is not None:
        ids.update(fairness.group)
        for members in fairness.teams.values():
            ids.update(members)
    return ids


def seed_workspace(slack: SandboxSlack, config: AppConfig) -> None:
    """Channels, people and user groups for the configuration in use (see module docstring)."""
    everyone = [p.user_id for p in CAST]
    for person in CAST:
        slack.add_person(person)
    for channel_id, role in _channel_roles(config):
        slack.add_named_channel(channel_id, KNOWN_CHANNELS.get(channel_id, role), members=everyone)
    for index, named in enumerate(sorted(_named_ids(config)), start=1):
        if named.startswith("S"):
            name, members = KNOWN_GROUPS.get(named, (f"group-{index}", tuple(everyone)))
            slack.add_named_group(named, name, members)
        elif named not in slack.users:
            slack.add_person(Person(named, f"person{index}", f"Person {index}", "named in the configuration"))
    slack.touch()
