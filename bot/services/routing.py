"""Routing rules: which shared channel an issue's card goes to. First match wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import AppConfig, Route


@dataclass(frozen=True)
class RouteFacts:
    source: str
    product_area: str | None
    severity: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RouteDecision:
    channel: str
    jira_project: str | None
    route_index: int | None  # None: the default channel


def _matches(route: Route, facts: RouteFacts) -> bool:
    match = route.match

    def one_of(allowed: Iterable[str] | None, value: str | None) -> bool:
        return allowed is None or (value is not None and value.lower() in allowed)

    if not one_of(match.source, facts.source):
        return False
    if not one_of(match.product_area, facts.product_area):
        return False
    if not one_of(match.severity, facts.severity):
        return False
    return match.tag is None or any(tag in match.tag for tag in facts.tags)


def route_issue(config: AppConfig, facts: RouteFacts) -> RouteDecision:
    for index, route in enumerate(config.routes):
        if _matches(route, facts):
            return RouteDecision(route.channel, route.jira_project, index)
    return RouteDecision(config.channels.default, None, None)
