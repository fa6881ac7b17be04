"""The sandbox page and its small JSON API, served by the bot's own aiohttp app in sandbox mode only.

`Sandbox.web_app` is the only caller: `create_web_app` for real Slack never registers these routes, so
a production server has no `/` page and no way to sign a request for anyone.

The page is plain HTML, CSS and JavaScript (package data in sandbox/static, no build step). It learns
of changes over server-sent events (`/sandbox/api/events` carries the workspace's revision) and then
reads `/sandbox/api/state`; everything it does goes through a POST here that plays Slack, Jira or a
web form towards the bot (see sandbox/interactions.py and sandbox/signed.py).

Since the page signs requests for whoever drives it, only the page may drive it (`guard`): every API
request carries the token this start gave the page (a header; a query parameter where the browser
cannot set one: server-sent events, images), POSTs are JSON from the page's own origin, and the Host
must be one the sandbox listens as (so a DNS-rebinding page cannot pass for it).
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import RUNTIME
from sandbox import customers, demo, interactions
from sandbox.customers import AnswerRefused
from sandbox.interactions import InteractionRefused, Outcome, Surface, as_object
from sandbox.jira_site import JIRA_MOVES
from sandbox.snapshot import snapshot
from sandbox.stack import Sandbox

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("sandbox").joinpath("static")))
KEEPALIVE_SECONDS = 15.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _outcome(outcome: Outcome) -> web.Response:
    body: dict[str, Any] = {"ok": outcome.ok, "status": outcome.status}
    if outcome.errors:
        body["errors"] = outcome.errors
    if outcome.options is not None:
        body["options"] = outcome.options
    if outcome.option_groups is not None:
        body["option_groups"] = outcome.option_groups
    if outcome.detail:
        body["detail"] = outcome.detail
    return web.json_response(body)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _refusals(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (InteractionRefused, AnswerRefused) as exc:
            return web.json_response({"ok": False, "detail": str(exc)}, status=400)
        except KeyError as exc:
            return web.json_response({"ok": False, "detail": f"unknown {exc}"}, status=404)

    return wrapped


def _acting(sandbox: Sandbox, body: dict[str, Any]) -> str:
    user = str(body.get("as") or "")
    record = sandbox.slack.users.get(user)
    if record is None or record.get("is_bot"):
        raise InteractionRefused(f"no such person {user!r}")
    return user


TOKEN_HEADER = "X-Sandbox-Token"


def guard(sandbox: Sandbox) -> Any:
    """The middleware that lets only the sandbox's own page use its API (see the module docstring)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path == "/" or path.startswith("/sandbox/")):
            return await handler(request)  # the bot's own routes: Slack, intake, health
        if (request.url.host or "").strip("[]").lower() not in sandbox.page_hosts:
            return web.json_response({"ok": False, "detail": "unknown Host for the sandbox"}, status=403)
        if path.startswith("/sandbox/api/"):
            given = request.headers.get(TOKEN_HEADER) or request.query.get("token") or ""
            if not secrets.compare_digest(given.encode(), sandbox.page_token.encode()):
                return web.json_response(
                    {"ok": False, "detail": "only the sandbox page can do that (reload it)"}, status=403
                )
            if request.method == "POST":
                origin = request.headers.get("Origin")
                if origin is not None and origin != f"{request.scheme}://{request.host}":
                    return web.json_response({"ok": False, "detail": "cross-origin request"}, status=403)
                if request.content_type != "application/json":
                    return web.json_response({"ok": False, "detail": "the body must be JSON"}, status=415)
        return await handler(request)

    return middleware


def register(app: web.Application, sandbox: Sandbox) -> None:
    slack, sender = sandbox.slack, sandbox.sender
    page = (STATIC / "index.html").read_text().replace("{{SANDBOX_TOKEN}}", html.escape(sandbox.page_token))

    async def index(_request: web.Request) -> web.Response:
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    async def shared_file(request: web.Request) -> web.Response:
        """A file the bot shared (the digest's chart), as Slack's `url_private` would serve it."""
        shared = slack.files.get(request.match_info["file_id"])
        if shared is None:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(body=shared["content"], content_type=shared["mimetype"])

    async def state(request: web.Request) -> web.Response:
        user = request.query.get("as", "")
        return web.json_response(snapshot(sandbox, user, request.query.get("channel")))

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        queue = slack.subscribe()
        try:
            await response.write(f"event: revision\ndata: {slack.revision}\n\n".encode())
            while True:
                try:
                    revision = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                await response.write(f"event: revision\ndata: {revision}\n\n".encode())
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        finally:
            slack.unsubscribe(queue)
        return response

    @_refusals
    async def action(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        surface = Surface.parse(body.get("surface"))
        chosen = as_object(body.get("action"))
        return _outcome(await interactions.block_action(slack, sender, user, surface, chosen))

    @_refusals
    async def suggest(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        surface = Surface.parse(body.get("surface"))
        return _outcome(await interactions.suggestion(slack, sender, user, surface, body))

    @_refusals
    async def submit(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        values = as_object(body.get("values"))
        return _outcome(await interactions.submit_view(slack, sender, user, str(body.get("view_id")), values))

    @_refusals
    async def close(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        return _outcome(await interactions.close_view(slack, sender, user, str(body.get("view_id"))))

    @_refusals
    async def compose(request: web.Request) -> web.Response:
        """The composer: a slash command, or a message written by the person acting."""
        body = await _json(request)
        user = _acting(sandbox, body)
        channel = str(body.get("channel") or "")
        if channel not in slack.channels:
            raise InteractionRefused(f"no such channel {channel!r}")
        text = str(body.get("text") or "").strip()
        if not text:
            raise InteractionRefused("nothing to send")
        if text.startswith("/"):
            return _outcome(await interactions.slash_command(slack, sender, user, channel, text))
        thread = body.get("thread_ts")
        # Slack's clients escape what people type: `<!channel>` typed is text, not a mention.
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        ts, outcome = await interactions.message_posted(
            slack, sender, user, channel, escaped, str(thread) if thread else None
        )
        if not outcome.ok:
            return _outcome(outcome)  # posted, but the bot refused the event: the page shows why
        return web.json_response({"ok": True, "ts": ts})

    @_refusals
    async def shortcut(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        outcome = await interactions.message_shortcut(
            slack, sender, user, str(body.get("channel")), str(body.get("ts")), str(body.get("callback_id"))
        )
        return _outcome(outcome)

    @_refusals
    async def react(request: web.Request) -> web.Response:
        body = await _json(request)
        user = _acting(sandbox, body)
        reaction = sandbox.config.slack_intake.reaction
        outcome = await interactions.react(
            slack, sender, user, str(body.get("channel")), str(body.get("ts")), reaction
        )
        return _outcome(outcome)

    @_refusals
    async def home(request: web.Request) -> web.Response:
        body = await _json(request)
        return _outcome(await interactions.home_opened(slack, sender, _acting(sandbox, body)))

    @_refusals
    async def intake(request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            payload = intake_payload(body)
        except ValueError as exc:
            return web.json_response({"ok": False, "detail": str(exc)}, status=400)
        answer = await customers.report_in(
            sandbox.customers, sender, request.app[RUNTIME], sandbox.config, payload
        )
        return web.json_response({"ok": answer.status in (200, 202), "status": answer.status, **answer.json})

    @_refusals
    async def jira_move(request: web.Request) -> web.Response:
        key = request.match_info["key"].upper()
        body = await _json(request)
        move = str(body.get("move") or "")
        if move not in JIRA_MOVES:
            raise InteractionRefused(f"a move is one of {', '.join(JIRA_MOVES)}")
        if key not in sandbox.jira.issues:
            raise InteractionRefused(f"no Jira issue {key}")
        sandbox.jira.move(key, move)
        answer = await sender.jira_webhook(sandbox.jira.webhook_payload("jira:issue_updated", key))
        return web.json_response({"ok": answer.status == 200, "status": answer.status, **answer.json})

    @_refusals
    async def answer_as_customer(request: web.Request) -> web.Response:
        """The person at the page plays the customer: an answer by e-mail, in Intercom or in Zendesk."""
        where, thread = request.match_info["where"], request.match_info["thread"]
        text = (await _json(request)).get("text")
        if where == "email":
            if not thread.isdigit():
                raise AnswerRefused("an e-mail is named by its number in the inbox")
            taken = await customers.answer_email(
                sandbox.customers, request.app[RUNTIME], sandbox.config, int(thread), str(text or "")
            )
            return web.json_response({"ok": True, "kind": taken.kind, "id": taken.issue_id})
        if where == "intercom":
            answer = await customers.answer_intercom(sandbox.customers, sender, thread, str(text or ""))
        elif where == "zendesk":
            answer = await customers.answer_zendesk(sandbox.customers, sender, thread, str(text or ""))
        else:
            raise AnswerRefused("a customer answers by email, intercom or zendesk")
        return web.json_response({"ok": answer.status == 200, "status": answer.status, **answer.json})

    async def load_demo(request: web.Request) -> web.Response:
        loaded = await demo.load(sandbox, request.app[RUNTIME])
        return web.json_response({"ok": True, **loaded})

    app.middlewares.append(guard(sandbox))
    app.router.add_get("/", index)
    app.router.add_static("/sandbox/static/", STATIC, append_version=False)
    app.router.add_get("/sandbox/api/state", state)
    app.router.add_get("/sandbox/api/files/{file_id}", shared_file)
    app.router.add_get("/sandbox/api/events", events)
    app.router.add_post("/sandbox/api/action", action)
    app.router.add_post("/sandbox/api/suggest", suggest)
    app.router.add_post("/sandbox/api/submit", submit)
    app.router.add_post("/sandbox/api/close", close)
    app.router.add_post("/sandbox/api/compose", compose)
    app.router.add_post("/sandbox/api/shortcut", shortcut)
    app.router.add_post("/sandbox/api/react", react)
    app.router.add_post("/sandbox/api/home", home)
    app.router.add_post("/sandbox/api/intake", intake)
    app.router.add_post("/sandbox/api/jira/{key}", jira_move)
    app.router.add_post("/sandbox/api/demo", load_demo)
    app.router.add_post("/sandbox/api/customers/{where}/{thread}/answer", answer_as_customer)


def intake_payload(form: dict[str, Any]) -> dict[str, Any]:
    """The intake form as the generic webhook's JSON (README → Interfaces)."""
    subject = str(form.get("subject") or "").strip()
    text = str(form.get("body") or "").strip()
    name = str(form.get("customer_name") or "").strip()
    email = str(form.get("customer_email") or "").strip()
    if not subject or not text:
        raise ValueError("a subject and what the customer said are needed")
    if not (name or email):
        raise ValueError("a customer name or e-mail is needed")
    customer: dict[str, Any] = {"id": email.lower() or name.lower().replace(" ", "-")}
    for key, value in (
        ("name", name),
        ("email", email),
        ("company", str(form.get("company") or "").strip()),
        ("plan", str(form.get("plan") or "").strip()),
    ):
        if value:
            customer[key] = value
    payload: dict[str, Any] = {
        "external_id": f"sandbox-{uuid.uuid4().hex[:12]}",
        "source": str(form.get("source") or "webform"),
        "subject": subject,
        "body": text,
        "customer": customer,
    }
    if form.get("product_area"):
        payload["product_area"] = str(form["product_area"]).strip()
    if form.get("severity"):
        payload["severity"] = str(form["severity"])
    tags = form.get("tags")
    if isinstance(tags, list) and tags:
        payload["tags"] = [str(t) for t in tags]
    return payload
