"""What `supportbridge check` found: one finding per line, each with its level and, when something is
wrong, the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.domain.intake import clean_line

Level = Literal["ok", "warning", "error"]
_SYMBOL: dict[Level, str] = {"ok": "✓", "warning": "!", "error": "✗"}
# Every call `check` makes is bounded by this, whatever the client's own retries would do.
CALL_TIMEOUT = 10.0
# Names read from Slack or Jira (channel names, issue types, priorities) are shown cut to this.
NAME_MAX = 80
LISTED_MAX = 12


def shown(text: object, limit: int = NAME_MAX) -> str:
    """A name from Slack or Jira made safe for one terminal line: no control characters, bounded."""
    cleaned = clean_line(str(text)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def listed(names: list[str] | tuple[str, ...]) -> str:
    """A bounded, comma-separated list of names from Slack or Jira."""
    out = ", ".join(shown(name) for name in names[:LISTED_MAX])
    return out + (f", … ({len(names) - LISTED_MAX} more)" if len(names) > LISTED_MAX else "")


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str  # what was checked: "slack.channel", "jira.priority", …
    message: str
    fix: str | None = None

    @property
    def line(self) -> str:
        text = f"{_SYMBOL[self.level]} {self.level} {self.check}: {self.message}"
        return f"{text} → fix: {self.fix}" if self.fix else text

    def as_json(self) -> dict[str, str | None]:
        return {"level": self.level, "check": self.check, "message": self.message, "fix": self.fix}


@dataclass
class CheckResults:
    findings: list[Finding] = field(default_factory=list)

    def ok(self, check: str, text: str) -> None:
        self.findings.append(Finding("ok", check, text))

    def warn(self, check: str, text: str, fix: str | None = None) -> None:
        self.findings.append(Finding("warning", check, text, fix))

    def fail(self, check: str, text: str, fix: str | None = None) -> None:
        self.findings.append(Finding("error", check, text, fix))

    @property
    def failed(self) -> bool:
        return any(f.level == "error" for f in self.findings)

    @property
    def lines(self) -> list[str]:
        return [f.line for f in self.findings]
