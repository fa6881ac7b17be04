"""What we send Jira, without Jira: parsing a key or link someone pastes, and the wiki-markup text of an
escalation (customer text escaped, bounded)."""

from __future__ import annotations

import pytest

from bot.views.jira_text import render_escalation_description, render_new_customers_comment
from integrations.jira_client import parse_key

# --------------------------------------------------------------------------- parse_key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("PROJ-12", "PROJ-12"),
        (" proj-12 ", "PROJ-12"),
        ("AB_2-7", "AB_2-7"),
        ("https://acme.atlassian.net/browse/PROJ-12", "PROJ-12"),
        ("https://acme.atlassian.net/browse/proj-12?focusedCommentId=10001", "PROJ-12"),
        ("https://acme.atlassian.net/jira/software/projects/PROJ/issues/PROJ-12", "PROJ-12"),
        (
            "https://acme.atlassian.net/jira/software/c/projects/PROJ/boards/1?selectedIssue=PROJ-12",
            "PROJ-12",
        ),
        ("https://jira.example.com/jira/browse/OPS-3/", "OPS-3"),
        ("<https://acme.atlassian.net/browse/PROJ-12|PROJ-12>", "PROJ-12"),
        ("PROJ", None),
        ("PROJ-", None),
        ("PROJ-0", None),
        ("P-12", None),  # Jira project keys have at least two characters
        ("12-PROJ", None),
        ("PROJ-12 and PROJ-13", None),
        ("see PROJ-12", None),
        ("https://acme.atlassian.net/jira/software/projects/PROJ/boards/1", None),
        ("ftp://acme.atlassian.net/browse/PROJ-12", None),
        ("", None),
    ],
)
def test_parse_key(text: str, key: str | None) -> None:
    assert parse_key(text) == key


# --------------------------------------------------------------------------- the text we send (pure)
# (bot/views/jira_text.py; kept here with the gateway that sends it)

NORMAL_DESCRIPTION = """\
h3. Customer problem #42

*Customers affected:* 3 customers (4 reports)
*Severity:* high
*Sources:* zendesk, email
*Tags:* billing, checkout
*Discussion:* [Open the Slack thread|https://acme.slack.com/archives/C0123/p1718000000000100]

h3. What customers say

{quote}
*Acme Corp* (Zendesk):
Checkout fails with "card declined" since the 2024-06-01 release.
We lose sales \\- please help\\!
{quote}

{quote}
*Jane Doe* (E-mail):
Same here: the log-in works but paying doesn't.
{quote}

_Escalated from Slack by Supportbridge. New customers reporting this problem are added as comments._"""


def test_escalation_description_normal() -> None:
    text = render_escalation_description(
        problem_id=42,
        customer_count=3,
        report_count=4,
        quotes=[
            (
                "Zendesk",
                "Acme Corp",
                'Checkout fails with "card declined" since the 2024-06-01 release.\r\n'
                "We lose sales - please help!",
            ),
            ("E-mail", "Jane Doe", "Same here: the log-in works but paying doesn't.  "),
        ],
        sources=["zendesk", "email"],
        slack_permalink="https://acme.slack.com/archives/C0123/p1718000000000100",
        tags=["billing", "checkout"],
        severity="high",
    )
    assert text == NORMAL_DESCRIPTION


HOSTILE_TEXT = (
    "{code}\n"
    "h1. PWNED\n"
    "[~accountid:5b10ac8d82e05b22cc7d4ef5] please look\n"
    "[Approve refund|https://evil.example/x]\n"
    "!https://evil.example/pixel.png!\n"
    "* item\n"
    "  # one\n"
    "|| a || b ||\n"
    "----\n"
    "{noformat}\n"
    "C:\\Users\\bob\\ and \\\\ break\n"
    "*bold* _it_ -strike- +u+ ^sup^ ~sub~ ??cite?? {{mono}} {color:red}x{color}\n"
    "&#91;entity&#93; &amp; AT&T\x00\x1b\n"
    "bq. quoted"
)

HOSTILE_DESCRIPTION = r"""h3. Customer problem #7

*Customers affected:* 1 customer (1 report)
*Severity:* \*urgent\*
*Sources:* \{panel\}
*Tags:* a\|b

h3. What customers say

{quote}
*\[Mallory\|https://evil\]* (Web form \]\|):
\{code\}
h1\. PWNED
\[\~accountid:5b10ac8d82e05b22cc7d4ef5\] please look
\[Approve refund\|https://evil.example/x\]
\!https://evil.example/pixel.png\!
\* item
  \# one
\|\| a \|\| b \|\|
\-\-\-\-
\{noformat\}
C:&#92;Users&#92;bob&#92; and &#92;&#92; break
\*bold\* \_it\_ \-strike\- \+u\+ \^sup\^ \~sub\~ \?\?cite\?\? \{\{mono\}\} \{color:red\}x\{color\}
&amp;#91;entity&amp;#93; &amp;amp; AT&T
bq\. quoted
{quote}

{quote}
*A customer* (unknown source):
_(no text)_
{quote}

_Escalated from Slack by Supportbridge. New customers reporting this problem are added as comments._"""


def test_escalation_description_hostile() -> None:
    text = render_escalation_description(
        problem_id=7,
        customer_count=1,
        report_count=1,
        quotes=[("Web form ]|", "[Mallory|https://evil]", HOSTILE_TEXT), ("", "  ", "")],
        sources=["{panel}"],
        slack_permalink="javascript:alert(1)//https://x",  # not a link we will write
        tags=["a|b"],
        severity="*urgent*",
    )
    assert text == HOSTILE_DESCRIPTION


def test_escalation_description_stays_under_jiras_limit() -> None:
    from bot.views.jira_text import DESCRIPTION_MAX, QUOTE_MAX

    worst = "\\" * 5000  # every character escapes to five
    text = render_escalation_description(
        problem_id=1,
        customer_count=10_000,
        report_count=20_000,
        quotes=[("src" * 100, worst, worst)] * 8,
        sources=[worst] * 50,
        slack_permalink="https://acme.slack.com/archives/C1/p1",
        tags=[worst] * 50,
        severity=worst,
    )
    assert len(text) <= DESCRIPTION_MAX
    assert text.count("{quote}") % 2 == 0 and 2 <= text.count("{quote}") < 10  # whole quotes dropped
    assert text.endswith("added as comments._")
    assert "more quotes in Slack" in text and "and 30 more" in text
    who, said = text.split("{quote}")[1].strip("\n").split("\n")
    assert who.count("&#92;") == 99  # names: 100 characters at most
    assert said == "&#92;" * (QUOTE_MAX - 1) + "…"  # cut before escaping, with an ellipsis


def test_new_customers_comment() -> None:

    assert render_new_customers_comment([("Acme Corp", "zendesk"), ("[~accountid:x]", "e-mail")], 5) == (
        "*2 more customers* reported this problem (now 5 customers in total):\n"
        "* Acme Corp (zendesk)\n"
        "* \\[\\~accountid:x\\] (e-mail)"
    )
    assert render_new_customers_comment([("Bob\nSmith", "intercom")], 2) == (
        "*1 more customer* reported this problem (now 2 customers in total):\n* Bob Smith (intercom)"
    )
    many = render_new_customers_comment([(f"C{i}", "web") for i in range(60)], 65)
    assert many.count("\n* ") == 51 and many.endswith("* …and 10 more")
