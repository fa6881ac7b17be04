"""`supportbridge check` against Slack: the token, its scopes, and every channel, user group and user
the configuration names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from bot import manifest
from bot.checks.findings import CALL_TIMEOUT, CheckResults, shown
from bot.config import AppConfig
from bot.settings import Settings
from integrations.slack import (
    AuthFailed,
    ChannelGone,
    MissingScope,
    RateLimited,
    SlackError,
    SlackGateway,
    SlackTransientError,
    UserUnreachable,
    build_web_client,
)

T = TypeVar("T")

# The ids supportbridge.example.yml uses (tests/test_check_command.py keeps this in step with the file):
# a configuration still holding one was copied and not filled in.
PLACEHOLDER_IDS = frozenset(
    {"C0123456789", "S0123ABCD", "S0PRODUCT1", "S0PAYMENTS", "S0MANAGERS", "U0123ABCD", "U0456EFGH"}
)
INVITE = "/invite @Supportbridge in the channel"


@dataclass
class SlackReferences:
    """Every Slack id the configuration names, with the keys that name it (in the file's order)."""

    channels: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, list[str]] = field(default_factory=dict)
    # Channels whose reactions log issues: Slack sends reaction_added only where the bot is a member.
    monitored: set[str] = field(default_factory=set)

    def add(self, value: str, key: str) -> None:
        kind = self.groups if value.startswith("S") else self.users if value[:1] in "UW" else self.channels
        kind.setdefault(value, []).append(key)


def slack_references(config: AppConfig) -> SlackReferences:
    refs = SlackReferences()
    for name in ("default", "digest", "alerts", "releases"):
        value = getattr(config.channels, name)
        if value:
            refs.add(value, f"channels.{name}")
    for i, route in enumerate(config.routes):
        refs.add(route.channel, f"routes[{i}].channel")
        for person in route.owners:
            refs.add(person, f"routes[{i}].owners")
    for i, channel in enumerate(config.slack_intake.monitored_channels):
        refs.add(channel, f"slack_intake.monitored_channels[{i}]")
        refs.monitored.add(channel)
    if config.sla.on_duty_group:
        refs.add(config.sla.on_duty_group, "sla.on_duty_group")
    for person in config.admins:
        refs.add(person, "admins")
    for i, programme in enumerate(config.shadowing.programmes):
        refs.add(programme.channel, f"shadowing.programmes[{i}].channel")
        for person in programme.hosts:
            refs.add(person, f"shadowing.programmes[{i}].hosts")
    fairness = config.shadowing.fairness
    if fairness is not None:
        for person in fairness.group:
            refs.add(person, "shadowing.fairness.group")
        for team, members in fairness.teams.items():
            for person in members:
                refs.add(person, f"shadowing.fairness.teams.{team}")
    for jira_user, slack_user in config.jira.users.items():
        refs.add(slack_user, f"jira.users.{jira_user}")
    return refs


def _keys(keys: list[str]) -> str:
    return ", ".join(dict.fromkeys(keys))


def check_placeholders(config: AppConfig, results: CheckResults) -> None:
    """Ids copied from supportbridge.example.yml and never replaced: an error each, offline."""
    refs = slack_references(config)
    found = False
    for kind, ids in (("channel", refs.channels), ("user group", refs.groups), ("user", refs.users)):
        for value, keys in ids.items():
            if value in PLACEHOLDER_IDS:
                found = True
                results.fail(
                    "config.placeholder",
                    f"{kind} {value} ({_keys(keys)}) is still the example's placeholder",
                    f"put your workspace's {kind} id in {keys[0]} "
                    "(in Slack: its details → the ID at the bottom)",
                )
    if not found:
        results.ok("config.placeholder", "no placeholder ids from supportbridge.example.yml left")


async def _bounded(call: Awaitable[T]) -> T:
    async with asyncio.timeout(CALL_TIMEOUT):
        return await call


def _unreachable(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"Slack did not answer within {CALL_TIMEOUT:g}s"
    if isinstance(exc, RateLimited):
        return "Slack rate-limited the check: run it again in a minute"
    return f"cannot reach Slack at SLACK_API_URL ({exc})"


async def check_slack(settings: Settings, config: AppConfig | None, results: CheckResults) -> None:
    if settings.slack_bot_token is None:
        results.fail(
            "slack.auth",
            "SLACK_BOT_TOKEN is not set: no cards can be posted",
            "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)",
        )
        return
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        results.fail(
            "slack.auth",
            "SLACK_SIGNING_SECRET is not set",
            "copy the Signing Secret from the app's Basic Information (or use Socket Mode: SLACK_APP_TOKEN)",
        )
    client = build_web_client(
        settings.slack_bot_token.get_secret_value(), settings.slack_api_url, max_retries=0
    )
    gateway = SlackGateway(client)
    await gateway.open()
    try:
        if not await _check_token(gateway, results) or config is None:
            return
        refs = slack_references(config)
        await _check_channels(gateway, refs, results)
        await _check_groups(gateway, refs, results)
        await _check_users(gateway, refs, results)
    finally:
        await gateway.close()


async def _check_token(gateway: SlackGateway, results: CheckResults) -> bool:
    """auth.test and the granted scopes; False when Slack cannot be used (the rest is skipped)."""
    try:
        identity, granted = await _bounded(gateway.granted_scopes())
    except AuthFailed as exc:
        results.fail(
            "slack.auth",
            f"Slack auth.test failed: {exc}",
            "set SLACK_BOT_TOKEN to the app's current Bot User OAuth Token (xoxb-…)",
        )
        return False
    except (SlackTransientError, TimeoutError) as exc:
        results.fail(
            "slack.auth",
            f"Slack check could not run: {_unreachable(exc)}",
            "check the network and SLACK_API_URL, then run `supportbridge check` again",
        )
        return False
    except SlackError as exc:
        results.fail(
            "slack.auth", f"Slack auth.test failed: {exc}", "check SLACK_BOT_TOKEN and SLACK_API_URL"
        )
        return False
    results.ok(
        "slack.auth",
        f"Slack token works (bot {shown(identity.get('user'))} in {shown(identity.get('team'))})",
    )
    wanted = [str(s) for s in manifest.load().get("oauth_config", {}).get("scopes", {}).get("bot", [])]
    if granted is None:
        results.warn(
            "slack.scopes",
            "Slack did not list the token's scopes (no x-oauth-scopes header): they were not compared",
        )
    else:
        missing = [scope for scope in wanted if scope not in granted]
        if missing:
            names = ", ".join(missing)
            results.fail(
                "slack.scopes",
                f"the token lacks scope(s) the manifest asks for: {names}",
                f"add {names} to the app's bot scopes (OAuth & Permissions) and reinstall the app",
            )
        else:
            results.ok("slack.scopes", f"the token has every scope the manifest asks for ({len(wanted)})")
    return True


async def _check_channels(gateway: SlackGateway, refs: SlackReferences, results: CheckResults) -> None:
    for channel, keys in refs.channels.items():
        if channel in PLACEHOLDER_IDS:
            continue  # already an error (check_placeholders); Slack would only say "not found"
        where = _keys(keys)
        try:
            info = await _bounded(gateway.channel_info(channel))
        except ChannelGone:
            results.fail(
                "slack.channel",
                f"channel {channel} ({where}) not found",
                f"invite the bot if it is private ({INVITE}), or fix {keys[0]}",
            )
            continue
        except MissingScope:
            results.fail(
                "slack.channel",
                "cannot look the configured channels up: the token lacks channels:read or groups:read",
                "add channels:read and groups:read to the app's bot scopes and reinstall the app",
            )
            return
        except (SlackError, TimeoutError) as exc:
            reason = _unreachable(exc) if isinstance(exc, SlackTransientError | TimeoutError) else str(exc)
            results.fail("slack.channel", f"channel {channel} ({where}) could not be checked: {reason}")
            continue
        name = f"#{shown(info.get('name') or channel)} ({channel}, {where})"
        private = bool(info.get("is_private"))
        if info.get("is_archived"):
            results.fail("slack.channel", f"channel {name} is archived", f"unarchive it or fix {keys[0]}")
        elif info.get("is_member"):
            results.ok("slack.channel", f"channel {name}: the bot is in it")
        elif private:
            results.fail("slack.channel", f"the bot is not in private channel {name}", INVITE)
        elif channel in refs.monitored:
            results.fail(
                "slack.channel",
                f"the bot is not in {name}: Slack sends it no reactions there",
                INVITE,
            )
        else:
            results.warn(
                "slack.channel",
                f"the bot is not in {name} yet: it joins this public channel on its own at its first post",
                f"nothing needed ({INVITE} to have it there now)",
            )


async def _check_groups(gateway: SlackGateway, refs: SlackReferences, results: CheckResults) -> None:
    wanted = {group: keys for group, keys in refs.groups.items() if group not in PLACEHOLDER_IDS}
    if not wanted:
        return
    try:
        groups = {str(g.get("id")): g for g in await _bounded(gateway.usergroups())}
    except MissingScope:
        results.fail(
            "slack.usergroup",
            "cannot list the user groups: the token lacks usergroups:read",
            "add usergroups:read to the app's bot scopes and reinstall the app",
        )
        return
    except (SlackError, TimeoutError) as exc:
        reason = _unreachable(exc) if isinstance(exc, SlackTransientError | TimeoutError) else str(exc)
        results.fail("slack.usergroup", f"the user groups could not be checked: {reason}")
        return
    for group, keys in wanted.items():
        where = _keys(keys)
        found = groups.get(group)
        if found is None:
            results.fail(
                "slack.usergroup",
                f"user group {group} ({where}) not found",
                f"fix {keys[0]} (in Slack: People → User groups → the group → its ID)",
            )
        elif found.get("date_delete"):
            results.fail(
                "slack.usergroup",
                f"user group @{shown(found.get('handle') or group)} ({group}, {where}) is disabled",
                f"enable it in Slack or fix {keys[0]}",
            )
        else:
            results.ok(
                "slack.usergroup",
                f"user group @{shown(found.get('handle') or group)} ({group}, {where}) exists",
            )


async def _check_users(gateway: SlackGateway, refs: SlackReferences, results: CheckResults) -> None:
    for user, keys in refs.users.items():
        if user in PLACEHOLDER_IDS:
            continue
        where = _keys(keys)
        try:
            info = await _bounded(gateway.user_info(user))
        except UserUnreachable:
            results.fail(
                "slack.user",
                f"user {user} ({where}) not found",
                f"fix {keys[0]} (in Slack: the person's profile → ⋮ → Copy member ID)",
            )
            continue
        except MissingScope:
            results.fail(
                "slack.user",
                "cannot look the configured users up: the token lacks users:read",
                "add users:read to the app's bot scopes and reinstall the app",
            )
            return
        except (SlackError, TimeoutError) as exc:
            reason = _unreachable(exc) if isinstance(exc, SlackTransientError | TimeoutError) else str(exc)
            results.fail("slack.user", f"user {user} ({where}) could not be checked: {reason}")
            continue
        name = shown(info.get("real_name") or info.get("name") or user)
        if info.get("deleted"):
            results.fail(
                "slack.user", f"user {name} ({user}, {where}) is deactivated", f"remove them from {keys[0]}"
            )
        else:
            results.ok("slack.user", f"user {name} ({user}, {where}) exists")
