"""The issue card: one customer issue as a Block Kit message. Pure: values in, blocks out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.ids import Action
from bot.views.blocks import (
    FALLBACK_TEXT_MAX,
    Blocks,
    actions,
    button,
    context,
    encode_state,
    escape,
    fields,
    header,
    link_button,
    plain,
    section,
    slack_date,
    truncate,
)

BODY_PREVIEW_MAX = 1500
SUBJECT_FALLBACK_MAX = 200

SEVERITY_BADGE = {
    "low": ":white_circle: Low",
    "normal": ":large_blue_circle: Normal",
    "high": ":large_orange_circle: High",
    "urgent": ":red_circle: Urgent",
}

SOURCE_LABEL = {
    "zendesk": "Zendesk",
    "intercom": "Intercom",
    "slack": "Slack",
    "email": "E-mail",
    "webhook": "Webhook",
}


@dataclass(frozen=True)
class CardCustomer:
    name: str | None = None
    email: str | None = None
    company: str | None = None
    plan: str | None = None
    slack_user_id: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class IssueCard:
    """Everything the card shows, loaded from stored state."""

    issue_id: int
    subject: str
    body: str
    source: str
    severity: str
    reported_at: datetime
    customer: CardCustomer
    product_area: str | None = None
    tags: tuple[str, ...] = ()
    report_count: int = 1
    customer_count: int = 1
    url: str | None = None
    permalink: str | None = None
    reported_by: str | None = None
    status: str = "open"
    claimed_by: str | None = None
    resolved_by: str | None = None
    severity_options: tuple[str, ...] = ("low", "normal", "high", "urgent")
    tag_options: tuple[str, ...] = ()


def source_label(source: str) -> str:
    return SOURCE_LABEL.get(source, source.capitalize())


def _customer_text(customer: CardCustomer) -> str:
    if customer.slack_user_id and not customer.name:
        # A mention the bot writes itself (the Slack author), not customer-supplied text.
        who = f"<@{customer.slack_user_id}>"
    else:
        who = escape(customer.name or customer.email or customer.external_id or "Unknown customer")
    details = [escape(part) for part in (customer.company, customer.plan) if part]
    return " · ".join([who, *details])


def _count_text(card: IssueCard) -> str:
    reports = f"{card.report_count} report" + ("" if card.report_count == 1 else "s")
    customers = f"{card.customer_count} customer" + ("" if card.customer_count == 1 else "s")
    return f"{reports} · {customers}"


def _quote(body: str) -> str:
    text = escape(truncate(body.strip(), BODY_PREVIEW_MAX)) or "_(no description)_"
    return "\n".join(f">{line}" for line in text.splitlines() or [""])


def _status_text(card: IssueCard) -> str:
    # Slack user ids below are ours (from interactions), not customer text.
    if card.status == "resolved":
        return (
            f":white_check_mark: Resolved by <@{card.resolved_by}>"
            if card.resolved_by
            else ":white_check_mark: Resolved"
        )
    if card.claimed_by:
        return f":raising_hand: <@{card.claimed_by}> is on it"
    return "Open, unclaimed"


def _option(value: str) -> dict[str, Any]:
    return {"text": plain(value.capitalize() if value in SEVERITY_BADGE else value, 75), "value": value[:150]}


def _triage_controls(card: IssueCard) -> Blocks:
    state = encode_state(issue=card.issue_id)
    controls: Blocks = []
    if card.status != "resolved":
        if card.claimed_by:
            controls.append(button("Release", Action.RELEASE, state))
        else:
            controls.append(button("I'm on it", Action.CLAIM, state, style="primary"))
        controls.append(button("Resolve", Action.RESOLVE, state))
    else:
        controls.append(button("Reopen", Action.REOPEN, state))
    severities = list(card.severity_options) or [card.severity]
    if card.severity not in severities:
        severities.append(card.severity)
    controls.append(
        {
            "type": "static_select",
            "action_id": Action.SET_SEVERITY,
            "placeholder": plain("Severity", 150),
            "options": [_option(s) for s in severities],
            "initial_option": _option(card.severity),
        }
    )
    tag_options = list(dict.fromkeys([*card.tag_options, *card.tags]))[:100]
    if tag_options:
        tags_select: dict[str, Any] = {
            "type": "multi_static_select",
            "action_id": Action.SET_TAGS,
            "placeholder": plain("Tags", 150),
            "options": [_option(t) for t in tag_options],
        }
        current = [t for t in card.tags if t in tag_options]
        if current:
            tags_select["initial_options"] = [_option(t) for t in current]
        controls.append(tags_select)
    return controls


def render_issue_card(card: IssueCard) -> tuple[Blocks, str]:
    """Blocks and the notification fallback text for an issue card."""
    severity = SEVERITY_BADGE.get(card.severity, escape(card.severity))
    tags = " ".join(f"`{escape(tag)}`" for tag in card.tags) or "—"
    info = [
        ("Customer", _customer_text(card.customer)),
        ("Source", source_label(card.source)),
        ("Severity", severity),
        ("Product area", escape(card.product_area) if card.product_area else "—"),
        ("Tags", tags),
        ("Reports", _count_text(card)),
        ("Status", _status_text(card)),
    ]
    unix = int(card.reported_at.timestamp())
    fallback_time = card.reported_at.strftime("%Y-%m-%d %H:%M UTC")
    meta = [f"#{card.issue_id}", f"reported {slack_date(unix, fallback_time)}"]
    if card.reported_by:
        meta.append(f"logged by <@{card.reported_by}>")
    blocks: Blocks = [
        header(f"#{card.issue_id} · {card.subject}"),
        section(_quote(card.body), verbatim=True),
        fields(info),
        context(" · ".join(meta)),
    ]
    links = []
    if card.url:
        links.append(link_button(f"Open in {source_label(card.source)}", card.url, Action.OPEN_LINK))
    if card.permalink:
        links.append(link_button("Open Slack message", card.permalink, Action.OPEN_SLACK_MESSAGE))
    blocks.append(actions(_triage_controls(card), block_id=encode_state(issue=card.issue_id)))
    if links:
        blocks.append(actions(links, block_id=f"links.{card.issue_id}"))
    subject = escape(truncate(card.subject, SUBJECT_FALLBACK_MAX))
    text = truncate(
        f"Customer issue #{card.issue_id} ({card.severity}, {source_label(card.source)}): {subject}",
        FALLBACK_TEXT_MAX,
    )
    return blocks, text
