"""Every action_id, callback_id and block_id the bot puts on the wire.

These are a contract with messages already posted in Slack: renaming a member here would break the
buttons on every card out there, so values never change once shipped; add new ones instead.
"""

from __future__ import annotations

from enum import StrEnum


class Callback(StrEnum):
    LOG_MESSAGE_SHORTCUT = "issue.log_message"  # message shortcut "Log as customer issue"
    REPORT_MODAL = "issue.report"  # the modal behind the shortcut and `/support report`


class Action(StrEnum):
    OPEN_LINK = "issue.open_link"  # URL buttons: Slack still sends a block_actions that must be acked
    OPEN_SLACK_MESSAGE = "issue.open_slack_message"
    CLAIM = "issue.claim"  # "I'm on it": records the first response
    RELEASE = "issue.release"
    RESOLVE = "issue.resolve"
    REOPEN = "issue.reopen"
    SET_SEVERITY = "issue.severity"
    SET_TAGS = "issue.tags"


class Block(StrEnum):
    REPORT_SUBJECT = "report.subject"
    REPORT_BODY = "report.body"
    REPORT_CUSTOMER_NAME = "report.customer_name"
    REPORT_CUSTOMER_EMAIL = "report.customer_email"
    REPORT_CUSTOMER_COMPANY = "report.customer_company"
    REPORT_PRODUCT_AREA = "report.product_area"
    REPORT_SEVERITY = "report.severity"
    REPORT_TAGS = "report.tags"


# In an input block, the element's action_id; one value for every input keeps lookups simple.
INPUT = "value"
