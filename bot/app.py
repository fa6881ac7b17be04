"""The app factory: one aiohttp application with Bolt at /slack/events, intake, health and readiness.

No global app: `create_web_app` builds everything from the settings and configuration it is given,
so each test gets its own.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.config import AppConfig
from bot.deliveries import register_deliveries
from bot.people import People
from bot.runtime import Runtime
from bot.services.jira_fields import JiraFieldChoices
from bot.services.outbox import Deliverer
from bot.services.problem_search import ProblemSearch, analyzer_for
from bot.settings import Settings, SettingsError
from db.migrate import upgrade
from db.session import Database
from handlers import csat as csat_pages
from handlers import (
    customers,
    escalation,
    health,
    home,
    intake_http,
    jira_webhook,
    links,
    macros,
    replies,
    shadowing,
    slack_intake,
    thread_replies,
    triage,
)
from handlers import digest as digest_commands
from handlers import metrics as metrics_route
from handlers import releases as release_commands
from handlers.common import RUNTIME, attach_runtime
from handlers.inbound import (
    BAD_REQUESTS,
    BadRequest,
    BadRequests,
    check_slack_body,
    read_body,
    refuse_bad_requests,
    utf8,
)
from integrations.jira_client import JiraGateway
from integrations.replies import build_reply_channels
from integrations.slack import SlackGateway, build_web_client
from integrations.slack_pacing import SlackPacer
from schedules import digest as digest_schedule
from schedules import digest_rollups as rollup_schedule
from schedules import first_response
from schedules import releases as release_schedule
from schedules import shadowing as shadowing_schedule
from schedules.scheduler import Scheduler

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
SLACK_FEATURES = (
    slack_intake,
    triage,
    customers,
    escalation,
    replies,
    macros,
    links,
    shadowing,
    release_commands,
    digest_commands,
    home,
    thread_replies,
)


def check_combination(settings: Settings, config: AppConfig) -> None:
    """Settings that are only required because of something in the configuration file."""
    if config.email is not None and settings.imap_password is None:
        raise SettingsError(
            "IMAP_PASSWORD is missing: it is required when the configuration has an email section"
        )


def build_runtime(settings: Settings, config: AppConfig, database: Database | None = None) -> Runtime:
    database = database or Database(settings.database_url)
    metrics.watch_database_errors(database.engine.sync_engine)
    deliverer = Deliverer(database, config.deliveries)
    search = ProblemSearch(database, analyzer_for(config.matching.synonyms, config.matching.language))
    jira = None
    if settings.jira_url and settings.jira_email and settings.jira_api_token is not None:
        jira = JiraGateway(settings.jira_url, settings.jira_email, settings.jira_api_token.get_secret_value())
    slack = None
    posts = None
    if settings.slack_bot_token is not None:
        client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        pacer = SlackPacer(
            rate=config.deliveries.posts_per_second_per_channel, burst=config.deliveries.post_burst
        )
        slack = SlackGateway(client, pacer)
    people = People(slack)
    reply_channels = build_reply_channels(settings, config)
    if slack is not None:
        posts = register_deliveries(
            deliverer,
            database,
            config,
            slack,
            people,
            jira=jira,
            search=search,
            replies=reply_channels,
            public_url=settings.public_url,
        )
    mail = None
    if config.email is not None and settings.imap_password is not None:
        from bot.mail_poller import MailPoller

        mail = MailPoller(database, config, settings.imap_password.get_secret_value(), wake=deliverer.wake)
    scheduler = Scheduler(database, config.zone)
    first_response.register(scheduler, database, config, deliverer.wake)
    release_schedule.register(scheduler, database, config, deliverer.wake, jira)
    shadowing_schedule.register(scheduler, database, config, people, deliverer.wake)
    digest_schedule.register(scheduler, database, config, deliverer.wake)
    rollup_schedule.register(scheduler, database, deliverer.wake)
    return Runtime(
        settings=settings,
        config=config,
        database=database,
        deliverer=deliverer,
        search=search,
        people=people,
        slack=slack,
        posts=posts,
        jira=jira,
        jira_fields=JiraFieldChoices(jira) if jira is not None else None,
        mail=mail,
        scheduler=scheduler,
        replies=reply_channels,
    )


# What slack_bolt's AsyncApp takes from the process environment when it is not given it, with no
# argument to turn that off: with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set it builds an OAuth flow
# (a file installation store, multi-workspace authorization) and ignores the bot token with a warning,
# so every request would fail authorization; SLACK_BOT_TOKEN, read even when a client is given, gets a
# "token will be unused" warning; SLACK_VERIFICATION_TOKEN becomes its ssl_check token. The bot is one
# workspace's app configured by Settings alone, so these are hidden from the constructor.
BOLT_ENVIRONMENT = (
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_VERIFICATION_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
)


@contextlib.contextmanager
def _hidden_from_bolt() -> Iterator[None]:
    # The constructor is synchronous and runs once at start-up: no other coroutine sees the gap.
    hidden = {name: os.environ.pop(name) for name in BOLT_ENVIRONMENT if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(hidden)


def new_bolt(client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """A single-workspace Bolt app: the bot token (carried by `client`) and the signing secret are
    passed in, no OAuth flow and no installation store, whatever the environment holds."""
    with _hidden_from_bolt():
        return AsyncApp(
            name="supportbridge",
            client=client,
            signing_secret=signing_secret,
            oauth_settings=None,
            oauth_flow=None,
            installation_store=None,
            authorize=None,
        )


def build_bolt_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    assert settings.slack_bot_token is not None
    assert runtime.slack is not None
    # Over Socket Mode nothing is signed (the WebSocket itself is authenticated by the app token) and
    # Bolt skips its signature check for socket-mode requests; it still wants a string.
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    assert secret or settings.socket_mode
    bolt = new_bolt(runtime.slack.client, secret)
    bolt.use(with_runtime(runtime))
    for feature in SLACK_FEATURES:
        feature.register(bolt)

    @bolt.error
    async def on_error(error: Exception, body: dict[str, object]) -> None:
        log.error(
            "unhandled error in a Slack listener",
            exc_info=error,
            extra={"payload_type": body.get("type"), "callback": _callback_of(body)},
        )

    return bolt


def with_runtime(runtime: Runtime) -> Callable[..., Awaitable[None]]:
    """Bolt's global middleware: every listener finds this app's runtime in its context (`runtime_of`)."""

    async def middleware(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        attach_runtime(context, runtime)
        await next()

    return middleware


def _callback_of(body: dict[str, object]) -> str | None:
    for key in ("callback_id", "command"):
        if isinstance(body.get(key), str):
            return str(body[key])
    view = body.get("view")
    if isinstance(view, dict):
        return view.get("callback_id")
    return None


def slack_route(
    bolt: AsyncApp | None, signing_secret: str | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`POST /slack/events`. The signature is checked on the raw bytes before anything reads them
    (Bolt would parse first, and answer 500 to a body it cannot read); then the body must be UTF-8 in
    one of Slack's shapes, nested within bounds (handlers.inbound); only then does Bolt see it."""
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def slack_events(request: web.Request) -> web.Response:
        if bolt is None or verifier is None:
            return web.json_response(
                {"error": "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"}, status=503
            )
        body = await read_body(request)
        try:
            signed = verifier.is_valid_request(body, dict(request.headers))
        except (ValueError, TypeError):  # a timestamp header that is no number
            signed = False
        if not signed:
            raise BadRequest(401, "missing or bad Slack signature")
        text = utf8(body)
        check_slack_body(text, request.content_type)
        request[metrics.SLACK_KIND_KEY] = metrics.slack_kind(text, request.content_type)
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        bolt_response = await bolt.async_dispatch(bolt_request)
        if bolt_response.status == 404:
            # Bolt answers 404 to anything no listener took; Slack would then retry an event three
            # times and show an error on a click. Acknowledge and move on.
            log.debug("unhandled Slack request acknowledged")
            return web.Response(status=200)
        return await to_aiohttp_response(bolt_response)

    return slack_events


async def socket_mode_refusal(_request: web.Request) -> web.Response:
    return web.json_response(
        {
            "error": "this server receives Slack over Socket Mode (SLACK_APP_TOKEN is set), "
            "not at /slack/events"
        },
        status=404,
    )


def create_web_app(
    settings: Settings,
    config: AppConfig,
    *,
    database: Database | None = None,
    run_deliveries: bool = True,
) -> web.Application:
    settings.check_startup()
    check_combination(settings, config)
    runtime = build_runtime(settings, config, database)
    bolt = build_bolt_app(runtime) if runtime.slack is not None else None

    app = web.Application(
        client_max_size=MAX_REQUEST_BYTES, middlewares=[metrics.measure_requests, refuse_bad_requests]
    )
    app[RUNTIME] = runtime
    app[BAD_REQUESTS] = BadRequests()
    socket = None
    if settings.socket_mode and bolt is not None and settings.slack_app_token is not None:
        from bot.socket_mode import SocketModeConnection

        assert runtime.slack is not None
        socket = SocketModeConnection(
            bolt,
            settings.slack_app_token.get_secret_value(),
            runtime.slack.client,
            ping_interval=settings.socket_mode_ping_interval,
        )
        # Slack reaches the bot over the WebSocket only: nothing unsigned may come in over HTTP.
        app.router.add_post("/slack/events", socket_mode_refusal)
    else:
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        app.router.add_post("/slack/events", slack_route(bolt, secret))
    intake_http.register(app, settings)
    jira_webhook.register(app)
    csat_pages.register(app)
    health.register(app)
    metrics_route.register(app)

    async def lifecycle(app: web.Application) -> object:
        if settings.is_sqlite:
            # One process on SQLite: keep the schema current on start. PostgreSQL deployments migrate
            # once in the release phase (`supportbridge migrate`), not in every web process.
            await upgrade(runtime.database)
        if runtime.slack is not None:
            await runtime.slack.open()
        if socket is not None:
            try:
                await socket.start()
            except Exception:
                await socket.stop()
                if runtime.slack is not None:
                    await runtime.slack.close()
                await runtime.database.dispose()
                raise
        # Everything built so far lives for the whole process: move it out of the collector's way, so
        # full collections stay short and do not show up as latency spikes on acks.
        # The language detector and the embedding model load once per process (about a second), before
        # the first request: a report's intake must never wait for them.
        await runtime.search.load_models()
        gc.freeze()
        if run_deliveries:
            if runtime.slack is None:
                log.warning("SLACK_BOT_TOKEN is not set: cards are kept in the outbox until it is")
            runtime.start_background()
        yield
        if socket is not None:
            await socket.stop()
        await runtime.stop_background()
        if runtime.slack is not None:
            await runtime.slack.close()
        await runtime.database.dispose()

    app.cleanup_ctx.append(lifecycle)  # type: ignore[arg-type]
    return app
