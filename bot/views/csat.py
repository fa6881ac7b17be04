"""Satisfaction surveys: the question sent to a customer, the small pages its links open, and the low
score's line in the card's thread. Pure: plain values in, text, HTML or blocks out."""

from __future__ import annotations

import html

from bot.views.blocks import Blocks, escape, section, truncate

SCORE_WORDS = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Excellent"}
NOTE_COMMENT_MAX = 1000


def survey_links(public_url: str, token: str) -> list[tuple[int, str]]:
    return [(score, f"{public_url}/csat/{token}?score={score}") for score in sorted(SCORE_WORDS)]


def render_survey_text(question: str, subject: str, name: str | None, links: list[tuple[int, str]]) -> str:
    """The plain-text message: the question about the problem, and one link per score."""
    first = (name or "").split()[0] if (name or "").split() else "there"
    lines = [
        f"Hi {first},",
        "",
        f'{question} We recently told you that the problem you reported, "{truncate(subject, 200)}", '
        "is fixed. Please rate how we handled it, from 1 (very poor) to 5 (excellent), by opening one of "
        "these links:",
        "",
    ]
    lines += [f"{score} - {SCORE_WORDS[score]}: {url}" for score, url in links]
    lines += ["", "Each link works once. Thank you!"]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d1c1d}"
    "textarea{width:100%;min-height:6rem;font:inherit}button{font:inherit;padding:.4rem 1rem}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def render_thanks_page(score: int, comment_action: str | None, max_comment: int) -> str:
    """After a score: thanks and, while a comment is still taken, a form for one."""
    body = f"<h1>Thank you</h1><p>You rated us {score}/5 ({html.escape(SCORE_WORDS[score])}).</p>"
    if comment_action:
        body += (
            f'<form method="post" action="{html.escape(comment_action)}">'
            '<p><label for="comment">Anything you would like to add? (optional)</label></p>'
            f'<textarea id="comment" name="comment" maxlength="{max_comment}" required></textarea>'
            '<p><button type="submit">Send</button></p></form>'
        )
    return _page("Thank you", body)


def render_comment_thanks_page() -> str:
    return _page("Thank you", "<h1>Thank you</h1><p>We have your comment.</p>")


def render_not_found_page() -> str:
    return _page("Not found", "<h1>Not found</h1><p>This link does not work (any more).</p>")


def render_unavailable_page() -> str:
    return _page("Try again later", "<h1>Try again later</h1><p>We could not take your answer just now.</p>")


def render_bad_request_page(reason: str) -> str:
    return _page("Bad request", f"<h1>Bad request</h1><p>{html.escape(reason)}</p>")


def render_low_score_note(customer: str, score: int, comment: str | None) -> tuple[Blocks, str]:
    """ "😞 Globex rated 2/5: <comment>" in the card's thread."""
    who = escape(truncate(customer, 150))
    text = f":disappointed: {who} rated {score}/5"
    if comment:
        quoted = escape(truncate(comment, NOTE_COMMENT_MAX)).replace("\n", "\n>")
        body = f"{text}:\n>{quoted}"
    else:
        body = text
    return [section(body, verbatim=True)], f"{truncate(customer, 150)} rated {score}/5"
