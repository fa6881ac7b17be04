"""Every action_id, callback_id and block_id the bot puts on the wire.

These are a contract with messages already posted in Slack: renaming a member here would break the
buttons on every card out there, so values never change once shipped; add new ones instead.
"""

from __future__ import annotations

from enum import StrEnum


class Callback(StrEnum):
    LOG_MESSAGE_SHORTCUT = "issue.log_message"  # message shortcut "Log as customer issue"
    REPORT_MODAL = "issue.report"  # the modal behind the shortcut and `/support report`
    ESCALATE_MODAL = "issue.escalate_details"  # "Escalate with details…"
    LINK_JIRA_MODAL = "issue.link_jira"  # "Link an existing Jira issue"
    RATIONALE_MODAL = "problem.rationale"  # why a problem won't be done
    SHADOW_FEEDBACK_MODAL = "shadow.feedback"  # what a shadow learned, which problems they saw
    RELEASE_MODAL = "release.new"  # `/release new`: announce a release
    SET_CUSTOMER_MODAL = "issue.set_customer"  # who the customer of a report is
    REPLY_MODAL = "issue.reply"  # "Reply to customer": the text sent through the report's channel
    TELL_ALL_MODAL = "problem.tell_all"  # "Tell all N customers…": the fix notice, sent to each
    MACRO_MODAL = "macro.save"  # a new macro: `/support macro add` without text, or "Save as macro"


class Action(StrEnum):
    OPEN_LINK = "issue.open_link"  # URL buttons: Slack still sends a block_actions that must be acked
    OPEN_SLACK_MESSAGE = "issue.open_slack_message"
    CLAIM = "issue.claim"  # "I'm on it": records the first response
    RELEASE = "issue.release"
    RESOLVE = "issue.resolve"
    REOPEN = "issue.reopen"
    SET_SEVERITY = "issue.severity"
    SET_TAGS = "issue.tags"
    MERGE_INTO = "issue.merge_into"  # "Same problem as…": an external select searching open problems
    MERGE_SUGGESTED = "issue.merge_suggested"  # one-click merge into a suggested similar problem
    UNMERGE = "issue.unmerge"
    SET_CUSTOMER = "issue.set_customer"  # "Set customer" on a report logged without one
    OPEN_PROBLEM = "issue.open_problem"  # URL button to the problem's card
    ESCALATE = "issue.escalate"
    ESCALATE_MORE = "issue.escalate_more"  # overflow: with details… / link an existing issue
    ESCALATE_RETRY = "issue.escalate_retry"
    # "Escalate with details…": external selects answered from Jira's create metadata
    ESCALATE_PICK_PROJECT = "escalate.pick_project"
    ESCALATE_PICK_TYPE = "escalate.pick_issue_type"
    ESCALATE_PICK_PRIORITY = "escalate.pick_priority"
    OPEN_JIRA = "issue.open_jira"  # URL button to the Jira issue
    MARK_NOTIFIED = "problem.mark_notified"  # one customer told of the fix
    MARK_ALL_NOTIFIED = "problem.mark_all_notified"
    WRITE_RATIONALE = "problem.write_rationale"  # opens the won't-do rationale modal
    SHADOW_SIGN_UP = "shadow.sign_up"  # book a seat (or join the waitlist when full)
    SHADOW_MORE = "shadow.more"  # overflow on a listed session: cancel my booking / offer my seat
    SHADOW_CANCEL = "shadow.cancel"  # give up my seat or waitlist place
    SHADOW_OFFER = "shadow.offer"  # put my seat on offer for anyone to take
    SHADOW_TAKE = "shadow.take"  # take a seat someone offered
    SHADOW_BOOK_FOR = "shadow.book_for"  # book a suggested session for the new hire being onboarded
    SHADOW_FEEDBACK = "shadow.give_feedback"  # opens the feedback modal after a session
    SHADOW_FEEDBACK_PROBLEMS = "shadow.feedback_problems"  # problems seen: external multi-select
    OPEN_SESSION_LINK = "shadow.open_link"  # URL button to a session's call link
    OPEN_RELEASE_LINK = "release.open_link"  # URL button to a release's notes
    DIGEST_POST = "digest.post"  # on a `/support digest` preview: post it to the digest channel
    REPLY = "issue.reply"  # "Reply to customer" on a card: opens the reply form
    REPLY_RETRY = "reply.retry"  # on a failed reply's thread line: send it again
    TELL_ALL = "problem.tell_all"  # on the customers to tell: opens the fix-notice form
    MACRO_SAVE = "macro.save"  # "Save as macro" on a sent reply's line or a won't-do rationale
    MACRO_REMOVE = "macro.remove"  # "Remove" on `/support macro list`
    REPLY_MACRO = "reply.macro"  # the reply form's macro picker: an external select that fills the text


class Block(StrEnum):
    REPORT_SUBJECT = "report.subject"
    REPORT_BODY = "report.body"
    REPORT_CUSTOMER_NAME = "report.customer_name"
    REPORT_CUSTOMER_EMAIL = "report.customer_email"
    REPORT_CUSTOMER_COMPANY = "report.customer_company"
    REPORT_PRODUCT_AREA = "report.product_area"
    REPORT_SEVERITY = "report.severity"
    REPORT_TAGS = "report.tags"
    CUSTOMER_NAME = "customer.name"
    CUSTOMER_EMAIL = "customer.email"
    CUSTOMER_COMPANY = "customer.company"
    ESCALATE_PROJECT = "escalate.project"
    ESCALATE_TYPE = "escalate.issue_type"
    ESCALATE_PRIORITY = "escalate.priority"
    ESCALATE_SUMMARY = "escalate.summary"
    LINK_JIRA_KEY = "link_jira.key"
    RATIONALE_TEXT = "rationale.text"
    REPLY_TEXT = "reply.text"
    TELL_ALL_TEXT = "tell_all.text"
    REPLY_MACRO = "reply.macro"
    MACRO_NAME = "macro.name"
    MACRO_TEXT = "macro.text"
    MACRO_AREA = "macro.product_area"
    SHADOW_LEARNED = "shadow.learned"
    SHADOW_PROBLEMS = "shadow.problems"
    RELEASE_VERSION = "release.version"
    RELEASE_DATE = "release.date"
    RELEASE_TIME = "release.time"
    RELEASE_SUMMARY = "release.summary"
    RELEASE_HIGHLIGHTS = "release.highlights"
    RELEASE_LINK = "release.link"
    RELEASE_CHANNELS = "release.channels"


# Options of the escalation overflow menu.
ESCALATE_WITH_DETAILS = "details"
LINK_EXISTING = "link"


# In an input block, the element's action_id; one value for every input keeps lookups simple.
INPUT = "value"
