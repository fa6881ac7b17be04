"""`supportbridge check` against Jira: the site and credentials, then the projects, issue type and
priorities the configuration names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.checks.findings import CALL_TIMEOUT, CheckResults, listed, shown
from bot.config import AppConfig
from bot.settings import Settings
from integrations.jira_client import JiraError, JiraGateway, JiraProject, JiraUnavailable

T = TypeVar("T")


async def _bounded(call: Awaitable[T]) -> T:
    # The gateway sends every request with CALL_TIMEOUT; this bounds the whole call (its first use also
    # asks for serverInfo) with a little room for that.
    async with asyncio.timeout(2 * CALL_TIMEOUT):
        return await call


def _reason(exc: BaseException) -> str:
    return f"Jira did not answer within {2 * CALL_TIMEOUT:g}s" if isinstance(exc, TimeoutError) else str(exc)


def project_references(config: AppConfig) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The projects issues are escalated to and the projects releases are read from, with their keys."""
    escalation: dict[str, list[str]] = {}
    if config.jira.project:
        escalation.setdefault(config.jira.project, []).append("jira.project")
    for i, route in enumerate(config.routes):
        if route.jira_project:
            escalation.setdefault(route.jira_project, []).append(f"routes[{i}].jira_project")
    releases: dict[str, list[str]] = {}
    for i, key in enumerate(config.releases.jira_projects):
        releases.setdefault(key, []).append(f"releases.jira_projects[{i}]")
    return escalation, releases


async def check_jira(settings: Settings, config: AppConfig | None, results: CheckResults) -> None:
    if not settings.jira_url:
        results.warn(
            "jira", "JIRA_URL is not set: escalation to Jira is off", "set JIRA_URL to escalate to Jira"
        )
        return
    if not (settings.jira_email and settings.jira_api_token):
        results.fail(
            "jira",
            "JIRA_EMAIL and JIRA_API_TOKEN are needed with JIRA_URL",
            "set both (an Atlassian API token)",
        )
        return
    gateway = JiraGateway(
        settings.jira_url,
        settings.jira_email,
        settings.jira_api_token.get_secret_value(),
        timeout=CALL_TIMEOUT,
    )
    try:
        info = await _bounded(gateway.server_info())
    except (JiraUnavailable, TimeoutError) as exc:
        results.fail(
            "jira",
            f"Jira serverInfo failed: {_reason(exc)}",
            "check JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN (an API token of that Atlassian account)",
        )
        info = None
    if info is not None:
        results.ok(
            "jira",
            f"Jira reachable ({shown(info.get('deploymentType', 'unknown'))} "
            f"{shown(info.get('version', ''))})".replace(" )", ")"),
        )
    if settings.jira_webhook_secret is None:
        results.warn(
            "jira.webhook",
            "JIRA_WEBHOOK_SECRET is not set: /jira/webhook answers 404 (Jira changes stay in Jira)",
            "set JIRA_WEBHOOK_SECRET and register the webhook in Jira (README → Escalation to Jira)",
        )
    else:
        results.ok("jira.webhook", "JIRA_WEBHOOK_SECRET is set")
    if info is not None and config is not None:
        await _check_projects(gateway, config, results)
        await _check_priorities(gateway, config, results)


async def _check_projects(gateway: JiraGateway, config: AppConfig, results: CheckResults) -> None:
    escalation, releases = project_references(config)
    if not escalation:
        results.warn(
            "jira.project",
            "no Jira project configured: Escalate to Jira has nowhere to create issues",
            "set jira.project (or a route's jira_project)",
        )
    for key, keys in {**releases, **escalation}.items():
        where = ", ".join(keys)
        try:
            project: JiraProject | None = await _bounded(gateway.project(key))
        except (JiraError, TimeoutError) as exc:
            results.fail("jira.project", f"Jira project {key} ({where}) could not be checked: {_reason(exc)}")
            continue
        if project is None:
            results.fail(
                "jira.project",
                f"Jira project {key} ({where}) not found",
                f"fix {keys[0]} (the key is in the project's URL), or give the JIRA_EMAIL user access to it",
            )
            continue
        results.ok("jira.project", f"Jira project {key} ({shown(project.name)}) exists")
        if key in escalation and project.issue_types:
            wanted = config.jira.issue_type
            if wanted in project.issue_types:
                results.ok("jira.issue_type", f"issue type {shown(wanted)} exists in {key}")
            else:
                results.fail(
                    "jira.issue_type",
                    f"issue type {shown(wanted)!r} (jira.issue_type) does not exist in project {key}",
                    f"set jira.issue_type to one of: {listed(project.issue_types)}",
                )


async def _check_priorities(gateway: JiraGateway, config: AppConfig, results: CheckResults) -> None:
    try:
        known = await _bounded(gateway.priorities())
    except (JiraError, TimeoutError) as exc:
        results.fail("jira.priority", f"Jira priorities could not be checked: {_reason(exc)}")
        return
    unknown = False
    for severity, priority in config.jira.priority_map.items():
        if priority not in known:
            unknown = True
            results.fail(
                "jira.priority",
                f"priority {shown(priority)!r} (jira.priority_map.{severity.value}) "
                "is not a priority Jira has",
                f"set jira.priority_map.{severity.value} to one of: {listed(known)}",
            )
    if not unknown:
        names = ", ".join(shown(p) for p in config.jira.priority_map.values())
        results.ok("jira.priority", f"every priority in jira.priority_map exists in Jira ({names})")
