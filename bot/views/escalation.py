"""Views of escalation and closing the loop: the modals, the customers-to-tell list, the rationale
request and `/support search` results. Pure: values in, blocks out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.cards import ResolvedProblem
from bot.domain.escalation import EscalationDefaults, FieldChoice, RationaleWritten
from bot.domain.replies import FixNoticeForm
from bot.ids import Action, Block, Callback
from bot.views.blocks import (
    Blocks,
    actions,
    button,
    context,
    encode_state,
    escape,
    plain,
    plural,
    section,
    truncate,
)
from bot.views.issue_card import source_text
from bot.views.report_modal import text_input

CUSTOMERS_LISTED = 40  # Slack allows 50 blocks in a message; the rest is covered by "Mark all"


def _option(choice: FieldChoice) -> dict[str, Any]:
    return {"text": plain(choice.label, 75), "value": choice.value[:150]}


def jira_field(
    block_id: str, label: str, action_id: str, initial: FieldChoice | None, *, optional: bool = False
) -> dict[str, Any]:
    """A field whose options come from Jira as the person types (an external select)."""
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": action_id,
        "placeholder": plain(f"Choose from Jira: {label.lower()}", 150),
        "min_query_length": 0,  # the whole list as soon as it opens
    }
    if initial is not None and initial.value:
        element["initial_option"] = _option(initial)
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def render_escalate_modal(
    issue_id: int, defaults: EscalationDefaults, project_label: str | None = None
) -> dict[str, Any]:
    """ "Escalate with details…": project, issue type and priority picked from Jira's own lists
    (answered by the options listeners), the route's defaults preselected. The default project rides
    in private_metadata: issue types are asked for the chosen project, this one until one is chosen."""
    project = FieldChoice(defaults.project, project_label or defaults.project) if defaults.project else None
    issue_type = FieldChoice(defaults.issue_type, defaults.issue_type) if defaults.issue_type else None
    priority = FieldChoice(defaults.priority, defaults.priority) if defaults.priority else None
    state = {"issue": issue_id, "project": defaults.project} if defaults.project else {"issue": issue_id}
    return {
        "type": "modal",
        "callback_id": Callback.ESCALATE_MODAL,
        "title": plain("Escalate to Jira", 24),
        "submit": plain("Escalate", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(**state),
        "blocks": [
            jira_field(Block.ESCALATE_PROJECT, "Project", Action.ESCALATE_PICK_PROJECT, project),
            jira_field(Block.ESCALATE_TYPE, "Issue type", Action.ESCALATE_PICK_TYPE, issue_type),
            jira_field(
                Block.ESCALATE_PRIORITY, "Priority", Action.ESCALATE_PICK_PRIORITY, priority, optional=True
            ),
            text_input(Block.ESCALATE_SUMMARY, "Summary", initial=defaults.summary, max_length=255),
        ],
    }


def render_field_options(choices: list[FieldChoice]) -> list[dict[str, Any]]:
    """The answer to an options request of one of those fields (Slack shows at most 100)."""
    return [_option(c) for c in choices[:100]]


def render_link_modal(issue_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.LINK_JIRA_MODAL,
        "title": plain("Link a Jira issue", 24),
        "submit": plain("Link", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(issue=issue_id),
        "blocks": [
            text_input(
                Block.LINK_JIRA_KEY,
                "Jira issue key or link",
                max_length=500,
                placeholder="PROJ-123 or https://yours.atlassian.net/browse/PROJ-123",
            )
        ],
    }


def render_rationale_modal(problem_id: int, subject: str, current: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Callback.RATIONALE_MODAL,
        "title": plain("Why not?", 24),
        "submit": plain("Share", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(problem=problem_id),
        "blocks": [
            section(f"*{escape(truncate(subject, 200))}*", verbatim=True),
            text_input(
                Block.RATIONALE_TEXT,
                "A short rationale support can reuse with customers",
                initial=current or "",
                multiline=True,
                max_length=3000,
            ),
        ],
    }


def render_customer_list(problem: ResolvedProblem) -> tuple[Blocks, str]:
    """The thread message that closes the loop: every customer to tell, and who has been told."""
    key = escape(problem.jira_key or "")
    if problem.jira_url and problem.jira_url.startswith("https://") and key:
        key = f"<{problem.jira_url}|{key}>"
    how = escape(problem.resolution or "resolved")
    if problem.fix_versions:
        how += ", fix version " + ", ".join(escape(v) for v in problem.fix_versions[:5])
    left = [c for c in problem.customers if not c.notified]
    total = len(problem.customers)
    if problem.wont_do:
        # Never celebrated: the customers hear that it will not be done, and why once product says.
        intro = (
            f":no_entry_sign: {key} won't be done ({how})."
            if key
            else f":no_entry_sign: Won't be done ({how})."
        )
        if problem.rationale:
            intro += "\nWhy, in product's words:\n" + "\n".join(
                f">{line}" for line in escape(truncate(problem.rationale, 1500)).splitlines() or [""]
            )
    else:
        intro = f":tada: {key} is resolved ({how})." if key else f":tada: Resolved ({how})."
    blocks: Blocks = [
        section(
            f"{intro} Customers to tell: *{len(left)}* of {total}.",
            verbatim=True,
        )
    ]
    for customer in problem.customers[:CUSTOMERS_LISTED]:
        parts = [f"*{escape(truncate(customer.name, 100))}*"]
        if customer.company:
            parts.append(escape(truncate(customer.company, 80)))
        if customer.email:
            parts.append(escape(truncate(customer.email, 120)))
        parts.append("via " + ", ".join(source_text(s) for s in customer.sources))
        line = " · ".join(parts)
        block = section(line, verbatim=True)
        how = f" {customer.notice_channel}" if customer.notice_channel else ""
        if customer.notice_state == "replied":
            block["text"]["text"] = f":speech_balloon: {line} — told{how}, and they answered"
        elif customer.notified:
            told = f"<@{customer.notified_by}>" if customer.notified_by else "someone"
            block["text"]["text"] = f":white_check_mark: {line} — told{how} by {told}"
        elif customer.notice_state == "queued":
            block["text"]["text"] = f":outbox_tray: {line} — telling{how}…"
        elif customer.notice_state == "failed" and customer.notice_reply_id is not None:
            reason = escape(truncate(customer.notice_reason or "refused", 200))
            block["text"]["text"] = f":warning: {line} — not sent{how}: {reason}"
            block["accessory"] = button(
                "Retry", Action.REPLY_RETRY, encode_state(reply=customer.notice_reply_id), style="primary"
            )
        else:
            block["accessory"] = button(
                "Mark notified",
                Action.MARK_NOTIFIED,
                encode_state(problem=problem.problem_id, customer=customer.customer_id),
            )
        blocks.append(block)
    if total > CUSTOMERS_LISTED:
        blocks.append(context(f"… and {total - CUSTOMERS_LISTED} more; *Mark all notified* covers them too."))
    if left:
        untold = [c for c in left if c.notice_state is None]
        controls = []
        if untold and not problem.wont_do:  # a won't-do is explained, not announced as a fix
            controls.append(
                button(
                    f"Tell all {len(untold)} customers…" if len(untold) > 1 else "Tell the customer…",
                    Action.TELL_ALL,
                    encode_state(problem=problem.problem_id),
                    style="primary",
                )
            )
        controls.append(
            button("Mark all notified", Action.MARK_ALL_NOTIFIED, encode_state(problem=problem.problem_id))
        )
        blocks.append(actions(controls, block_id=encode_state(problem=problem.problem_id, part="all")))
    else:
        blocks.append(context(":white_check_mark: Every customer has been told."))
    text = truncate(f"Resolved: {len(left)} of {plural(total, 'customer')} still to tell", 300)
    return blocks, text


def render_rationale_request(
    problem_id: int,
    issue_id: int,
    subject: str,
    key: str,
    resolution: str | None,
    customers: int,
    ask: str | None,
) -> tuple[Blocks, str]:
    """Asks for a won't-do rationale (in a DM to `ask`, and in the problem's thread for anyone)."""
    who = f"<@{ask}>, " if ask else ""
    about = f"#{issue_id} · {escape(truncate(subject, 150))}"
    text = (
        f":speech_balloon: {who}*{escape(key)}* ({about}) was resolved as "
        f"*{escape(resolution or 'will not do')}*. Support will tell {customers} customer"
        f"{'s' if customers != 1 else ''}: a short rationale they can reuse helps."
    )
    blocks: Blocks = [
        section(text, verbatim=True),
        actions(
            [
                button(
                    "Write the rationale",
                    Action.WRITE_RATIONALE,
                    encode_state(problem=problem_id),
                    style="primary",
                )
            ],
            block_id=encode_state(problem=problem_id, part="rationale"),
        ),
    ]
    return blocks, truncate(f"{key} won't be done: please write a rationale", 300)


def render_rationale_written(written: RationaleWritten) -> tuple[Blocks, str]:
    """A rationale request once the rationale is written: the rationale, and no button."""
    who = f"<@{written.by}>" if written.by else "Someone"
    about = f"#{written.issue_id} · {escape(truncate(written.subject, 150))}"
    quoted = "\n".join(f">{line}" for line in escape(truncate(written.text, 2500)).splitlines() or [""])
    lead = f":white_check_mark: {who} wrote the won't-do rationale for {about}:"
    blocks: Blocks = [section(f"{lead}\n{quoted}", verbatim=True)]
    return blocks, truncate(f"Rationale written for #{written.issue_id}", 300)


@dataclass(frozen=True)
class SearchHit:
    issue_id: int
    subject: str
    status: str
    customers: int
    reports: int
    jira_key: str | None
    jira_url: str | None
    jira_status: str | None
    card_link: str | None
    channel: str | None
    wont_do: bool = False
    rationale: str | None = None


SEARCH_SHOWN = 8


def render_search_results(query: str, hits: list[SearchHit]) -> tuple[Blocks, str]:
    shown_query = escape(truncate(query, 100))
    if not hits:
        text = f"No issues match “{shown_query}”."
        return [section(text)], text
    blocks: Blocks = [section(f"Issues matching “{shown_query}”:", verbatim=True)]
    for hit in hits[:SEARCH_SHOWN]:
        title = f"#{hit.issue_id} · {escape(truncate(hit.subject, 150))}"
        if hit.card_link and hit.card_link.startswith("https://"):
            title = f"<{hit.card_link}|{title}>"
        state = ":large_green_circle: open"
        if hit.status == "resolved":
            state = ":no_entry_sign: won't do" if hit.wont_do else ":white_check_mark: resolved"
        parts = [
            state,
            f"{hit.customers} customer{'s' if hit.customers != 1 else ''}",
        ]
        if hit.jira_key:
            key = escape(hit.jira_key)
            if hit.jira_url and hit.jira_url.startswith("https://"):
                key = f"<{hit.jira_url}|{key}>"
            parts.append(key + (f" ({escape(hit.jira_status)})" if hit.jira_status else ""))
        if hit.channel and not hit.card_link:
            parts.append(f"in <#{hit.channel}>")
        why = ""
        if hit.wont_do and hit.rationale:
            why = "\n>" + escape(truncate(" ".join(hit.rationale.split()), 300))
        blocks.append(section(f"*{title}*\n" + " · ".join(parts) + why, verbatim=True))
    return blocks, f"{len(hits[:SEARCH_SHOWN])} issues match “{shown_query}”"


def render_fix_notice_modal(form: FixNoticeForm) -> dict[str, Any]:
    """ "Tell all N customers…": the message, editable, and who it reaches through which channel."""
    subject = escape(truncate(form.subject, 200))
    reach = ", ".join(f"{count} {words}" for words, count in form.by_channel)
    blocks: Blocks = []
    if form.reachable:
        blocks.append(
            section(
                f"Tells *{plural(form.reachable, 'customer')}* that _{subject}_ is fixed: {reach}. "
                "Each gets it once, through their own channel.",
                verbatim=True,
            )
        )
    else:
        blocks.append(
            section(f"No customer left to tell about _{subject}_ can be reached from here.", verbatim=True)
        )
    if form.unreachable:
        names = ", ".join(escape(truncate(n, 80)) for n in form.unreachable[:10])
        more = len(form.unreachable) - 10
        blocks.append(
            context(
                f"No channel back to {names}"
                + (f" and {more} more" if more > 0 else "")
                + ": tell them another way, then *Mark notified*."
            )
        )
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": Callback.TELL_ALL_MODAL,
        "title": plain("Tell customers", 24),
        "close": plain("Cancel", 24),
        "private_metadata": encode_state(problem=form.problem_id),
        "blocks": blocks,
    }
    if form.reachable:
        blocks.append(
            text_input(Block.TELL_ALL_TEXT, "The message", initial=form.text, multiline=True, max_length=3000)
        )
        blocks.append(context("`{name}` becomes each customer's first name. Only this text is sent."))
        view["submit"] = plain(f"Send to {form.reachable}", 24)
    return view
