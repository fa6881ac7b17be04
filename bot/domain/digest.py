"""The digest's figures and the alerts it lists: computed by `bot.services.digest` and
`bot.services.alerts`, rendered by `bot.views.digest` and `bot.views.digest_chart`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.macros import MacroUse

# The least a spike's expected count is taken to be: a name never seen before has no infinite ratio.
EXPECTED_FLOOR = 0.5


@dataclass(frozen=True)
class Spike:
    dimension: str  # "area" | "tag"
    name: str
    span: str  # "24h" | "7d"
    observed: int
    expected: float

    @property
    def subject(self) -> str:
        return f"{self.dimension}:{self.name}"

    @property
    def ratio(self) -> float:
        return self.observed / max(self.expected, EXPECTED_FLOOR)


@dataclass(frozen=True)
class SpikeLine:
    """One line of a spike alert: the spike and the card of the problem most reported there."""

    spike: Spike
    problem_title: str | None = None
    card_link: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class CrossedThreshold:
    problem_id: int
    title: str
    threshold: int
    raised_at: datetime


@dataclass(frozen=True)
class Change:
    """A count in the window and in the previous one."""

    label: str
    now: int
    before: int

    @property
    def delta(self) -> int:
        return self.now - self.before


@dataclass(frozen=True)
class ProblemLine:
    problem_id: int
    issue_id: int | None
    title: str
    status: str
    customers: int  # in the window
    customers_before: int  # in the previous window
    reports: int  # in the window
    first_seen: datetime
    jira_key: str | None
    jira_url: str | None
    jira_status: str | None
    channel: str | None
    permalink: str | None
    # Resolved in Jira with a won't-do resolution (`jira.wont_do_resolutions`): shown as won't do.
    wont_do: bool = False


@dataclass(frozen=True)
class Timing:
    severity: str  # a severity, or "all"
    first_response: float | None  # median seconds
    first_response_n: int
    resolution: float | None
    resolution_n: int


@dataclass(frozen=True)
class AreaSatisfaction:
    area: str
    average: float  # 1 to 5
    answers: int


@dataclass(frozen=True)
class Backlog:
    total: int
    buckets: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Trend:
    week_starts: tuple[datetime, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]  # (product area, reports per week), biggest first

    @property
    def empty(self) -> bool:
        return not any(sum(counts) for _, counts in self.series)


@dataclass(frozen=True)
class Digest:
    start: datetime
    end: datetime
    new_issues: Change
    by_source: tuple[Change, ...]
    by_area: tuple[Change, ...]
    by_tag: tuple[Change, ...]
    problems: Change  # problems with reports in the window
    top: tuple[ProblemLine, ...]
    new_problems: tuple[ProblemLine, ...]
    new_problems_total: int
    rising: tuple[ProblemLine, ...]
    rising_total: int
    crossed: tuple[CrossedThreshold, ...]
    spikes: tuple[Spike, ...]
    resolved: Change
    backlog: Backlog
    timings: tuple[Timing, ...]
    sla_breaches: Change
    escalations_opened: Change
    escalations_resolved: Change
    trend: Trend
    # The saved answers most replies were made from in the window (none: the line is left out).
    top_macros: tuple[MacroUse, ...] = ()
    satisfaction: tuple[AreaSatisfaction, ...] = ()  # `csat` scores given in the window, by area
    # Of `resolved`, the issues whose problem Jira resolved as won't do: not fixes.
    resolved_wont_do: Change = Change("won't do", 0, 0)

    @property
    def fixed(self) -> Change:
        return Change(
            "fixed",
            self.resolved.now - self.resolved_wont_do.now,
            self.resolved.before - self.resolved_wont_do.before,
        )

    @property
    def days(self) -> int:
        return round((self.end - self.start) / timedelta(days=1))

    @property
    def quiet(self) -> bool:
        """Nothing happened in the window: no new issue, none resolved, no escalation."""
        return not (
            self.new_issues.now
            or self.resolved.now
            or self.escalations_opened.now
            or self.escalations_resolved.now
        )
