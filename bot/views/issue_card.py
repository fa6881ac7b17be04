"""The issue card: one customer issue as a Block Kit message. Pure: values in, blocks out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.cards import CardCustomer, IssueCard, JiraLink
from bot.domain.escalation import EscalationState
from bot.ids import ESCALATE_WITH_DETAILS, LINK_EXISTING, Action
from bot.views.blocks import (
    FALLBACK_TEXT_MAX,
    Blocks,
    actions,
    button,
    context,
    duration_text,
    encode_state,
    escape,
    fields,
    header,
    link_button,
    plain,
    plural,
    section,
    slack_time,
    truncate,
)

UTC_ZONE = ZoneInfo("UTC")
BODY_PREVIEW_MAX = 1500
# "today at 10:00", "Dec 8 at 10:00", in each reader's zone and language.
DUE_TOKENS = "{date_short_pretty} at {time}"
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


def source_label(source: str) -> str:
    """The source as people read it (plain text: escape it for mrkdwn, see `source_text`). A source
    is whatever the intake's sender said it is: customer-controlled text like any other field."""
    return SOURCE_LABEL.get(source, source.capitalize())


def source_text(source: str) -> str:
    """`source_label` for mrkdwn: `<!channel>` or `<https://evil|click>` shows as typed."""
    return escape(source_label(source))


NO_CUSTOMER = "_No customer yet_"


def _customer_text(customer: CardCustomer | None) -> str:
    if customer is None:
        return NO_CUSTOMER
    if customer.slack_user_id and not customer.name:
        # A mention the bot writes itself (the Slack author), not customer-supplied text.
        who = f"<@{customer.slack_user_id}>"
    else:
        who = escape(customer.name or customer.email or customer.external_id or "Unknown customer")
    details = [escape(part) for part in (customer.company, customer.plan) if part]
    return " · ".join([who, *details])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _count_text(card: IssueCard) -> str:
    text = f"{_plural(card.report_count, 'report')} · {_plural(card.customer_count, 'customer')}"
    if card.merged_into is not None:
        return f"{text} in #{card.merged_into}"
    if len(card.sources) > 1:
        text += " via " + ", ".join(source_text(s) for s in card.sources)
    return text


RATIONALE_PREVIEW_MAX = 500
JIRA_ERROR_MAX = 200


def _jira_text(jira: JiraLink | None) -> str | None:
    if jira is None or jira.state == EscalationState.UNLINKED:
        return None
    if jira.state == EscalationState.PENDING:
        if jira.attempts:
            return f":hourglass_flowing_sand: Escalating… (Jira did not answer; retry {jira.attempts})"
        return ":hourglass_flowing_sand: Escalating…"
    if jira.state == EscalationState.FAILED:
        reason = escape(truncate(jira.error or "unknown error", JIRA_ERROR_MAX))
        return f":warning: Escalation failed: {reason}"
    key = escape(jira.key or "?")
    link = f"<{jira.url}|{key}>" if jira.url and jira.url.startswith("https://") else key
    parts = [link]
    if jira.status:
        parts.append(escape(jira.status))
    if jira.resolution:
        parts.append(escape(jira.resolution))
    if jira.fix_versions:
        parts.append("fix " + ", ".join(escape(v) for v in jira.fix_versions[:5]))
    if jira.assignee:
        parts.append(escape(jira.assignee))
    return " · ".join(parts)


def _quote(body: str) -> str:
    text = escape(truncate(body.strip(), BODY_PREVIEW_MAX)) or "_(no description)_"
    return "\n".join(f">{line}" for line in text.splitlines() or [""])


def _status_text(card: IssueCard) -> str:
    # Slack user ids below are ours (from interactions), not customer text.
    if card.merged_into is not None:
        return f"Merged into #{card.merged_into}"
    if card.status == "resolved" and card.wont_do:
        return ":no_entry_sign: Won't do"
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
        if card.customer is None:
            controls.append(button("Set customer", Action.SET_CUSTOMER, state))
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


def _escalation_controls(card: IssueCard) -> Blocks:
    """Escalate / retry / link, and "Same problem as…": the second row of a problem's open card."""
    state = encode_state(issue=card.issue_id)
    controls: Blocks = []
    jira = card.jira
    if card.jira_enabled and (jira is None or jira.state == EscalationState.UNLINKED):
        controls.append(button("Escalate to Jira", Action.ESCALATE, state))
        controls.append(
            {
                "type": "overflow",
                "action_id": Action.ESCALATE_MORE,
                "options": [
                    {"text": plain("Escalate with details…", 75), "value": ESCALATE_WITH_DETAILS},
                    {"text": plain("Link an existing Jira issue", 75), "value": LINK_EXISTING},
                ],
            }
        )
    elif card.jira_enabled and jira is not None and jira.state == EscalationState.FAILED:
        controls.append(button("Retry escalation", Action.ESCALATE_RETRY, state, style="danger"))
        controls.append(
            {
                "type": "overflow",
                "action_id": Action.ESCALATE_MORE,
                "options": [{"text": plain("Link an existing Jira issue", 75), "value": LINK_EXISTING}],
            }
        )
    if jira is not None and jira.url and jira.key and jira.url.startswith("https://"):
        controls.append(link_button(f"Open {jira.key}", jira.url, Action.OPEN_JIRA))
    if card.status != "resolved":
        controls.append(
            {
                "type": "external_select",
                "action_id": Action.MERGE_INTO,
                "placeholder": plain("Same problem as…", 150),
                "min_query_length": 2,
            }
        )
    controls.extend(_reply_button(card))
    return controls


def _suggestion_blocks(card: IssueCard) -> Blocks:
    blocks: Blocks = []
    for suggestion in card.suggestions:
        subject = escape(truncate(suggestion.subject, 150))
        blocks.append(
            {
                "type": "section",
                "block_id": encode_state(issue=card.issue_id, similar=suggestion.problem_id),
                "text": {
                    "type": "mrkdwn",
                    "text": f":mag: Looks like *#{suggestion.issue_id}* — "
                    f"{_plural(suggestion.customers, 'customer')}: {subject}",
                    "verbatim": True,
                },
                "accessory": button(
                    f"Merge into #{suggestion.issue_id}",
                    Action.MERGE_SUGGESTED,
                    encode_state(issue=card.issue_id, problem=suggestion.problem_id),
                ),
            }
        )
    return blocks


def _reply_button(card: IssueCard) -> Blocks:
    """ "Reply to customer": on every report with a customer (the form says when there is no way back)."""
    if card.customer is None:
        return []
    return [button("Reply to customer", Action.REPLY, encode_state(issue=card.issue_id))]


def _merged_controls(card: IssueCard) -> Blocks:
    controls: Blocks = [
        button("Unmerge", Action.UNMERGE, encode_state(issue=card.issue_id)),
        *_reply_button(card),
    ]
    if card.merged_into_link and card.merged_into_link.startswith("https://"):
        controls.append(link_button(f"Open #{card.merged_into}", card.merged_into_link, Action.OPEN_PROBLEM))
    return controls


def first_response_text(card: IssueCard, now: datetime | None, zone: ZoneInfo) -> str | None:
    """ "First response by @x in 12 min" once answered (with how late, if it was); until then, while
    an SLA target applies, when it is due — or, past it, how late it already is (as of `now`)."""
    due = card.first_response_due
    if card.first_response_at is not None:
        if card.received_at is None:
            return None
        took = duration_text((card.first_response_at - card.received_at).total_seconds())
        who = f" by <@{card.first_response_by}>" if card.first_response_by else ""
        text = f":speech_balloon: First response{who} in {took}"
        if due is not None and card.first_response_at > due:
            text += f", late by {duration_text((card.first_response_at - due).total_seconds())}"
        return text
    if due is None or card.status != "open" or card.merged_into is not None:
        return None
    if now is not None and now >= due:
        if now - due < timedelta(minutes=1):  # the reminder's own re-render, at the moment it is due
            return f":warning: First response overdue (due {slack_time(due, zone)})"
        late = duration_text((now - due).total_seconds())
        return f":warning: First response late by {late} (due {slack_time(due, zone)})"
    return f":hourglass_flowing_sand: First response due {slack_time(due, zone, DUE_TOKENS)}"


def render_issue_card(
    card: IssueCard, now: datetime | None = None, zone: ZoneInfo = UTC_ZONE
) -> tuple[Blocks, str]:
    """Blocks and the notification fallback text for an issue card, as of `now` (how late a first
    response is), times' fallbacks in `zone`."""
    severity = SEVERITY_BADGE.get(card.severity, escape(card.severity))
    tags = " ".join(f"`{escape(tag)}`" for tag in card.tags) or "—"
    info = [
        ("Customer", _customer_text(card.customer)),
        ("Source", source_text(card.source)),
        ("Severity", severity),
        ("Product area", escape(card.product_area) if card.product_area else "—"),
        ("Tags", tags),
        ("Reports", _count_text(card)),
        ("Status", _status_text(card)),
    ]
    jira_text = _jira_text(card.jira)
    if jira_text:
        info.append(("Jira", jira_text))
    if card.to_tell is not None:
        info.append(
            (
                "Customers to tell",
                f"{card.to_tell} still to tell" if card.to_tell else ":white_check_mark: all told",
            )
        )
    if card.satisfaction is not None and card.satisfaction_answers:
        info.append(
            (
                "Satisfaction",
                f"{card.satisfaction:.1f} ({plural(card.satisfaction_answers, 'answer')})",
            )
        )
    meta = [f"#{card.issue_id}", f"reported {slack_time(card.reported_at, zone, DUE_TOKENS)}"]
    if card.reported_by:
        meta.append(f"logged by <@{card.reported_by}>")
    blocks: Blocks = [
        header(f"#{card.issue_id} · {card.subject}"),
        section(_quote(card.body), verbatim=True),
        fields(info),
        context(" · ".join(meta)),
    ]
    responded = first_response_text(card, now, zone)
    if responded:
        blocks.append(context(responded))
    if card.customer_names and card.customer_count > 1:
        more = card.customer_count - len(card.customer_names)
        names = ", ".join(escape(truncate(n, 80)) for n in card.customer_names)
        blocks.append(context(f":busts_in_silhouette: {names}" + (f" and {more} more" if more > 0 else "")))
    if card.rationale:
        blocks.append(
            section(
                "*Why not:* " + escape(truncate(card.rationale, RATIONALE_PREVIEW_MAX)),
                verbatim=True,
            )
        )
    links = []
    if card.url:
        links.append(link_button(f"Open in {source_label(card.source)}", card.url, Action.OPEN_LINK))
    if card.permalink:
        links.append(link_button("Open Slack message", card.permalink, Action.OPEN_SLACK_MESSAGE))
    if card.merged_into is not None:
        blocks.append(actions(_merged_controls(card), block_id=encode_state(issue=card.issue_id)))
    else:
        blocks.append(actions(_triage_controls(card), block_id=encode_state(issue=card.issue_id)))
        more_controls = _escalation_controls(card)
        if more_controls:
            blocks.append(actions(more_controls, block_id=encode_state(issue=card.issue_id, row=2)))
        if card.status != "resolved":
            blocks.extend(_suggestion_blocks(card))
    if links:
        blocks.append(actions(links, block_id=f"links.{card.issue_id}"))
    subject = escape(truncate(card.subject, SUBJECT_FALLBACK_MAX))
    text = truncate(
        f"Customer issue #{card.issue_id} ({card.severity}, {source_text(card.source)}): {subject}",
        FALLBACK_TEXT_MAX,
    )
    return blocks, text
