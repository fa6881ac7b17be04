"""Short texts the bot sends to one person (ephemeral notes). Pure."""

from __future__ import annotations

from typing import Any

from bot.domain.intake import clean_line, clean_text
from bot.ids import Action
from bot.views.blocks import actions, button, context, encode_state, escape, section, truncate


def intake_confirmation(issue_id: int, created: bool, card_channel: str | None) -> str:
    where = f" The card is in <#{card_channel}>." if card_channel else ""
    if created:
        return f":white_check_mark: Logged as customer issue #{issue_id}.{where}"
    return f"This is already logged as customer issue #{issue_id}.{where}"


SUPPORT_USAGE = (
    "*Supportbridge* — customer issues in Slack.\n"
    "• `/support report` — log a customer issue with a form\n"
    "• `/support search <words>` — find past and open issues (only you see the answer)\n"
    "• `/support digest [7d|30d]` — preview the complaint digest, with a button to post it\n"
    "• `/support macro add|list|remove` — saved answers for replying to customers\n"
    "• `/support help` — this help\n"
    "You can also log any message: its ⋮ menu → *Log as customer issue*, "
    "or react with the configured emoji in a monitored channel."
)


def unknown_subcommand(word: str) -> str:
    shown = escape(word)[:40]
    return f"I don't know `/support {shown}`.\n\n{SUPPORT_USAGE}"


EMAIL_REPLY_PREVIEW_MAX = 2500


def render_email_reply(
    from_name: str | None, from_email: str, subject: str, text: str
) -> tuple[list[dict[str, Any]], str]:
    """A customer's e-mail reply, posted in the issue card's thread. Customer text escaped, bounded."""
    who = escape(f"{from_name} <{from_email}>" if from_name else from_email)
    quoted = escape(truncate(text.strip(), EMAIL_REPLY_PREVIEW_MAX)) or "_(no text)_"
    quoted = "\n".join(f">{line}" for line in quoted.splitlines() or [""])
    blocks = [
        context(f":envelope_with_arrow: Reply by e-mail from {who}"),
        section(quoted, verbatim=True),
    ]
    fallback = truncate(f"Reply by e-mail from {who}: {escape(subject)}", 300)
    return blocks, fallback


CUSTOMER_ANSWER_PREVIEW_MAX = 1500


def render_customer_answer(
    source_label: str,
    company: str | None,
    author_name: str | None,
    author_email: str | None,
    text: str,
) -> tuple[list[dict[str, Any]], str]:
    """A customer's answer through a helpdesk ("💬 *Globex* answered by Intercom:"), posted in the
    issue card's thread: the customer's company, else the author's name or address; the text
    quoted. Customer text (and the source, the sender's word) escaped and bounded."""
    author = clean_line(author_name or author_email or "").strip()
    who = clean_line(company or "").strip() or author or "The customer"
    shown = f"*{escape(truncate(who, 80))}*"
    if author and author != who and author.casefold() != who.casefold():
        shown += f" ({escape(truncate(author, 80))})"
    label = escape(truncate(clean_line(source_label), 40))
    quoted = escape(truncate(clean_text(text).strip(), CUSTOMER_ANSWER_PREVIEW_MAX)) or "_(no text)_"
    quoted = "\n".join(f">{line}" for line in quoted.splitlines() or [""])
    blocks = [section(f"💬 {shown} answered by {label}:\n{quoted}", verbatim=True)]
    fallback = truncate(f"💬 {escape(who)} answered by {label}", 300)
    return blocks, fallback


AUTO_MERGE_LINES = 20


def render_auto_merge_note(
    merged: list[tuple[int, str, str | None]],
    more: int,
    customers: int,
    unmerged: frozenset[int] = frozenset(),
) -> tuple[list[dict[str, Any]], str]:
    """ "+1 from Globex via E-mail" for each report merged at intake (issue id, source label, who),
    each with its Unmerge button — or, once taken out again (`unmerged`), struck through with no
    button; `more` beyond those listed. Customer names are escaped."""
    from bot.ids import Action
    from bot.views.blocks import button, encode_state

    blocks: list[dict[str, Any]] = []
    for issue_id, source, who in merged:
        name = escape(truncate(who, 80)) if who else "a report with no customer yet"
        line = f"+1 from *{name}* via {escape(source)} (#{issue_id})"
        if issue_id in unmerged:
            blocks.append(section(f":heavy_minus_sign: ~{line}~ unmerged: a problem of its own again"))
            continue
        block = section(f":heavy_plus_sign: {line}")
        block["accessory"] = button("Unmerge", Action.UNMERGE, encode_state(issue=issue_id))
        blocks.append(block)
    total = len(merged) + more
    plural = "s" if customers != 1 else ""
    tail = f"and {more} more; " if more else ""
    blocks.append(
        context(f"Merged automatically as the same problem: {tail}{customers} customer{plural} now.")
    )
    reports = f"{total} report{'s' if total != 1 else ''}"
    fallback = f"+{reports} merged into this problem; {customers} customer{plural} now"
    return blocks, fallback


def _issue_name(issue_id: int, subject: str, link: str | None) -> str:
    """ "#12 · Subject", linked to its card when the link is Slack's (customer text escaped)."""
    name = f"#{issue_id} · {escape(truncate(subject, 150))}"
    return f"<{link}|{name}>" if link and link.startswith("https://") else name


def render_claim_released(
    actor: str, issue_id: int, subject: str, link: str | None
) -> tuple[list[dict[str, Any]], str]:
    """The direct message to someone whose claim another person released."""
    name = _issue_name(issue_id, subject, link)
    text = f"<@{actor}> released your claim on customer issue {name}; it is unclaimed again."
    return [section(text)], truncate(f"<@{actor}> released your claim on customer issue #{issue_id}", 300)


def render_severity_pointer(
    actor: str, issue_id: int, subject: str, severity: str, link: str | None, channel: str
) -> tuple[list[dict[str, Any]], str]:
    """A pointer in the channel a raised severity routes to; the card stays where it was posted."""
    name = _issue_name(issue_id, subject, link)
    text = f":rotating_light: <@{actor}> raised {name} to *{escape(severity)}*; its card is in <#{channel}>."
    return [section(text)], truncate(f"Customer issue #{issue_id} raised to {severity}", 300)


def _mention(slack_id: str) -> str:
    """A configured Slack user (U…/W…) or user group (S…) id as a mention."""
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def _who(actor: str | None) -> str:
    return f"<@{actor}>" if actor else "Someone"


def render_triage_note(
    kind: str, actor: str | None, detail: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """One line in the card's thread saying who did what."""
    who = _who(actor)
    if kind == "claimed":
        text = f":raising_hand: {who} is on it."
    elif kind == "released":
        was = detail.get("was")
        whose = f"<@{was}>'s claim" if was and was != actor else "the issue"
        text = f"{who} released {whose}; it is unclaimed again."
    elif kind == "resolved":
        text = f":white_check_mark: {who} resolved the issue."
    elif kind == "reopened":
        text = f":arrows_counterclockwise: {who} reopened the issue."
    elif kind == "severity":
        before, after = escape(str(detail.get("from"))), escape(str(detail.get("to")))
        text = f"{who} changed the severity from {before} to {after}."
    elif kind == "merged":
        text = f":link: {who} merged this report into #{int(detail.get('into') or 0)}."
    elif kind == "merged_in":
        merged = ", ".join(f"#{int(i)}" for i in detail.get("issues") or [])
        count = int(detail.get("customers") or 0)
        customers = f"{count} customer{'s' if count != 1 else ''}"
        text = f":link: {who} merged {merged} into this problem; {customers} now."
    elif kind == "unmerged":
        text = f"{who} took this report out of #{int(detail.get('from') or 0)}; it stands on its own again."
    elif kind == "unmerged_out":
        count = int(detail.get("customers") or 0)
        text = (
            f"{who} took #{int(detail.get('issue') or 0)} out of this problem; "
            f"{count} customer{'s' if count != 1 else ''} now."
        )
    elif kind == "customer_set":
        count = int(detail.get("customers") or 0)
        text = f"{who} set the customer of this report; {count} customer{'s' if count != 1 else ''} now."
    elif kind == "escalation_requested":
        again = " again" if detail.get("retry") else ""
        text = f":outbox_tray: {who} is escalating this to Jira{again}…"
    elif kind == "escalated":
        text = f":white_check_mark: Escalated to Jira as *{escape(str(detail.get('key')))}* by {who}."
    elif kind == "escalation_linked":
        text = f":link: {who} linked this to the existing Jira issue *{escape(str(detail.get('key')))}*."
    elif kind == "escalation_failed":
        reason = escape(truncate(str(detail.get("error") or "unknown error"), 300))
        text = f":warning: The Jira escalation failed: {reason}. Use *Retry escalation* on the card."
    elif kind == "jira_updated":
        by = f" by {escape(str(detail['by']))}" if detail.get("by") else ""
        parts = []
        for field, before, after in detail.get("changes") or []:
            shown_after = escape(truncate(str(after), 100)) if after else "none"
            shown_before = escape(truncate(str(before), 100)) if before else "none"
            parts.append(f"{escape(str(field))}: {shown_before} → *{shown_after}*")
        text = f":ticket: *{escape(str(detail.get('key')))}* changed{by}: " + "; ".join(parts)
    elif kind == "jira_deleted":
        text = (
            f":wastebasket: *{escape(str(detail.get('key')))}* was deleted in Jira; "
            "this problem is no longer escalated."
        )
    elif kind == "rationale":
        quoted = escape(truncate(str(detail.get("text") or ""), 2500))
        quoted = "\n".join(f">{line}" for line in quoted.splitlines() or [""])
        text = f":memo: {who} explained why this won't be done (for support to reuse):\n{quoted}"
        blocks = [section(text, verbatim=True)]
        problem = detail.get("problem")
        if isinstance(problem, int) and not isinstance(problem, bool) and problem > 0:
            blocks.append(
                actions(
                    [button("Save as macro", Action.MACRO_SAVE, encode_state(problem=problem))],
                    block_id=encode_state(problem=problem, part="macro"),
                )
            )
        return blocks, truncate(f"{who} explained why this won't be done", 300)
    elif kind == "sla_reminder":
        target = escape(str(detail.get("target") or ""))
        # The route's owners, else the on-duty group: a reminder that names nobody is read by nobody.
        who_answers = [str(o) for o in detail.get("owners") or []] or (
            [str(detail["group"])] if detail.get("group") else []
        )
        mentions = "".join(_mention(o) + " " for o in who_answers)
        text = (
            f":alarm_clock: {mentions}Nobody has claimed this yet; "
            f"the first-response target ({target}) is reached."
        )
    elif kind == "sla_escalation":
        target = escape(str(detail.get("target") or ""))
        group = detail.get("group")
        mention = f"<!subteam^{group}> " if group else ""
        text = f":rotating_light: {mention}still unclaimed at twice the first-response target ({target})."
    elif kind == "seen_while_shadowing":
        text = f":eyes: {who} saw this while shadowing support."
    elif kind == "tags":
        parts = []
        if detail.get("added"):
            parts.append("added " + ", ".join(f"`{escape(t)}`" for t in detail["added"]))
        if detail.get("removed"):
            parts.append("removed " + ", ".join(f"`{escape(t)}`" for t in detail["removed"]))
        text = f":label: {who} " + " and ".join(parts) + "."
    else:
        text = f"{who}: {escape(kind)}"
    return [context(text)], text
