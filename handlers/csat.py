"""GET /csat/{token}?score=N and POST /csat/{token} (comment=…): a customer's answer to a satisfaction
survey. No Slack signature and no login: the link's secret is the credential, good once for a score and
once for a comment within an hour after it. An unknown, expired or used link is a 404 page with no
detail; a bad score or comment a 400 page saying what is wrong. Plain HTML, no external assets.
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import parse_qs

from aiohttp import web

from bot.runtime import Runtime
from bot.services import csat
from bot.views import csat as pages
from db.session import DatabaseUnavailable, Work, answer_within
from handlers.common import runtime_of_request

T = TypeVar("T")

DEADLINE_SECONDS = 2.5
# A comment of 1,000 characters, form-encoded, is at most about 9 KB (three bytes per escaped byte).
MAX_FORM_BYTES = 16 * 1024
PAGE_HEADERS = {
    # The secret is in the address: keep it out of caches, referrers and search engines.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def page(status: int, body: str) -> web.Response:
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS
    )


def not_found() -> web.Response:
    return page(404, pages.render_not_found_page())


def unavailable() -> web.Response:
    response = page(503, pages.render_unavailable_page())
    response.headers["Retry-After"] = "5"
    return response


async def answer(request: web.Request) -> web.Response:
    runtime = runtime_of_request(request)
    token = request.match_info["token"]
    raw_score = request.query.get("score")
    result = await _survey(runtime, lambda conn: csat.answer(conn, runtime.config, token, raw_score))
    if isinstance(result, web.Response):
        return result
    action = f"/csat/{token}" if result.can_comment else None
    return page(200, pages.render_thanks_page(result.score, action, csat.COMMENT_MAX_CHARS))


async def comment(request: web.Request) -> web.Response:
    runtime = runtime_of_request(request)
    token = request.match_info["token"]
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return page(413, pages.render_bad_request_page("The comment is too long."))
    try:
        body = await request.content.read(MAX_FORM_BYTES + 1)
    except (web.HTTPRequestEntityTooLarge, ConnectionError):
        return page(413, pages.render_bad_request_page("The comment is too long."))
    if len(body) > MAX_FORM_BYTES:
        return page(413, pages.render_bad_request_page("The comment is too long."))
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return page(400, pages.render_bad_request_page("The form could not be read."))
    text = (form.get("comment") or [""])[0]
    done = await _survey(runtime, lambda conn: csat.add_comment(conn, runtime.config, token, text))
    if isinstance(done, web.Response):
        return done
    return page(200, pages.render_comment_thanks_page())


async def _survey(runtime: Runtime, work: Work[T]) -> T | web.Response:
    """`work` on the survey in one transaction, or the page that says why not: 404 for a token that
    is not (or no longer) a survey's, 400 for an answer refused, 503 when the database is down."""
    try:
        return await answer_within(runtime.database.transaction(work), DEADLINE_SECONDS)
    except csat.SurveyGone:
        return not_found()
    except csat.SurveyRefused as exc:
        return page(400, pages.render_bad_request_page(str(exc)))
    except (DatabaseUnavailable, TimeoutError):
        return unavailable()


def register(app: web.Application) -> None:
    # No HEAD: a link checker probing the address must not answer for the customer.
    app.router.add_get("/csat/{token}", answer, allow_head=False)
    app.router.add_post("/csat/{token}", comment)
