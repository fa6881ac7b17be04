"""Text we write into Jira: issue descriptions and comments, in Jira wiki markup (REST v2, which
the `jira` package speaks). Pure functions, no I/O.

Customer text is untrusted. Unescaped, ``{code}`` or ``{noformat}`` would swallow the rest of the
description, ``[~accountid:…]`` would notify a Jira user, ``[Approve|https://evil]`` would be a
disguised link, ``!https://tracker/pixel.png!`` would load an image, and ``h1.``/``*``/``#``/``|``
at a line start would turn a quote into headings, lists or tables. :func:`escape_wiki` makes every
such character literal with Jira's backslash escape ("\\X: escape special character X",
https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all). A backslash itself cannot
be escaped that way (``\\\\`` is a forced line break), so it becomes the entity ``&#92;``.
"""

from __future__ import annotations

import re

DESCRIPTION_MAX = 32_767  # Jira's limit for a text field
COMMENT_MAX = 32_767
QUOTE_MAX = 1_000  # characters of one customer quote, before escaping
QUOTES_MAX = 5
NAME_MAX = 100  # a customer's display name or a source label
TAG_MAX = 50
LIST_MAX = 20  # tags or sources shown
COMMENT_CUSTOMERS_MAX = 50
ELLIPSIS = "…"

# Always markup: macros {code} {noformat} {color} {{mono}}, links and mentions [..|..] [~accountid:..],
# tables |, images !..!.
_ALWAYS = frozenset("{}[]|!")
# Text effects *bold* _italic_ -strike- +under+ ^sup^ ~sub~ (and lists * - at a line start): Jira
# only sees them at a word's edge, so "log-in", "snake_case" and "2024-01-01" stay readable.
_EFFECTS = frozenset("*_-+^~")
_BLOCK_MARKER = re.compile(r"^(\s*)(h[1-6]|bq)\.", re.IGNORECASE)
_ENTITY = re.compile(r"&(?=#\d+;|#x[0-9a-f]+;|[a-z][a-z0-9]*;)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SAFE_URL = re.compile(r"^https?://[^\s\[\]|{}!<>\"\\]+$")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def escape_wiki(text: str) -> str:
    """``text`` shown literally in Jira wiki markup (newlines kept)."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(_escape_line(line) for line in text.split("\n"))


def _escape_line(line: str) -> str:
    line = _ENTITY.sub("&amp;", line)
    out: list[str] = []
    block = _BLOCK_MARKER.match(line)
    start = 0
    if block:
        # "h1. Title" / "bq. quote" only act at a line start; "h1\." is plain text.
        out.append(_escape_chars(block.group(1) + block.group(2), line, 0) + "\\.")
        start = block.end()
    out.append(_escape_chars(line[start:], line, start))
    return "".join(out)


def _escape_chars(segment: str, line: str, offset: int) -> str:
    out: list[str] = []
    for index, char in enumerate(segment, start=offset):
        before = line[index - 1] if index > 0 else ""
        after = line[index + 1] if index + 1 < len(line) else ""
        if char == "\\":
            out.append("&#92;")
        elif char in _ALWAYS:
            out.append("\\" + char)
        elif char in _EFFECTS:
            inside_word = before.isalnum() and after.isalnum()
            out.append(char if inside_word else "\\" + char)
        elif char == "#" and not line[:index].strip():
            out.append("\\#")  # a numbered list at a line start
        elif char == "?" and "?" in (before, after):
            out.append("\\?")  # ??citation??
        else:
            out.append(char)
    return "".join(out)


def _inline(text: str, limit: int) -> str:
    """A short value on one line: whitespace collapsed, bounded, escaped."""
    return escape_wiki(truncate(" ".join(text.split()), limit))


def _link(url: str | None, label: str) -> str | None:
    """A wiki link, only for a plain http(s) URL that cannot break out of the ``[label|url]``."""
    if url is None or not _SAFE_URL.match(url) or len(url) > 2_000:
        return None
    return f"[{label}|{url}]"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listing(values: list[str]) -> str:
    shown = [_inline(v, TAG_MAX) for v in values[:LIST_MAX] if v.strip()]
    if len(values) > LIST_MAX:
        shown.append(f"and {len(values) - LIST_MAX} more")
    return ", ".join(shown) if shown else "none"


def _quote(source: str, customer: str, text: str) -> str:
    body = escape_wiki(truncate(text.strip(), QUOTE_MAX)) or "_(no text)_"
    who = (
        f"*{_inline(customer, NAME_MAX) or 'A customer'}* ({_inline(source, NAME_MAX) or 'unknown source'}):"
    )
    return f"{{quote}}\n{who}\n{body}\n{{quote}}"


def render_escalation_description(
    *,
    problem_id: int,
    customer_count: int,
    report_count: int,
    quotes: list[tuple[str, str, str]],
    sources: list[str],
    slack_permalink: str | None,
    tags: list[str],
    severity: str,
) -> str:
    """The description of the Jira issue an escalation creates. ``quotes`` are
    ``(source label, customer display, text)``; at most five are shown, each at most 1,000
    characters; the whole stays under Jira's 32,767-character limit."""
    thread = _link(slack_permalink, "Open the Slack thread")
    head = [
        f"h3. Customer problem #{problem_id}",
        "",
        f"*Customers affected:* {_plural(customer_count, 'customer')} ({_plural(report_count, 'report')})",
        f"*Severity:* {_inline(severity, TAG_MAX)}",
        f"*Sources:* {_listing(sources)}",
        f"*Tags:* {_listing(tags)}",
    ]
    if thread:
        head.append(f"*Discussion:* {thread}")
    footer = [
        "",
        "_Escalated from Slack by Supportbridge. New customers reporting this problem are added "
        "as comments._",
    ]
    chosen = [_quote(*q) for q in quotes[:QUOTES_MAX]]
    while True:
        body = ["", "h3. What customers say", ""]
        if chosen:
            body.append("\n\n".join(chosen))
        else:
            body.append("_No customer text was recorded._")
        hidden = len(quotes) - len(chosen)
        if hidden > 0:
            body.extend(["", f"_…and {_plural(hidden, 'more quote')} in Slack._"])
        text = "\n".join(head + body + footer)
        if len(text) <= DESCRIPTION_MAX or not chosen:
            return text[:DESCRIPTION_MAX]
        chosen.pop()  # drop whole quotes rather than cut markup in half


def render_rationale_comment(text: str) -> str:
    """The won't-do rationale product wrote in Slack (for support to reuse with customers)."""
    body = escape_wiki(truncate(text.strip(), COMMENT_MAX - 200)) or "_(no text)_"
    return (
        f"*Won't do — why*, as written in Slack for support to tell customers:\n{{quote}}\n{body}\n{{quote}}"
    )


def render_new_customers_comment(customers: list[tuple[str, str]], total_customers: int) -> str:
    """A comment on the Jira issue when more customers report the problem: ``(display, source)``."""
    shown = customers[:COMMENT_CUSTOMERS_MAX]
    lines = [
        f"*{_plural(len(customers), 'more customer')}* reported this problem "
        f"(now {_plural(total_customers, 'customer')} in total):"
    ]
    lines.extend(
        f"* {_inline(name, NAME_MAX) or 'A customer'} ({_inline(source, NAME_MAX) or 'unknown source'})"
        for name, source in shown
    )
    if len(customers) > len(shown):
        lines.append(f"* …and {len(customers) - len(shown)} more")
    return truncate("\n".join(lines), COMMENT_MAX)
