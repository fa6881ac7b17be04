"""What the page shows, as one JSON document: the workspace as one person sees it.

The page asks again whenever the workspace's revision changes, so this is the only read path; it is
cheap (a dictionary walk over the fake's memory) and bounded (the newest messages of one channel).
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.jira_site import JIRA_MOVES
from sandbox.stack import Sandbox

MESSAGES_SHOWN = 150


def _channels(sandbox: Sandbox, user: str) -> list[dict[str, Any]]:
    slack = sandbox.slack
    listed: list[dict[str, Any]] = []
    for channel in slack.channels.values():
        if channel.is_im:
            continue
        top = slack.messages(channel.id)
        listed.append(
            {
                "id": channel.id,
                "name": channel.name,
                "kind": "channel",
                "count": len(top),
                "latest": top[-1]["ts"] if top else None,
            }
        )
    listed.sort(key=lambda c: str(c["name"]))
    dm = slack.channels[slack.dm_channel(user)]
    listed.append(
        {
            "id": dm.id,
            "name": "Supportbridge",
            "kind": "dm",
            "count": len(dm.messages),
            "latest": dm.messages[-1]["ts"] if dm.messages else None,
        }
    )
    return listed


def _conversation(sandbox: Sandbox, channel_id: str, user: str) -> dict[str, Any] | None:
    slack = sandbox.slack
    channel = slack.channels.get(channel_id)
    if channel is None:
        return None
    top = slack.messages(channel_id)[-MESSAGES_SHOWN:]
    replies: dict[str, list[dict[str, Any]]] = {}
    for message in channel.messages:
        root = message.get("thread_ts")
        if root and root != message["ts"]:
            replies.setdefault(root, []).append(message)
    shown = []
    for message in top:
        item = copy.deepcopy(message)
        item["replies"] = copy.deepcopy(replies.get(message["ts"], []))
        shown.append(item)
    ephemerals = [copy.deepcopy(e) for e in channel.ephemerals if e["recipient"] == user]
    return {
        "id": channel.id,
        "name": channel.name if not channel.is_im else "Supportbridge",
        "kind": "dm" if channel.is_im else "channel",
        "messages": shown,
        "ephemerals": ephemerals[-50:],
    }


def snapshot(sandbox: Sandbox, user: str, channel: str | None) -> dict[str, Any]:
    slack = sandbox.slack
    if user not in slack.users or slack.users[user].get("is_bot"):
        user = next(iter(p for p in slack.users if not slack.users[p].get("is_bot")))
    channels = _channels(sandbox, user)
    customer_side = sandbox.customers.snapshot()
    chosen = channel if channel in slack.channels else None
    if chosen is None:
        chosen = next(
            (c["id"] for c in channels if c["id"] == sandbox.config.channels.default), channels[0]["id"]
        )
    people = [
        {
            "id": uid,
            "name": record["name"],
            "real_name": record["real_name"],
            "title": record["profile"].get("title", ""),
        }
        for uid, record in slack.users.items()
        if not record.get("is_bot")
    ]
    return {
        "mode": "sandbox",
        "revision": slack.revision,
        "contracts_checked": sandbox.contracts_checked,
        "violations": [
            *slack.violations[-5:],
            *sandbox.jira.violations[-5:],
            *customer_side["violations"],
        ],
        "me": user,
        "bot_user_id": slack.bot_user_id,
        "people": people,
        "channels": channels,
        "names": {
            "users": {uid: record["name"] for uid, record in slack.users.items()},
            "channels": {cid: ch.name for cid, ch in slack.channels.items() if not ch.is_im},
            "groups": dict(slack.group_names),
        },
        "conversation": _conversation(sandbox, chosen, user),
        "home": copy.deepcopy(slack.home_views.get(user)),
        "modals": copy.deepcopy(slack.modal_stack(user)),
        "jira": {
            "base_url": sandbox.jira.url,
            "issues": sandbox.jira.summaries(),
            "moves": list(JIRA_MOVES),
        },
        "customers": customer_side,
        "intake": {
            "severities": [s.value for s in sandbox.config.severities],
            "tags": list(sandbox.config.tags),
            "reaction": sandbox.config.slack_intake.reaction,
        },
    }
